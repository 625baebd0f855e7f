// A self-contained TOML parser for config.toml. It is ours, not an npm package, because the edge
// process must run with no npm dependency at all (STYLE §1) and still needs its ports and
// [upstream] settings from config.toml.
//
// Accepts TOML 1.0 plus the TOML 1.1 relaxations (newlines, comments and a trailing comma inside
// inline tables; \e and \xHH escapes; times without seconds). 1.1 is a superset, so every 1.0
// document reads the same; we accept it because current editors and the test oracle (smol-toml)
// speak 1.1, and a multi-line `resolve = { ... }` is easier to write.
//
// Deliberate choices:
// - Dates and times are returned as strings in RFC 3339 form ("1979-05-27T07:32:00Z",
//   "1979-05-27", "07:32:00"): 'T' and 'Z' upper-cased, missing seconds filled in as ":00".
//   Invalid calendar dates (2021-02-30) and leap second 60 are rejected.
// - Integers outside JavaScript's safe range are an error (the spec requires an error rather
//   than a silent loss of precision).
// - Newlines inside multi-line strings are kept as written (LF or CRLF), as the spec allows.
// - Tables are null-prototype objects, so a key like "__proto__" is an ordinary key.
// - The only exception it throws is TomlError, whose message starts with "line:column".

export type TomlValue = string | number | boolean | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue;
}

export class TomlError extends Error {
  readonly line: number;
  readonly column: number;
  /** The message without the position. */
  readonly reason: string;

  constructor(reason: string, line: number, column: number) {
    super(`${line}:${column}: ${reason}`);
    this.name = 'TomlError';
    this.reason = reason;
    this.line = line;
    this.column = column;
  }
}

/** Parses a TOML document. Throws TomlError (and nothing else) on any invalid input. */
export function parseToml(source: string): TomlTable {
  return new Parser(source).document();
}

// How a table came to exist decides what may still be added to it (TOML "defining a table").
type TableKind =
  | 'implicit' // created as a parent by a [a.b] or [[a.b]] header: a later [a] may still define it
  | 'header' // defined by its own [header] or [[header]] element: closed to a second header
  | 'dotted'; // created by a dotted key (a.b = 1): open to more dotted keys from the same table
// Tables absent from the kind map (inline tables and everything inside them) are closed.

// Nesting limit, so a hostile `a = [[[[...` fails as a TomlError and not as a stack overflow.
const MAX_DEPTH = 500;

const BARE_KEY = /[A-Za-z0-9_-]/;
const VALUE_CHAR = /[A-Za-z0-9_+\-.:]/;
const DEC_INT = /^[+-]?(?:0|[1-9](?:_?[0-9])*)$/;
const HEX_INT = /^0x[0-9A-Fa-f](?:_?[0-9A-Fa-f])*$/;
const OCT_INT = /^0o[0-7](?:_?[0-7])*$/;
const BIN_INT = /^0b[01](?:_?[01])*$/;
const FLOAT = /^[+-]?(?:0|[1-9](?:_?[0-9])*)(?:\.[0-9](?:_?[0-9])*)?(?:[eE][+-]?[0-9](?:_?[0-9])*)?$/;
const SPECIAL_FLOAT = /^[+-]?(?:inf|nan)$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME = /^(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})?$/;

const ESCAPES: Readonly<Record<string, string>> = {
  b: '\b',
  t: '\t',
  n: '\n',
  f: '\f',
  r: '\r',
  e: '\x1b',
  '"': '"',
  '\\': '\\',
};

class Parser {
  private p = 0;
  private depth = 0;
  private readonly root: TomlTable = Object.create(null) as TomlTable;
  private current: TomlTable;
  private readonly kinds = new WeakMap<TomlTable, TableKind>();
  /** Arrays made by [[header]]; literal arrays are closed to [[header]]. */
  private readonly tableArrays = new WeakSet<TomlValue[]>();

  constructor(private readonly s: string) {
    this.current = this.root;
    this.kinds.set(this.root, 'header');
  }

  document(): TomlTable {
    if (this.s.charCodeAt(0) === 0xfeff) this.p = 1; // byte order mark
    for (;;) {
      this.skipBlank();
      if (this.eof()) return this.root;
      if (this.s[this.p] === '[') this.header();
      else this.keyValue();
      this.endOfLine();
    }
  }

  // ---- structure -------------------------------------------------------------------------------

