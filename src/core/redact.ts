// Secret redaction for captured bodies (SPEC §5: bodies reach disk only after redaction). Pure: text
// in, text and a count out. Every match becomes a typed placeholder, `[REDACTED:<kind>]`, so a
// stored body still shows *that* something was there and what kind of thing it was.
//
// JSON bodies are redacted on their decoded strings (redactJson): JSON.parse turns escapes such as
// `\u002d` or `\/` back into the characters they stand for, so a key written as
// `sk\u002dant\u002d...` is seen as `sk-ant-...`; the redacted value is then re-encoded. Object keys
// named like credentials (`api_key`, `password`, `secret`, `token`, ...) have their whole string
// value replaced, whatever it looks like.

export interface RedactOptions {
  /** Also replace e-mail addresses (off by default: they are often the content, not a secret). */
  emails?: boolean;
}

export interface Redacted<T = string> {
  value: T;
  /** How many values were replaced. */
  count: number;
}

interface Pattern {
  kind: string;
  re: RegExp;
}

// Token characters: base64url-ish. Boundaries keep a key from matching inside a longer word.
const B = '(?<![A-Za-z0-9_-])';
const E = '(?![A-Za-z0-9_-])';

// Order matters: specific prefixes before the generic ones (sk-ant- before sk-).
const PATTERNS: readonly Pattern[] = [
  { kind: 'private-key', re: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|$)/g },
  { kind: 'jwt', re: new RegExp(`${B}eyJ[A-Za-z0-9_-]{5,}\\.eyJ[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]*${E}`, 'g') },
  { kind: 'anthropic-key', re: new RegExp(`${B}sk-ant-[A-Za-z0-9_-]{8,}${E}`, 'g') },
  { kind: 'openai-key', re: new RegExp(`${B}sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}${E}`, 'g') },
  { kind: 'google-key', re: new RegExp(`${B}AIza[A-Za-z0-9_-]{30,}${E}`, 'g') },
  { kind: 'google-oauth-token', re: new RegExp(`${B}ya29\\.[A-Za-z0-9_-]{20,}${E}`, 'g') },
  { kind: 'xai-key', re: new RegExp(`${B}xai-[A-Za-z0-9_-]{16,}${E}`, 'g') },
  { kind: 'groq-key', re: new RegExp(`${B}gsk_[A-Za-z0-9]{16,}${E}`, 'g') },
  { kind: 'aws-access-key', re: /(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])/g },
  { kind: 'aws-secret-key', re: /(aws_secret_access_key|aws_secret_key|secretaccesskey)(["']?\s*[:=]\s*["']?)[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])/gi },
  { kind: 'github-token', re: new RegExp(`${B}(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})${E}`, 'g') },
  { kind: 'slack-token', re: new RegExp(`${B}xox[abposr]-[A-Za-z0-9-]{8,}${E}`, 'g') },
  { kind: 'stripe-key', re: new RegExp(`${B}(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}${E}`, 'g') },
  { kind: 'huggingface-token', re: new RegExp(`${B}hf_[A-Za-z0-9]{20,}${E}`, 'g') },
  { kind: 'bearer-token', re: /(\bBearer\s+)(?!\[REDACTED:)[A-Za-z0-9._~+/=-]{8,}/gi },
  { kind: 'basic-auth', re: /(\bBasic\s+)(?!\[REDACTED:)[A-Za-z0-9+/]{12,}={0,2}/g },
  // Bounded runs and a start only where a run begins: no pattern may go quadratic on long input.
  { kind: 'url-credentials', re: /((?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,31}:\/\/[^\s:/@"']{1,256}:)[^\s@/"']{1,256}(?=@)/gi },
  // `api_key: "..."`, `"password": "..."`, `token=...` in free text (JSON objects are handled by key).
  {
    kind: 'credential-field',
    re: /((?:["']?)(?:api[_-]?key|apikey|x-api-key|access[_-]?token|refresh[_-]?token|auth[_-]?token|client[_-]?secret|secret[_-]?key|password|passwd|secret)(?:["']?)\s*[:=]\s*)(?:"(?!\[REDACTED:)[^"\s]{4,}"|'(?!\[REDACTED:)[^'\s]{4,}'|(?!\[REDACTED:)(?!["'])[^\s,;&"'}]{4,})/gi,
  },
];

const EMAIL: Pattern = { kind: 'email', re: /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9.-])/g };

// Keys groups 1 (and 2) are kept: the prefix that says what follows (`Bearer `, `password: `).
const KEEPS_PREFIX = new Set(['bearer-token', 'basic-auth', 'url-credentials', 'credential-field', 'aws-secret-key']);

export function placeholder(kind: string): string {
  return `[REDACTED:${kind}]`;
}

/** Redacts secrets in free text. */
export function redactText(text: string, opts: RedactOptions = {}): Redacted {
  // Escapes left in text that was not decoded as JSON (a truncated body, a JSON string inside a
  // string): `\u002d`, `\/` would otherwise break a key's pattern apart. Decoding them is harmless.
  let out = /\\(?:u00[0-7][0-9a-fA-F]|\/)/.test(text) ? text.replace(/\\u00([0-7][0-9a-fA-F])|\\\//g, (m: string, hex?: string) => (hex ? String.fromCharCode(parseInt(hex, 16)) : '/')) : text;
  let count = 0;
  const patterns = opts.emails ? [...PATTERNS, EMAIL] : PATTERNS;
  for (const { kind, re } of patterns) {
    re.lastIndex = 0;
    out = out.replace(re, (...m: unknown[]) => {
      count++;
      if (!KEEPS_PREFIX.has(kind)) return placeholder(kind);
      const prefix = String(m[1] ?? '') + (kind === 'aws-secret-key' ? String(m[2] ?? '') : '');
      return prefix + placeholder(kind);
    });
  }
  return { value: out, count };
}

// Object keys whose string value is a credential whatever it looks like.
const SECRET_KEY = /^(?:api[_-]?key|apikey|x[_-]api[_-]key|authorization|proxy[_-]authorization|cookie|set[_-]cookie|access[_-]?token|refresh[_-]?token|id[_-]?token|auth[_-]?token|oauth[_-]?token|client[_-]?secret|secret|secret[_-]?key|private[_-]?key|password|passwd|aws[_-]secret[_-]access[_-]key|session[_-]?token)$/i;

/** True for an object key whose value is always replaced. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** Redacts a decoded JSON value: every string (object keys too), and whole values of credential keys. */
export function redactValue(value: unknown, opts: RedactOptions = {}): Redacted<unknown> {
  let count = 0;
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') {
      // A JSON document carried as a string (tool arguments, nested payloads): decode it too.
      const r = depth < 8 && /^\s*[[{]/.test(v) ? redactBody(v, opts) : redactText(v, opts);
      count += r.count;
      return r.value;
    }
    if (depth > 200 || v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const key = walk(k, depth + 1) as string;
      const secretScalar = (typeof x === 'string' && x.length > 0 && !/^\[REDACTED:[a-z-]+\]$/.test(x)) || typeof x === 'number';
      if (isSecretKey(k) && secretScalar) {
        count++;
        out[key] = placeholder('credential-field');
      } else {
        out[key] = walk(x, depth + 1);
      }
    }
    return out;
  };
  return { value: walk(value, 0), count };
}

/**
 * Redacts a body: JSON text is decoded, redacted value by value and re-encoded (escapes cannot hide
 * a key); anything else is redacted as text.
 */
export function redactBody(text: string, opts: RedactOptions = {}): Redacted {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[') || trimmed.startsWith('"')) {
    let parsed: unknown;
    let ok = false;
    try {
      parsed = JSON.parse(text);
      ok = true;
    } catch {
      ok = false;
    }
    if (ok) {
      const r = redactValue(parsed, opts);
      return { value: JSON.stringify(r.value), count: r.count };
    }
  }
  return redactText(text, opts);
}
