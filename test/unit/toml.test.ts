// The config TOML parser: every feature and error case, then a differential test against
// smol-toml (a devDependency used only here, as an oracle) over real-world-ish documents and
// thousands of generated and mutated inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse as smolParse, TomlDate } from 'smol-toml';
import { parseToml, TomlError, type TomlTable, type TomlValue } from '../../src/config/toml.js';

// Our tables have no prototype (so "__proto__" is a plain key); compare against plain literals.
function plain(v: TomlValue): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function ok(src: string, expected: unknown): void {
  assert.deepStrictEqual(plain(parseToml(src)), expected, src);
}

function bad(src: string, line: number, column: number, reason: RegExp): void {
  assert.throws(
    () => parseToml(src),
    (e: unknown) => {
      assert.ok(e instanceof TomlError, `not a TomlError for ${JSON.stringify(src)}: ${String(e)}`);
      assert.match(e.reason, reason, JSON.stringify(src));
      assert.deepEqual([e.line, e.column], [line, column], `${JSON.stringify(src)}: ${e.message}`);
      assert.ok(e.message.startsWith(`${line}:${column}: `));
      return true;
    },
  );
}

// ---- features -------------------------------------------------------------------------------------

test('comments, blank lines, CRLF and a byte order mark', () => {
  ok('\uFEFF# top\r\n\r\na = 1 # trailing\r\n  # indented\n\tb = 2\n', { a: 1, b: 2 });
  ok('', {});
  ok('# only a comment', {});
});

test('bare, quoted and dotted keys', () => {
  ok('A-b_9 = 1\n1234 = 2\n"quoted key" = 3\n\'lit"key\' = 4\n"" = 5', {
    'A-b_9': 1,
    '1234': 2,
    'quoted key': 3,
    'lit"key': 4,
    '': 5,
  });
  ok('site."google.com" = true\na . b . c = 1\n3.14159 = "pi"', {
    site: { 'google.com': true },
    a: { b: { c: 1 } },
    '3': { '14159': 'pi' },
  });
  ok('fruit.apple.color = "red"\nfruit.apple.taste.sweet = true\nfruit.orange = 2', {
    fruit: { apple: { color: 'red', taste: { sweet: true } }, orange: 2 },
  });
  ok('"\\u0061" = 1\n"__proto__" = 2\nconstructor = 3', { a: 1, ['__proto__']: 2, constructor: 3 });
  const t = parseToml('__proto__.x = 1');
  assert.equal(Object.getPrototypeOf(t), null);
  assert.deepEqual(Object.keys(t), ['__proto__']);
});

test('tables, sub-tables and implicit parents', () => {
  ok('[table-1]\nkey1 = "some string"\n[table-2]\nkey2 = 456', {
    'table-1': { key1: 'some string' },
    'table-2': { key2: 456 },
  });
  ok('[ dog . "tater.man" ]\ntype.name = "pug"', { dog: { 'tater.man': { type: { name: 'pug' } } } });
  ok('[x.y.z.w]\n[x]\na = 1', { x: { y: { z: { w: {} } }, a: 1 } });
  ok('[fruit]\napple.color = "red"\n[fruit.apple.texture]\nsmooth = true', {
    fruit: { apple: { color: 'red', texture: { smooth: true } } },
  });
  ok('a.b = 1\n[a.c]\nd = 2', { a: { b: 1, c: { d: 2 } } });
});

test('arrays of tables, with sub-tables and nested arrays', () => {
  ok('[[products]]\nname = "Hammer"\n[[products]]\n[[products]]\nname = "Nail"', {
    products: [{ name: 'Hammer' }, {}, { name: 'Nail' }],
  });
  ok(
    '[[fruits]]\nname = "apple"\n[fruits.physical]\ncolor = "red"\n[[fruits.varieties]]\nname = "red delicious"\n' +
      '[[fruits.varieties]]\nname = "granny smith"\n[[fruits]]\nname = "banana"\n[[fruits.varieties]]\nname = "plantain"',
    {
      fruits: [
        { name: 'apple', physical: { color: 'red' }, varieties: [{ name: 'red delicious' }, { name: 'granny smith' }] },
        { name: 'banana', varieties: [{ name: 'plantain' }] },
      ],
    },
  );
  ok('[[pricing.override]]\nprovider = "openai"\n[[pricing.override]]\nprovider = "xai"', {
    pricing: { override: [{ provider: 'openai' }, { provider: 'xai' }] },
  });
});

