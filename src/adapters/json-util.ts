// Safe readers for provider JSON. Wire bodies are untrusted `unknown`: every read narrows, nothing
// throws, and a field of the wrong type reads as absent (null) rather than as a guess.

export type JsonRecord = Record<string, unknown>;

export function isRecord(v: unknown): v is JsonRecord {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** JSON.parse that never throws: undefined for anything that is not valid JSON. */
export function tryParseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function field(obj: unknown, key: string): unknown {
  return isRecord(obj) ? obj[key] : undefined;
}

/** Walks nested objects; undefined as soon as a step is missing or not an object. */
export function path(obj: unknown, ...keys: string[]): unknown {
  let cur = obj;
  for (const k of keys) {
    if (!isRecord(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

export function recordAt(obj: unknown, ...keys: string[]): JsonRecord | null {
  const v = path(obj, ...keys);
  return isRecord(v) ? v : null;
}

/**
 * A token count: a non-negative safe integer. Anything else (null, strings, floats, negatives) is
 * treated as absent, because pricing a made-up number is worse than reporting none.
 */
export function tokenCount(v: unknown): number | null {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
}

export function countAt(obj: unknown, ...keys: string[]): number | null {
  return tokenCount(path(obj, ...keys));
}

/** A non-empty string, else null (Azure sends `model: ""` and `id: ""` in its first chunk). */
export function nonEmptyString(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

export function stringAt(obj: unknown, ...keys: string[]): string | null {
  return nonEmptyString(path(obj, ...keys));
}

/** Error codes come as strings or, from some gateways (OpenRouter), as HTTP-status numbers. */
export function codeString(v: unknown): string | null {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return nonEmptyString(v);
}

/**
 * The error type of a provider error envelope: Anthropic `{type:"error", error:{type}}`, OpenAI
 * `{error:{type, code}}` (type first: it is the stable class, code the detail), Google
 * `{error:{status}}`, gateways that only send `{error:{code: 429}}`; and the Responses stream's
 * older top-level `{type:"error", code}`.
 */
export function errorClassOf(body: unknown): string | null {
  const err = field(body, 'error');
  if (isRecord(err)) {
    return nonEmptyString(err.type) ?? nonEmptyString(err.status) ?? codeString(err.code);
  }
  if (field(body, 'type') === 'error') return codeString(field(body, 'code'));
  return null;
}