  private header(): void {
    const start = this.p;
    const isArray = this.s[this.p + 1] === '[';
    this.p += isArray ? 2 : 1;
    const keys = this.key();
    const close = isArray ? ']]' : ']';
    if (!this.s.startsWith(close, this.p)) this.fail(`expected "${close}" to close the table header`);
    this.p += close.length;

    let t = this.root;
    for (let i = 0; i < keys.length - 1; i++) t = this.descendForHeader(t, keys, i, start);
    const last = keys[keys.length - 1];
    const existing = t[last];
    const name = keys.join('.');
    if (isArray) {
      const element = this.newTable('header');
      if (existing === undefined) {
        const arr: TomlValue[] = [element];
        this.tableArrays.add(arr);
        t[last] = arr;
      } else if (Array.isArray(existing) && this.tableArrays.has(existing)) {
        existing.push(element);
      } else {
        this.fail(`cannot define [[${name}]]: "${name}" is already defined as ${this.describe(existing)}`, start);
      }
      this.current = element;
      return;
    }
    if (existing === undefined) {
      t[last] = this.newTable('header');
    } else if (isTable(existing) && this.kinds.get(existing) === 'implicit') {
      this.kinds.set(existing, 'header');
    } else if (isTable(existing) && this.kinds.get(existing) === 'header') {
      this.fail(`duplicate table [${name}]`, start);
    } else {
      this.fail(`cannot define [${name}]: "${name}" is already defined as ${this.describe(existing)}`, start);
    }
    this.current = t[last] as TomlTable;
  }

  // A header may pass through implicit, header-defined and dotted-key tables, and into the last
  // element of an array of tables; never into a value or an inline table.
  private descendForHeader(t: TomlTable, keys: string[], i: number, at: number): TomlTable {
    const k = keys[i];
    const next = t[k];
    if (next === undefined) {
      const created = this.newTable('implicit');
      t[k] = created;
      return created;
    }
    if (isTable(next) && this.kinds.has(next)) return next;
    if (Array.isArray(next) && this.tableArrays.has(next)) return next[next.length - 1] as TomlTable;
    const path = keys.slice(0, i + 1).join('.');
    return this.fail(`cannot define a table under "${path}": it is already defined as ${this.describe(next)}`, at);
  }

  private keyValue(): void {
    const start = this.p;
    const keys = this.key();
    if (this.s[this.p] !== '=') this.fail(`expected "=" after key, found ${this.found()}`);
    this.p++;
    this.skipWs();
    const target = this.dottedTarget(this.current, keys, start, null);
    const value = this.value();
    target[keys[keys.length - 1]] = value;
  }

  /**
   * The table a dotted key's last part goes into, creating the tables between. `open` is the set
   * of tables an inline table is still building (null at document level, where kinds decide).
   */
  private dottedTarget(t: TomlTable, keys: string[], at: number, open: Set<TomlTable> | null): TomlTable {
    for (let i = 0; i < keys.length - 1; i++) {
      const next = t[keys[i]];
      if (next === undefined) {
        const created = this.newTable(open ? null : 'dotted');
        open?.add(created);
        t[keys[i]] = created;
        t = created;
      } else if (isTable(next) && (open ? open.has(next) : this.kinds.get(next) === 'dotted')) {
        t = next;
      } else {
        const path = keys.slice(0, i + 1).join('.');
        this.fail(`cannot add keys to "${path}": it is already defined as ${this.describe(next)}`, at);
      }
    }
    const last = keys[keys.length - 1];
    if (t[last] !== undefined) this.fail(`duplicate key "${keys.join('.')}"`, at);
    return t;
  }

  private describe(v: TomlValue | undefined): string {
    if (Array.isArray(v)) return this.tableArrays.has(v) ? 'an array of tables' : 'an array';
    if (!isTable(v)) return 'a value';
    const kind = this.kinds.get(v);
    if (kind === 'dotted') return 'a table made by dotted keys';
    return kind ? 'a table created by a [header]' : 'an inline table';
  }

  private newTable(kind: TableKind | null): TomlTable {
    const t = Object.create(null) as TomlTable;
    if (kind) this.kinds.set(t, kind);
    return t;
  }

  // ---- keys ------------------------------------------------------------------------------------

  /** A dotted key; leaves the position after trailing whitespace. */
  private key(): string[] {
    const parts: string[] = [];
    for (;;) {
      this.skipWs();
      parts.push(this.simpleKey());
      this.skipWs();
      if (this.s[this.p] !== '.') return parts;
      this.p++;
    }
  }