test('inline tables, including the TOML 1.1 multi-line form', () => {
  ok('name = { first = "Tom", last = "Preston-Werner" }\npoint = {x=1,y=2}\nanimal = { type.name = "pug" }\ne = {}', {
    name: { first: 'Tom', last: 'Preston-Werner' },
    point: { x: 1, y: 2 },
    animal: { type: { name: 'pug' } },
    e: {},
  });
  ok('resolve = {\n  "api.anthropic.com:443" = "127.0.0.1:9443", # fake\n  "api.openai.com:443" = "127.0.0.1:9444",\n}', {
    resolve: { 'api.anthropic.com:443': '127.0.0.1:9443', 'api.openai.com:443': '127.0.0.1:9444' },
  });
  ok('t = { a.b = 1, a.c = 2, d = { e = [1, {f = 2}] } }', { t: { a: { b: 1, c: 2 }, d: { e: [1, { f: 2 }] } } });
});

test('arrays: mixed types, nesting, newlines, comments and trailing commas', () => {
  ok('a = [ 1, 2, 3 ]\nb = [ "red", \'yellow\', """green""" ]\nc = [ [ 1, 2 ], ["a", 2.5] ]\nd = []', {
    a: [1, 2, 3],
    b: ['red', 'yellow', 'green'],
    c: [
      [1, 2],
      ['a', 2.5],
    ],
    d: [],
  });
  ok('a = [\n  1, # one\n  2,\n  # nothing\n]\nb = [ { x = 1 }, {} , ]', { a: [1, 2], b: [{ x: 1 }, {}] });
});

test('basic strings and every escape', () => {
  ok(String.raw`s = "tab\tnl\nret\rff\fbs\bq\"sl\\e\e|\u00E9|\U0001F600|\x41"`, {
    s: 'tab\tnl\nret\rff\fbs\bq"sl\\e\x1b|é|😀|A',
  });
  ok('s = "raw\ttab, é, 😀, # not a comment"', { s: 'raw\ttab, é, 😀, # not a comment' });
  ok(String.raw`s = "\u0000"`, { s: '\u0000' });
});

test('literal strings keep backslashes', () => {
  ok(String.raw`p = 'C:\Users\nodejs\templates'` + '\nq = \'<\\i\\c*\\s*>\'', {
    p: 'C:\\Users\\nodejs\\templates',
    q: '<\\i\\c*\\s*>',
  });
});

test('multi-line basic strings: first newline trimmed, line-ending backslash, quotes', () => {
  ok('s = """\r\nRoses are red\r\nViolets are blue\n"""', { s: 'Roses are red\r\nViolets are blue\n' });
  ok('s = """\nThe quick brown \\\n\n\n  fox jumps \\   \n    over."""', { s: 'The quick brown fox jumps over.' });
  ok('s = """Here are two quotation marks: "". Simple enough."""', { s: 'Here are two quotation marks: "". Simple enough.' });
  ok('s = """Here are three quotation marks: ""\\"."""', { s: 'Here are three quotation marks: """.' });
  ok('s = """"This," she said, "is just a pointless statement.""""', {
    s: '"This," she said, "is just a pointless statement."',
  });
  ok('s = """a"""""', { s: 'a""' });
  ok('s = """\\\n"""', { s: '' });
});

test('multi-line literal strings', () => {
  ok("re = '''I [dw]on't need \\d{2} apples'''\nl = '''\nThe first newline is\ntrimmed.\n'''", {
    re: "I [dw]on't need \\d{2} apples",
    l: 'The first newline is\ntrimmed.\n',
  });
  ok("q = ''''That,' she said, 'is still pointless.''''", { q: "'That,' she said, 'is still pointless.'" });
});

test('integers: decimal, hex, octal, binary, underscores, signs', () => {
  ok('a = +99\nb = 42\nc = 0\nd = -17\ne = 1_000\nf = 5_349_221\ng = -0\nh = +0', {
    a: 99,
    b: 42,
    c: 0,
    d: -17,
    e: 1000,
    f: 5349221,
    g: 0,
    h: 0,
  });
  ok('a = 0xDEADBEEF\nb = 0xdead_beef\nc = 0o01234567\nd = 0o755\ne = 0b11010110\nf = 0x0', {
    a: 0xdeadbeef,
    b: 0xdeadbeef,
    c: 0o1234567,
    d: 0o755,
    e: 0b11010110,
    f: 0,
  });
  ok('max = 9007199254740991\nmin = -9007199254740991', { max: Number.MAX_SAFE_INTEGER, min: Number.MIN_SAFE_INTEGER });
  assert.ok(Object.is(parseToml('z = -0').z, 0), 'integer -0 is 0');
});

