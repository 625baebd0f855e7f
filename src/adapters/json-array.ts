// Reads a body that is one top-level JSON array streamed element by element (Gemini
// streamGenerateContent without alt=sse). A stream cut short leaves an array that never closes, so
// JSON.parse of the whole text fails; this keeps every element that did arrive complete, which is
// where the last cumulative usage of a cut stream lives.
//
// Runs once per exchange after the last byte (cold path), over at most the observer's capture cap.

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;

export interface JsonArrayRead {
  /** The complete elements, parsed, in order. */
  elements: unknown[];
  /** The array's closing `]` arrived: nothing after the last element was lost. */
  closed: boolean;
  /** Elements that were delimited but did not parse (kept out of `elements`). */
  invalid: number;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 0xfeff;
}

/** null when the text is not a JSON array (it does not start with `[`). */
export function readJsonArray(text: string): JsonArrayRead | null {
  let i = 0;
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) !== OPEN_BRACKET) return null;
  const elements: unknown[] = [];
  let invalid = 0;
  const take = (slice: string): void => {
    try {
      elements.push(JSON.parse(slice) as unknown);
    } catch {
      invalid++;
    }
  };
  let depth = 0;
  let inString = false;
  let escaped = false;
  let start = -1;
  for (i++; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (escaped) escaped = false;
      else if (c === BACKSLASH) escaped = true;
      else if (c === QUOTE) inString = false;
      continue;
    }
    if (c === QUOTE) {
      inString = true;
      if (start === -1) start = i;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (start === -1) start = i;
      depth++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (depth === 0) {
        // The array's own `]`; a scalar element may end right before it.
        if (start !== -1) take(text.slice(start, i));
        return { elements, closed: c === CLOSE_BRACKET, invalid };
      }
      depth--;
      // An object or array element is complete the moment its bracket closes: a cut stream may
      // never send the comma after it.
      if (depth === 0) {
        take(text.slice(start, i + 1));
        start = -1;
      }
    } else if (depth === 0) {
      if (c === COMMA) {
        if (start !== -1) take(text.slice(start, i));
        start = -1;
      } else if (start === -1 && !isSpace(c)) {
        start = i;
      }
    }
  }
  // Ran out of text inside the array: a trailing scalar may be cut (`12` of `123`), so it is dropped.
  return { elements, closed: false, invalid };
}