  private simpleKey(): string {
    const c = this.s[this.p];
    if (c === '"' || c === "'") {
      if (this.s.startsWith(c.repeat(3), this.p)) this.fail('a key cannot be a multi-line string');
      return c === '"' ? this.basicString() : this.literalString();
    }
    const start = this.p;
    while (!this.eof() && BARE_KEY.test(this.s[this.p])) this.p++;
    if (this.p === start) this.fail(`expected a key, found ${this.found()}`);
    return this.s.slice(start, this.p);
  }

  // ---- values ----------------------------------------------------------------------------------

  private value(): TomlValue {
    const c = this.s[this.p];
    if (c === '"') return this.s.startsWith('"""', this.p) ? this.multilineBasicString() : this.basicString();
    if (c === "'") return this.s.startsWith("'''", this.p) ? this.multilineLiteralString() : this.literalString();
    if (c === '[') return this.nested(() => this.array());
    if (c === '{') return this.nested(() => this.inlineTable());
    return this.scalar();
  }

  private nested<T>(parse: () => T): T {
    if (++this.depth > MAX_DEPTH) this.fail(`arrays and inline tables are nested more than ${MAX_DEPTH} deep`);
    const v = parse();
    this.depth--;
    return v;
  }

  private array(): TomlValue[] {
    const start = this.p++;
    const out: TomlValue[] = [];
    for (;;) {
      this.skipBlank();
      if (this.eof()) this.fail('unterminated array', start);
      if (this.s[this.p] === ']') break;
      out.push(this.value());
      this.skipBlank();
      if (this.s[this.p] === ',') {
        this.p++;
      } else if (this.s[this.p] !== ']') {
        if (this.eof()) this.fail('unterminated array', start);
        this.fail(`expected "," or "]" in array, found ${this.found()}`);
      }
    }
    this.p++;
    return out;
  }

  private inlineTable(): TomlTable {
    const start = this.p++;
    const table = this.newTable(null);
    const open = new Set<TomlTable>([table]);
    for (;;) {
      this.skipBlank();
      if (this.eof()) this.fail('unterminated inline table', start);
      if (this.s[this.p] === '}') break;
      const keyAt = this.p;
      const keys = this.key();
      if (this.s[this.p] !== '=') this.fail(`expected "=" after key, found ${this.found()}`);
      this.p++;
      this.skipWs();
      const target = this.dottedTarget(table, keys, keyAt, open);
      target[keys[keys.length - 1]] = this.value();
      this.skipBlank();
      if (this.s[this.p] === ',') {
        this.p++;
      } else if (this.s[this.p] !== '}') {
        if (this.eof()) this.fail('unterminated inline table', start);
        this.fail(`expected "," or "}" in inline table, found ${this.found()}`);
      }
    }
    this.p++;
    return table;
  }

  private scalar(): TomlValue {
    const start = this.p;
    while (!this.eof() && VALUE_CHAR.test(this.s[this.p])) this.p++;
    let token = this.s.slice(start, this.p);
    // A date-time may use a space instead of 'T': "1979-05-27 07:32:00".
    if (DATE.test(token) && this.s[this.p] === ' ' && /[0-9]/.test(this.s[this.p + 1] ?? '')) {
      this.p++;
      while (!this.eof() && VALUE_CHAR.test(this.s[this.p])) this.p++;
      token = this.s.slice(start, this.p);
    }
    if (token === '') this.fail(`expected a value, found ${this.found()}`);
    if (token === 'true') return true;
    if (token === 'false') return false;
    if (SPECIAL_FLOAT.test(token)) return token.endsWith('nan') ? NaN : token.startsWith('-') ? -Infinity : Infinity;
    if (DEC_INT.test(token)) return this.integer(token.replaceAll('_', ''), start);
    if (HEX_INT.test(token) || OCT_INT.test(token) || BIN_INT.test(token)) {
      return this.integer(token.replaceAll('_', ''), start);
    }
    if (FLOAT.test(token)) return Number.parseFloat(token.replaceAll('_', ''));
    const date = dateValue(token);
    if (typeof date === 'string') return date;
    return this.fail(date ? `invalid date or time "${token}": ${date.problem}` : `invalid value "${token}"`, start);
  }