test('floats: fractions, exponents, underscores, inf and nan', () => {
  ok('a = +1.0\nb = 3.1415\nc = -0.01\nd = 5e+22\ne = 1e06\nf = -2E-2\ng = 6.626e-34\nh = 224_617.445_991_228\ni = 0e0', {
    a: 1,
    b: 3.1415,
    c: -0.01,
    d: 5e22,
    e: 1e6,
    f: -0.02,
    g: 6.626e-34,
    h: 224617.445991228,
    i: 0,
  });
  const t = parseToml('a = inf\nb = +inf\nc = -inf\nd = nan\ne = +nan\nf = -nan\ng = -0.0\nh = 1e999');
  assert.equal(t.a, Infinity);
  assert.equal(t.b, Infinity);
  assert.equal(t.c, -Infinity);
  assert.ok(Number.isNaN(t.d) && Number.isNaN(t.e) && Number.isNaN(t.f));
  assert.ok(Object.is(t.g, -0));
  assert.equal(t.h, Infinity);
});

test('booleans', () => {
  ok('t = true\nf = false', { t: true, f: false });
});

test('dates and times come back as RFC 3339 strings', () => {
  ok(
    [
      'odt1 = 1979-05-27T07:32:00Z',
      'odt2 = 1979-05-27T00:32:00-07:00',
      'odt3 = 1979-05-27T00:32:00.999999-07:00',
      'odt4 = 1979-05-27 07:32:00z',
      'odt5 = 1979-05-27t07:32Z',
      'ldt1 = 1979-05-27T07:32:00',
      'ldt2 = 1979-05-27 00:32:00.5',
      'ld = 1979-05-27',
      'lt1 = 07:32:00',
      'lt2 = 00:32:00.999999',
      'lt3 = 07:32',
      'leap = 2000-02-29',
      'arr = [1979-05-27, 07:32:00]',
    ].join('\n'),
    {
      odt1: '1979-05-27T07:32:00Z',
      odt2: '1979-05-27T00:32:00-07:00',
      odt3: '1979-05-27T00:32:00.999999-07:00',
      odt4: '1979-05-27T07:32:00Z',
      odt5: '1979-05-27T07:32:00Z',
      ldt1: '1979-05-27T07:32:00',
      ldt2: '1979-05-27T00:32:00.5',
      ld: '1979-05-27',
      lt1: '07:32:00',
      lt2: '00:32:00.999999',
      lt3: '07:32:00',
      leap: '2000-02-29',
      arr: ['1979-05-27', '07:32:00'],
    },
  );
});

// ---- errors ---------------------------------------------------------------------------------------

test('duplicate keys and tables are errors, with line and column', () => {
  bad('a = 1\na = 2', 2, 1, /duplicate key "a"/);
  bad('a = 1\n"a" = 2', 2, 1, /duplicate key "a"/);
  bad('x.y = 1\nx.y = 2', 2, 1, /duplicate key "x.y"/);
  bad('[t]\n[t]', 2, 1, /duplicate table \[t\]/);
  bad('[a.b]\n[a]\n[a]', 3, 1, /duplicate table \[a\]/);
  bad('a = 1\n[a]', 2, 1, /already defined as a value/);
  bad('a = {}\n[a]', 2, 1, /inline table/);
  bad('a = {x = 1}\na.y = 2', 2, 1, /inline table/);
  bad('a = {x = 1}\n[a.b]', 2, 1, /inline table/);
  bad('a.b = 1\n[a]', 2, 1, /dotted keys/);
  bad('[fruit]\napple.color = "red"\n[fruit.apple]', 3, 1, /dotted keys/);
  bad('[a.b.c]\nz = 9\n[a]\nb.c.t = 1', 4, 1, /cannot add keys to "b"/);
  bad('[a]\nb = 1\n[a.b]', 3, 1, /already defined as a value/);
  bad('a = [1]\n[[a]]', 2, 1, /already defined as an array/);
  bad('[a]\n[[a]]', 2, 1, /already defined as a table/);
  bad('[[a]]\n[a]', 2, 1, /array of tables/);
  bad('t = {a = 1, a = 2}', 1, 13, /duplicate key "a"/);
  bad('t = {a = {b = 1}, a.c = 2}', 1, 19, /inline table/);
  bad('t = {a.b = 1, a = 2}', 1, 15, /duplicate key "a"/);
});

test('syntax errors report line and column', () => {
  bad('a = ', 1, 5, /expected a value, found the end of the file/);
  bad('a =\nb = 1', 1, 4, /expected a value, found the end of the line/);
  bad('= 1', 1, 1, /expected a key, found "="/);
  bad('a b = 1', 1, 3, /expected "=" after key, found "b"/);
  bad('a = 1 b = 2', 1, 7, /expected the end of the line, found "b"/);
  bad('a.= 1', 1, 3, /expected a key/);
  bad('a..b = 1', 1, 3, /expected a key/);
  bad('[a', 1, 3, /expected "\]" to close/);
  bad('[[a]', 1, 4, /expected "\]\]" to close/);
  bad('[ [a] ]', 1, 3, /expected a key/);
  bad('[]', 1, 2, /expected a key/);
  bad('[a] x', 1, 5, /expected the end of the line/);
  bad('"""k""" = 1', 1, 1, /multi-line string/);
  bad('é = 1', 1, 1, /expected a key, found "é"/);
  bad('a = [1 2]', 1, 8, /expected "," or "\]"/);
  bad('a = [1,,2]', 1, 8, /expected a value/);
  bad('a = [1', 1, 5, /unterminated array/);
  bad('a = {b = 1', 1, 5, /unterminated inline table/);
  bad('a = {b = 1 c = 2}', 1, 12, /expected "," or "}"/);
  bad('a = {,}', 1, 6, /expected a key/);
  bad('a = {b}', 1, 7, /expected "=" after key/);
  bad('a = \n1', 1, 5, /expected a value/);
  bad('\n\n  x = truee', 3, 7, /invalid value "truee"/);
  bad('a = True', 1, 5, /invalid value "True"/);
  bad('a = 1 # ok\u0001', 1, 11, /control character U\+0001 is not allowed in a comment/);
  bad('a = 1\rb = 2', 1, 6, /expected the end of the line, found "U\+000D"/);
  const deep = 'a = ' + '['.repeat(10_000) + ']'.repeat(10_000);
  bad(deep, 1, 505, /nested more than 500 deep/);
});

test('string errors', () => {
  bad('a = "abc', 1, 5, /unterminated string/);
  bad('a = "abc\n"', 1, 5, /unterminated string/);
  bad("a = 'abc\n'", 1, 5, /unterminated string/);
  bad('a = """abc', 1, 5, /unterminated multi-line string/);
  bad("a = '''abc''", 1, 5, /unterminated multi-line string/);
  bad(String.raw`a = "\q"`, 1, 6, /invalid escape "\\q"/);
  bad(String.raw`a = "\u12"`, 1, 6, /needs 4 hexadecimal digits/);
  bad(String.raw`a = "\U0011FFFF"`, 1, 6, /not a Unicode scalar value/);
  bad(String.raw`a = "\uD800"`, 1, 6, /not a Unicode scalar value/);
  bad(String.raw`a = "\x4"`, 1, 6, /needs 2 hexadecimal digits/);
  bad('a = "\u0000"', 1, 6, /control character U\+0000 must be escaped/);
  bad("a = 'x\u007f'", 1, 7, /control character U\+007F/);
  bad('a = """\\  x"""', 1, 8, /invalid escape "\\ "/);
  bad('a = """a\rb"""', 1, 9, /control character U\+000D/);
  bad('a = """a""""""', 1, 14, /expected the end of the line/);
  bad('a = "a" "b"', 1, 9, /expected the end of the line/);
});

test('number errors', () => {
  for (const v of ['01', '+01', '00.1', '1_', '_1', '1__2', '0x', '0x_1', '0xG', '-0x1', '+0b1', '0b2', '0o8', '0O7', '0X1']) {
    bad(`a = ${v}`, 1, 5, /invalid value/);
  }
  for (const v of ['1.', '.1', '1.e5', '1e', '1e+', '1._1', '1_.1', '1e_1', '1.1.1', 'infinity', 'NaN', '+-1', '- 1']) {
    assert.throws(() => parseToml(`a = ${v}`), TomlError, v);
  }
  bad('a = 9007199254740992', 1, 5, /too large/);
  bad('a = -9_007_199_254_740_992', 1, 5, /too large/);
  bad('a = 0x20000000000000', 1, 5, /too large/);
});

test('date and time errors', () => {
  bad('a = 2021-02-29', 1, 5, /day 29 is out of range for month 02/);
  bad('a = 1979-04-31', 1, 5, /day 31 is out of range/);
  bad('a = 1900-02-29', 1, 5, /day 29/);
  bad('a = 1979-13-01', 1, 5, /month 13/);
  bad('a = 1979-00-01', 1, 5, /month 00/);
  bad('a = 1979-05-00', 1, 5, /day 00/);
  bad('a = 24:00:00', 1, 5, /hour 24/);
  bad('a = 07:60:00', 1, 5, /minute 60/);
  bad('a = 1979-05-27T23:59:60Z', 1, 5, /second 60/);
  bad('a = 1979-05-27T07:32:00+24:00', 1, 5, /offset \+24:00/);
  bad('a = 1979-05-27T7:32:00', 1, 5, /expected YYYY-MM-DD/);
  bad('a = 1979-05-27T07:32:00.', 1, 5, /expected YYYY-MM-DD/);
  bad('a = 1979-05-27T', 1, 5, /expected YYYY-MM-DD/);
  bad('a = 07:32:00Z', 1, 5, /expected YYYY-MM-DD/);
  bad('a = 1979-05-27 07:32:00 x', 1, 25, /expected the end of the line/);
});

// ---- differential test against smol-toml ---------------------------------------------------------