  private integer(digits: string, at: number): number {
    // BigInt parses decimal and 0x/0o/0b exactly, so the range check cannot be fooled by rounding.
    const big = BigInt(digits.startsWith('+') ? digits.slice(1) : digits);
    if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) {
      this.fail(`integer ${digits} is too large to be represented exactly`, at);
    }
    return Number(big); // Number(-0n) is 0: integers have no negative zero
  }

  // ---- strings ---------------------------------------------------------------------------------

  private basicString(): string {
    const start = this.p++;
    let out = '';
    for (;;) {
      if (this.eof() || this.isNewline()) this.fail('unterminated string', start);
      const c = this.s[this.p];
      if (c === '"') break;
      if (c === '\\') {
        out += this.escape();
        continue;
      }
      this.checkStringChar();
      out += c;
      this.p++;
    }
    this.p++;
    return out;
  }

  private literalString(): string {
    const start = this.p++;
    const from = this.p;
    for (;;) {
      if (this.eof() || this.isNewline()) this.fail('unterminated string', start);
      if (this.s[this.p] === "'") break;
      this.checkStringChar();
      this.p++;
    }
    return this.s.slice(from, this.p++);
  }

  private multilineBasicString(): string {
    const start = this.p;
    this.p += 3;
    this.skipOneNewline();
    let out = '';
    for (;;) {
      if (this.eof()) this.fail('unterminated multi-line string', start);
      const c = this.s[this.p];
      if (c === '"' && this.closesMultiline('"')) return out + this.takeClosingQuotes('"');
      if (c === '\\') {
        if (this.lineEndingBackslash()) continue;
        out += this.escape();
        continue;
      }
      if (this.isNewline()) {
        out += this.newline();
        continue;
      }
      this.checkStringChar();
      out += c;
      this.p++;
    }
  }

  private multilineLiteralString(): string {
    const start = this.p;
    this.p += 3;
    this.skipOneNewline();
    let out = '';
    for (;;) {
      if (this.eof()) this.fail('unterminated multi-line string', start);
      const c = this.s[this.p];
      if (c === "'" && this.closesMultiline("'")) return out + this.takeClosingQuotes("'");
      if (this.isNewline()) {
        out += this.newline();
        continue;
      }
      this.checkStringChar();
      out += c;
      this.p++;
    }
  }

  private closesMultiline(q: string): boolean {
    return this.s.startsWith(q.repeat(3), this.p);
  }

  // Up to two quotes right before the closing delimiter belong to the string: """a""""" is 'a""'.
  private takeClosingQuotes(q: string): string {
    let n = 0;
    while (this.s[this.p + n] === q && n < 5) n++;
    this.p += n;
    return q.repeat(n - 3);
  }

  /** A backslash at the end of a line swallows the newline and the whitespace after it. */
  private lineEndingBackslash(): boolean {
    let i = this.p + 1;
    while (this.s[i] === ' ' || this.s[i] === '\t') i++;
    if (this.s[i] !== '\n' && !(this.s[i] === '\r' && this.s[i + 1] === '\n')) return false;
    this.p = i;
    while (!this.eof()) {
      const c = this.s[this.p];
      if (c === ' ' || c === '\t') this.p++;
      else if (this.isNewline()) this.skipOneNewline();
      else break;
    }
    return true;
  }

  private escape(): string {
    const at = this.p;
    const c = this.s[this.p + 1];
    if (c !== undefined && Object.hasOwn(ESCAPES, c)) {
      this.p += 2;
      return ESCAPES[c];
    }
    const len = c === 'x' ? 2 : c === 'u' ? 4 : c === 'U' ? 8 : 0;
    if (len === 0) {
      this.fail(`invalid escape "\\${c === undefined ? '' : printable(c)}"`, at);
    }
    const hex = this.s.slice(this.p + 2, this.p + 2 + len);
    if (!new RegExp(`^[0-9A-Fa-f]{${len}}$`).test(hex)) {
      this.fail(`"\\${c}" needs ${len} hexadecimal digits`, at);
    }
    const code = Number.parseInt(hex, 16);
    if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
      this.fail(`"\\${c}${hex}" is not a Unicode scalar value`, at);
    }
    this.p += 2 + len;
    return String.fromCodePoint(code);
  }

  private checkStringChar(): void {
    if (isControl(this.s.charCodeAt(this.p))) {
      this.fail(`control character ${codeName(this.s.charCodeAt(this.p))} must be escaped in a string`);
    }
  }

  // ---- whitespace, comments, line ends ---------------------------------------------------------

  private skipWs(): void {
    while (this.s[this.p] === ' ' || this.s[this.p] === '\t') this.p++;
  }

  /** Whitespace, comments and newlines: between lines, array elements and inline-table entries. */
  private skipBlank(): void {
    for (;;) {
      this.skipWs();
      if (this.s[this.p] === '#') this.comment();
      else if (this.isNewline()) this.skipOneNewline();
      else return;
    }
  }

  private comment(): void {
    while (!this.eof() && !this.isNewline()) {
      const code = this.s.charCodeAt(this.p);
      if (isControl(code)) this.fail(`control character ${codeName(code)} is not allowed in a comment`);
      this.p++;
    }
  }

  private endOfLine(): void {
    this.skipWs();
    if (this.s[this.p] === '#') this.comment();
    if (this.eof()) return;
    if (!this.isNewline()) this.fail(`expected the end of the line, found ${this.found()}`);
    this.skipOneNewline();
  }

  private isNewline(): boolean {
    const c = this.s[this.p];
    return c === '\n' || (c === '\r' && this.s[this.p + 1] === '\n');
  }

  /** Consumes a newline and returns it as written: strings keep CRLF if the file has it. */
  private newline(): string {
    const nl = this.s[this.p] === '\r' ? '\r\n' : '\n';
    this.p += nl.length;
    return nl;
  }

  private skipOneNewline(): void {
    if (this.s[this.p] === '\n') this.p++;
    else if (this.s[this.p] === '\r' && this.s[this.p + 1] === '\n') this.p += 2;
  }

  private eof(): boolean {
    return this.p >= this.s.length;
  }

  private found(): string {
    if (this.eof()) return 'the end of the file';
    if (this.isNewline()) return 'the end of the line';
    return `"${printable(String.fromCodePoint(this.s.codePointAt(this.p) ?? 0))}"`;
  }

  private fail(reason: string, at: number = this.p): never {
    let line = 1;
    let lineStart = 0;
    const end = Math.min(at, this.s.length);
    for (let i = 0; i < end; i++) {
      if (this.s[i] === '\n') {
        line++;
        lineStart = i + 1;
      }
    }
    throw new TomlError(reason, line, end - lineStart + 1);
  }
}