const REAL_WORLD: readonly string[] = [
  `# halton-meter configuration
[daemon]
edge_port = 8081
internal_port = 8090
api_port = 8765
log_level = "info"

[upstream]
resolve = { "api.anthropic.com:443" = "127.0.0.1:9443", "api.openai.com:443" = "127.0.0.1:9444" }
proxy = "http://user:p%40ss@proxy.corp.example:3128"
ca_file = "/etc/ssl/corp-root.pem"

[tagging]
default_project = "misc"

[cors]
allow_origins = ["http://localhost:3000", "https://dash.example.com"]

[[pricing.override]]
provider = "anthropic"
model = "claude-sonnet-4-*"
input = 3.0
output = 15
cache_read = 0.30
cache_write_5m = 3.75
cache_write_1h = 6.0

[[pricing.override]]
provider = "openai"
model = "gpt-4o"
input = 2.5
output = 10.0
`,
  `# This is a TOML document

title = "TOML Example"

[owner]
name = "Tom Preston-Werner"
dob = 1979-05-27T07:32:00-08:00

[database]
enabled = true
ports = [ 8000, 8001, 8002 ]
data = [ ["delta", "phi"], [3.14] ]
temp_targets = { cpu = 79.5, case = 72.0 }

[servers]

[servers.alpha]
ip = "10.0.0.1"
role = "frontend"

[servers.beta]
ip = "10.0.0.2"
role = "backend"
`,
  `[package]
name = "ripgrep"
version = "14.1.0"
authors = ["Andrew Gallant <jamslam@gmail.com>"]
description = """
ripgrep is a line-oriented search tool that recursively searches the current
directory for a regex pattern while respecting gitignore rules.
"""
edition = "2021"
rust-version = "1.72"

[[bin]]
bench = false
path = "crates/core/main.rs"
name = "rg"

[[test]]
name = "integration"
path = "tests/tests.rs"

[workspace]
members = [
  "crates/globset",
  "crates/grep",
  "crates/cli",
]

[dependencies]
bstr = "1.7.0"
grep = { version = "0.3.1", path = "crates/grep" }
serde_json = "1.0.23"

[target.'cfg(all(target_env = "musl", target_pointer_width = "64"))'.dependencies.jemallocator]
version = "0.5.0"

[profile.release]
debug = 1

[profile.deb]
inherits = "release"
debug = false
`,
  `[build-system]
requires = ["setuptools>=61.0", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "example-package"
version = "0.0.1"
authors = [
  { name="Example Author", email="author@example.com" },
]
requires-python = ">=3.8"
classifiers = [
    "Programming Language :: Python :: 3",
    "License :: OSI Approved :: MIT License",
]
dependencies = ['requests>=2.28', 'rich ~= 13.0']

[project.urls]
"Homepage" = "https://github.com/pypa/sampleproject"

[tool.ruff]
line-length = 100
select = ["E", "F", "I"]

[tool.pytest.ini_options]
addopts = "-ra -q"
testpaths = ["tests", 'integration']
`,
  `[build]
  publish = "dist"
  command = "npm run build"

[build.environment]
  NODE_VERSION = "20"

[[redirects]]
  from = "/old-path"
  to = "/new-path"
  status = 301
  force = false
  query = {path = ":path"}
  conditions = {Language = ["en"], Country = ["US"]}

[[headers]]
  for = "/*"
  [headers.values]
    X-Frame-Options = "DENY"
    Content-Security-Policy = '''
      default-src 'self';
      script-src 'self' 'unsafe-inline'
    '''
`,
  `baseURL = 'https://example.org/'
languageCode = 'en-us'
title = 'My New Hugo Site'
paginate = 0x10
timeout = 3e4

[params]
  dateFormat = "Jan 2 2006"
  created = 2024-01-05
  alarm = 06:30:00
  launch = 2024-03-01 09:00:00.25
  ratio = -0.000_5
  big = 1_000_000
  flags = 0b1010
  perms = 0o644
  neg_inf = -inf
  escapes = "tab\\tquote\\"unicode\\u00e9 astral\\U0001F680"

[menus]
  [[menus.main]]
    name = 'Home'
    pageRef = '/'
    weight = 10
  [[menus.main]]
    name = 'Posts'
    pageRef = '/posts'
    weight = 20
`,
  `# Dotted keys and sub-tables
fruit.apple.color = "red"
fruit.apple.taste.sweet = true
fruit.orange.type = "navel"

[dog."tater.man"]
type.name = "pug"

[a.b.c]
[a]
d = 1

[[fruits]]
name = "apple"

[fruits.physical]
color = "red"
shape = "round"

[[fruits.varieties]]
name = "red delicious"

[[fruits]]
name = "banana"
`,
  `str1 = """
Roses are red
Violets are blue"""
str2 = """\\
       The quick brown \\
       fox jumps over \\
       the lazy dog.\\
       """
str3 = """Here are fifteen quotation marks: ""\\"""\\"""\\"""\\"""\\"."""
str4 = ''''That,' she said, 'is still pointless.''''
winpath2 = '\\\\ServerX\\admin$\\system32\\'
regex2 = '''I [dw]on't need \\d{2} apples'''
`,
  `[servers]
alpha = {
  ip = "10.0.0.1", # TOML 1.1
  role = "frontend",
}
beta = { ip = "10.0.0.2", role = "backend" }
esc = "\\e[1m\\x41"
lt = 07:32
`,
];

// Inputs the oracle gets wrong, where agreeing with it would be a bug in us:
// 1. smol-toml hands date-like tokens to JavaScript's Date, which rolls 2021-02-30 over to March
//    and accepts malformed text such as "2024-Z1-05"; the spec calls both invalid.
// 2. After a line-ending backslash, smol-toml drops the one or two quotes that sit just inside the
//    closing delimiter ("""\<newline>"""" is '"' by the spec, '' in smol-toml).
function oracleRejectsWrongly(err: TomlError): boolean {
  return /^invalid date or time /.test(err.reason);
}

function oracleDropsQuotes(src: string, ours: unknown, theirs: unknown): boolean {
  return (
    /\\[ \t]*\r?\n\s*""""/.test(src) &&
    typeof ours === 'string' &&
    typeof theirs === 'string' &&
    (ours === `${theirs}"` || ours === `${theirs}""`)
  );
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

function run(f: () => unknown): Outcome {
  try {
    return { ok: true, value: f() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** The first difference between our result and smol-toml's, or null when they agree. */
function difference(ours: unknown, theirs: unknown, path: string, src: string): string | null {
  if (theirs instanceof TomlDate) {
    if (typeof ours !== 'string') return `${path}: expected a date string, got ${typeof ours}`;
    const mine = new TomlDate(ours);
    const same =
      mine.isValid() &&
      mine.toISOString() === theirs.toISOString() &&
      mine.isDate() === theirs.isDate() &&
      mine.isTime() === theirs.isTime() &&
      mine.isLocal() === theirs.isLocal();
    return same ? null : `${path}: date ${ours} vs ${theirs.toISOString()}`;
  }
  if (Array.isArray(theirs)) {
    if (!Array.isArray(ours) || ours.length !== theirs.length) return `${path}: array shape differs`;
    for (let i = 0; i < theirs.length; i++) {
      const d = difference(ours[i], theirs[i], `${path}[${i}]`, src);
      if (d) return d;
    }
    return null;
  }
  if (typeof theirs === 'object' && theirs !== null) {
    if (typeof ours !== 'object' || ours === null || Array.isArray(ours)) return `${path}: expected a table`;
    const a = Object.keys(ours).sort();
    const b = Object.keys(theirs).sort();
    if (JSON.stringify(a) !== JSON.stringify(b)) return `${path}: keys ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
    for (const k of b) {
      const mine = (ours as Record<string, unknown>)[k];
      const d = difference(mine, (theirs as Record<string, unknown>)[k], `${path}.${k}`, src);
      if (d) return d;
    }
    return null;
  }
  if (Object.is(ours, theirs) || oracleDropsQuotes(src, ours, theirs)) return null;
  return `${path}: ${JSON.stringify(ours)} vs ${JSON.stringify(theirs)}`;
}

interface Tally {
  bothOk: number;
  bothFail: number;
  oracleBug: number;
}

function compare(src: string, tally: Tally): void {
  const ours = run(() => parseToml(src));
  const theirs = run(() => smolParse(src));
  if (!ours.ok) {
    assert.ok(ours.error instanceof TomlError, `non-TomlError ${String(ours.error)} for ${JSON.stringify(src)}`);
    assert.ok(ours.error.line >= 1 && ours.error.column >= 1);
  }
  if (ours.ok && theirs.ok) {
    const d = difference(ours.value, theirs.value, '$', src);
    assert.equal(d, null, `values differ for ${JSON.stringify(src)}: ${d}`);
    tally.bothOk++;
  } else if (!ours.ok && !theirs.ok) {
    tally.bothFail++;
  } else if (!ours.ok && ours.error instanceof TomlError && oracleRejectsWrongly(ours.error)) {
    tally.oracleBug++;
  } else {
    const why = ours.ok ? `smol-toml: ${String(theirs.ok ? '' : theirs.error)}` : `ours: ${String(ours.error)}`;
    assert.fail(`only one parser accepts ${JSON.stringify(src)} (${why})`);
  }
}

// A small seeded generator (mulberry32), so a failure reproduces exactly.
class Rand {
  constructor(private seed: number) {}
  next(): number {
    this.seed = (this.seed + 0x6d2b79f5) | 0;
    let t = Math.imul(this.seed ^ (this.seed >>> 15), 1 | this.seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

const KEY_POOL = ['a', 'b', 'c', 'x-y', 'k_1', '0', '"a"', "'b'", '"c d"', '""', '"\\u0061"', '"é"', 'A'];
// Tricky scalars, valid and not, so both parsers are pushed on the same edges.
const TOKENS = [
  '0', '+0', '-0', '00', '1_000', '1__0', '_1', '1_', '0x_1', '0xG', '0xff', '0o17', '0b101', '0b102', '0o8',
  '9007199254740991', '9007199254740992', '-9007199254740991', '1.', '.1', '1e', '1e+', '1.0e-0_1', '6.02e23',
  '-1.5E-3', 'inf', '-inf', '+nan', 'nan', 'infinity', 'true', 'false', 'True', 'tru', '1979-05-27', '2000-02-29',
  '1979-05-27T07:32:00', '1979-05-27 07:32:00.999999', '1979-05-27T07:32:00Z', '1979-05-27t07:32:00z', '07:32',
  '07:32:00', '07:32:00.5', '24:00:00', '23:59:60', '1979-05-27T07:32:00+25:00', '1979-05-27T07:32:00-07:30',
  '1979-05-27T07:32+01:00', '1979-5-27', '1979-05-27T', '0e0', '-0.0', '+1_2.3_4e+5_6',
];
const STR_PARTS = ['a', 'Z', ' ', '\\t', '\\n', '\\"', '\\\\', '\\u00e9', '\\U0001F600', '\\x41', '\\e', 'é', '😀', '#', '=', "'", '\t', ',', ']', '}'];
const RARE_STR_PARTS = ['\\uD800', '\\q', '\\u12', '\u0001', '"', '\\'];
const ML_PARTS = ['\n', '\r\n', '"', '""', '\\\n   ', '\\  \n\n  x', "'", "''"];

class DocGen {
  private unique = 0;
  constructor(private readonly r: Rand) {}

  key(): string {
    const part = (): string => (this.r.chance(0.5) ? `k${this.unique++}` : this.r.pick(KEY_POOL));
    const n = this.r.chance(0.7) ? 1 : this.r.int(3) + 2;
    return Array.from({ length: n }, part).join(this.r.pick(['.', ' . ', '.']));
  }

  strBody(parts: readonly string[]): string {
    let s = '';
    for (let i = this.r.int(6); i > 0; i--) s += this.r.chance(0.03) ? this.r.pick(RARE_STR_PARTS) : this.r.pick(parts);
    return s;
  }

  string(): string {
    switch (this.r.int(4)) {
      case 0:
        return `"${this.strBody(STR_PARTS)}"`;
      case 1:
        return `'${this.strBody(STR_PARTS).replaceAll("'", '').replaceAll('\\', '/')}'`;
      case 2:
        return `"""${this.r.chance(0.5) ? '\n' : ''}${this.strBody([...STR_PARTS, ...ML_PARTS])}"""`;
      default:
        return `'''${this.r.chance(0.5) ? '\n' : ''}${this.strBody([...STR_PARTS, ...ML_PARTS]).replaceAll("'''", '')}'''`;
    }
  }

  number(): string {
    const sign = this.r.pick(['', '', '-', '+']);
    switch (this.r.int(5)) {
      case 0:
        return `${sign}${this.r.int(100000)}`;
      case 1:
        return `0x${this.r.int(0xffffff).toString(16)}`;
      case 2:
        return `${sign}${this.r.int(1000)}.${this.r.int(1000)}${this.r.chance(0.5) ? `e${this.r.pick(['', '-', '+'])}${this.r.int(40)}` : ''}`;
      case 3:
        return `${this.r.int(9000) + 1000}-${String(this.r.int(12) + 1).padStart(2, '0')}-${String(this.r.int(28) + 1).padStart(2, '0')}`;
      default:
        return this.r.pick(TOKENS);
    }
  }

  sep(): string {
    return this.r.pick([' ', '', '\n', ' # c\n ', '\t', '\r\n']);
  }

  value(depth: number): string {
    const kind = depth > 3 ? this.r.int(2) : this.r.int(5);
    if (kind === 0) return this.string();
    if (kind === 1) return this.number();
    if (kind === 2) return this.r.pick(['true', 'false']);
    const n = this.r.int(4);
    if (kind === 3) {
      const items = Array.from({ length: n }, () => this.value(depth + 1));
      return `[${this.sep()}${items.join(`,${this.sep()}`)}${n && this.r.chance(0.3) ? ',' : ''}${this.sep()}]`;
    }
    const entries = Array.from({ length: n }, () => `${this.key()} = ${this.value(depth + 1)}`);
    const s = this.r.chance(0.8) ? ' ' : this.sep();
    return `{${s}${entries.join(`,${s}`)}${n && this.r.chance(0.2) ? ',' : ''}${s}}`;
  }

  document(): string {
    const lines: string[] = [];
    for (let i = this.r.int(10) + 1; i > 0; i--) {
      const indent = this.r.pick(['', '', '  ', '\t']);
      const roll = this.r.next();
      if (roll < 0.55) lines.push(`${indent}${this.key()} = ${this.value(0)}${this.r.chance(0.2) ? ' # note' : ''}`);
      else if (roll < 0.7) lines.push(`${indent}[${this.key()}]`);
      else if (roll < 0.85) lines.push(`${indent}[[${this.key()}]]`);
      else if (roll < 0.92) lines.push(`${indent}# comment ${this.r.int(100)}`);
      else lines.push('');
    }
    return lines.join(this.r.chance(0.9) ? '\n' : '\r\n');
  }
}

const MUTATION_CHARS = ' \t\n\r"\'\\[]{}=.,#_-+:0123456789aexuUZT';

function mutate(r: Rand, src: string): string {
  let s = src;
  for (let n = r.int(3) + 1; n > 0; n--) {
    const at = r.int(s.length + 1);
    switch (r.int(5)) {
      case 0:
        s = s.slice(0, at) + s.slice(at + 1);
        break;
      case 1:
        s = s.slice(0, at) + r.pick([...MUTATION_CHARS]) + s.slice(at);
        break;
      case 2:
        s = s.slice(0, at) + r.pick([...MUTATION_CHARS]) + s.slice(at + 1);
        break;
      case 3: {
        const lines = s.split('\n');
        const i = r.int(lines.length);
        lines.splice(r.int(lines.length + 1), 0, lines[i]);
        s = lines.join('\n');
        break;
      }
      default:
        s = s.slice(0, at);
    }
  }
  return s;
}

test('differential: real-world documents agree with smol-toml', () => {
  const tally: Tally = { bothOk: 0, bothFail: 0, oracleBug: 0 };
  for (const doc of REAL_WORLD) compare(doc, tally);
  assert.equal(tally.bothOk, REAL_WORLD.length, 'every real-world document parses');
});

test('differential: generated documents agree with smol-toml', () => {
  const r = new Rand(20240527);
  const gen = new DocGen(r);
  const tally: Tally = { bothOk: 0, bothFail: 0, oracleBug: 0 };
  for (let i = 0; i < 4000; i++) compare(gen.document(), tally);
  assert.ok(tally.bothOk > 800 && tally.bothFail > 800, `coverage too thin: ${JSON.stringify(tally)}`);
});

test('differential: mutated documents agree with smol-toml', () => {
  const r = new Rand(7);
  const gen = new DocGen(r);
  const tally: Tally = { bothOk: 0, bothFail: 0, oracleBug: 0 };
  for (let i = 0; i < 6000; i++) {
    const base = i % 3 === 0 ? r.pick(REAL_WORLD) : gen.document();
    compare(mutate(r, base), tally);
  }
  assert.ok(tally.bothOk > 500 && tally.bothFail > 2000, `coverage too thin: ${JSON.stringify(tally)}`);
});

test('differential: random strings over the TOML alphabet agree with smol-toml', () => {
  const r = new Rand(99);
  const alphabet = [...MUTATION_CHARS, 'a = ', '[a]', '[[a]]', '"""', "'''", '\n', 'true', '1979-05-27', 'é'];
  const tally: Tally = { bothOk: 0, bothFail: 0, oracleBug: 0 };
  for (let i = 0; i < 3000; i++) {
    let s = '';
    for (let n = r.int(16) + 1; n > 0; n--) s += r.pick(alphabet);
    compare(s, tally);
  }
  assert.ok(tally.bothOk > 50, `coverage too thin: ${JSON.stringify(tally)}`);
});

test('differential: the known oracle bugs are the only disagreements we allow', () => {
  const tally: Tally = { bothOk: 0, bothFail: 0, oracleBug: 0 };
  for (const src of ['a = 2021-02-30', 'a = 2024-Z1-05']) {
    assert.ok(smolParse(src).a instanceof TomlDate, `smol-toml still accepts ${src}`);
    compare(src, tally);
  }
  assert.equal(tally.oracleBug, 2);
  const quotes = 'a = """x\\\n  """"\nb = """\\\n """""';
  assert.deepEqual(smolParse(quotes), Object.assign(Object.create(null), { a: 'x', b: '' }), 'smol-toml still drops them');
  ok(quotes, { a: 'x"', b: '""' });
  compare(quotes, tally);
  assert.equal(tally.bothOk, 1);
});

test('parseToml returns a TomlTable type usable without casts', () => {
  const t: TomlTable = parseToml('[daemon]\nedge_port = 8081');
  const d = t.daemon;
  assert.ok(typeof d === 'object' && !Array.isArray(d) && d.edge_port === 8081);
});