// ---- pure helpers --------------------------------------------------------------------------------

function isTable(v: TomlValue | undefined): v is TomlTable {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// TOML forbids raw control characters except tab in strings and comments (newlines are handled
// by the callers).
function isControl(code: number): boolean {
  return (code < 0x20 && code !== 0x09) || code === 0x7f;
}

function codeName(code: number): string {
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

function printable(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  return isControl(code) || code === 0x09 ? codeName(code) : c;
}

/** A normalised RFC 3339 string, a reason it is an invalid date, or null if it is not date-like. */
function dateValue(token: string): string | { problem: string } | null {
  let m = DATE_TIME.exec(token);
  if (m) {
    const bad = checkDate(m[1], m[2], m[3]) ?? checkTime(m[4], m[5], m[6]) ?? checkOffset(m[8]);
    if (bad) return { problem: bad };
    const offset = m[8] === undefined ? '' : m[8].toUpperCase();
    return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] ?? '00'}${m[7] ?? ''}${offset}`;
  }
  m = DATE.exec(token);
  if (m) {
    const bad = checkDate(m[1], m[2], m[3]);
    return bad ? { problem: bad } : token;
  }
  m = TIME.exec(token);
  if (m) {
    const bad = checkTime(m[1], m[2], m[3]);
    return bad ? { problem: bad } : `${m[1]}:${m[2]}:${m[3] ?? '00'}${m[4] ?? ''}`;
  }
  // Something that starts like a date or a time but is malformed gets the clearer message.
  return /^\d{4}-|^\d{2}:/.test(token) ? { problem: 'expected YYYY-MM-DD, HH:MM[:SS[.fff]] or both' } : null;
}

function checkDate(y: string, mo: string, d: string): string | null {
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12) return `month ${mo} is out of range`;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  if (day < 1 || day > days) return `day ${d} is out of range for month ${mo}`;
  return null;
}

// Seconds stop at 59: a leap second is valid RFC 3339 but no JavaScript date can hold it.
function checkTime(h: string, mi: string, s: string | undefined): string | null {
  if (Number(h) > 23) return `hour ${h} is out of range`;
  if (Number(mi) > 59) return `minute ${mi} is out of range`;
  if (s !== undefined && Number(s) > 59) return `second ${s} is out of range`;
  return null;
}

function checkOffset(offset: string | undefined): string | null {
  if (offset === undefined || offset.length === 1) return null;
  if (Number(offset.slice(1, 3)) > 23 || Number(offset.slice(4, 6)) > 59) return `offset ${offset} is out of range`;
  return null;
}
