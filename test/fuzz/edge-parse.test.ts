// Fuzzes the pure parsing behind the edge's CONNECT handling: parseHostPort (the CONNECT target and
// [upstream] resolve values, src/core/dial.ts), routeTarget, and formatAddress (the X-Halton-Client
// value, src/edge/chain.ts). The request line and headers themselves are Node's parser; the edge's
// handling of whatever it lets through is fuzzed over real sockets in edge-socket.test.ts.
//
// Properties: nothing throws; a parsed target is a lower-case host of the allowed characters and a
// port in 1..65535; it agrees with an independent regex reading of the same grammar; surrounding
// whitespace changes nothing; printing a target and parsing it back gives it again; a generated
// valid authority parses to exactly its parts; a resolve entry is used only when it parses.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { parseHostPort, routeTarget, type Target } from '../../src/core/dial.js';
import { formatAddress } from '../../src/edge/chain.js';
import { fuzzConfig, mutate, runTarget, type FuzzTarget, type Rng } from '../helpers/fuzz.js';

interface ParseOptions {
  defaultPort: number | null;
  /** A resolve table entry for the parsed target, when set: `host:port` -> this value. */
  resolveTo: string | null;
  /** formatAddress inputs derived from the case. */
  address: string | null;
  port: number | null;
}

const AUTHORITIES = [
  'api.anthropic.com:443',
  'API.OpenAI.com:443',
  'generativelanguage.googleapis.com',
  '127.0.0.1:8081',
  '[::1]:8080',
  '[2001:db8::1]',
  '[::ffff:127.0.0.1]:443',
  'localhost:1',
  'a:65535',
  'selftest.halton-meter.internal:443',
  'x_y-z.example:00443',
];
/** Characters near the grammar's edges: brackets, colons, Unicode digits and spaces, controls. */
const ALPHABET = [...'az09AZ.-_:[]% @/?#\t\r\n\u0000\u00a0\u2028\ufeff\uff1a\u0663\u00e9', '::', '[]', '65535', '65536', '0', '443'];

function randomAuthority(rng: Rng): string {
  let s = '';
  for (let n = rng.skewed(40); n > 0; n--) s += rng.pick(ALPHABET);
  return s;
}

/** A host the grammar allows, and a port in range: must parse to exactly these. */
function validParts(rng: Rng): { text: string; host: string; port: number } {
  const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-';
  let host = '';
  for (let n = rng.range(1, 30); n > 0; n--) host += chars[rng.int(chars.length)];
  const v6 = rng.chance(0.3);
  if (v6) host = `${host}:${rng.chance(0.5) ? ':' : ''}${host}`;
  const port = rng.range(1, 65535);
  const portText = `${'0'.repeat(rng.int(Math.max(0, 5 - String(port).length) + 1))}${port}`;
  return { text: v6 ? `[${host}]:${portText}` : `${host}:${portText}`, host: host.toLowerCase(), port };
}

/** The same grammar as parseHostPort, written as two regular expressions. */
function referenceParse(value: string, defaultPort: number | null): Target | null {
  const v = value.trim();
  const m = /^\[([^\]]*)\](?::([^]*))?$/.exec(v) ?? (v.startsWith('[') ? null : /^([^:]*)(?::([^]*))?$/.exec(v));
  if (m === null) return null;
  const host = m[1];
  const portText = m[2];
  if (!/^[A-Za-z0-9._\-:]+$/.test(host)) return null;
  let port: number;
  if (portText === undefined) {
    if (defaultPort === null) return null;
    port = defaultPort;
  } else {
    if (!/^[0-9]{1,5}$/.test(portText)) return null;
    port = Number(portText);
  }
  return port >= 1 && port <= 65535 ? { host: host.toLowerCase(), port } : null;
}

function print(t: Target): string {
  return t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

const reached = { parsed: 0, rejected: 0, routed: 0, addresses: 0 };

const target: FuzzTarget<ParseOptions> = {
  name: 'edge-parse',
  stats: () => `${reached.parsed} targets parsed, ${reached.rejected} rejected, ${reached.routed} resolve hits, ${reached.addresses} client addresses round-tripped`,
  generate(rng) {
    const kind = rng.int(10);
    let text: string;
    const ops: string[] = [];
    if (kind < 4) {
      const m = mutate(rng, Buffer.from(rng.pick(AUTHORITIES), 'utf8'), { maxRounds: 3 });
      text = m.bytes.toString(rng.chance(0.5) ? 'utf8' : 'latin1');
      ops.push('mutated', ...m.ops);
    } else if (kind < 7) {
      text = randomAuthority(rng);
      ops.push('random');
    } else {
      text = validParts(rng).text;
      ops.push('valid');
    }
    return {
      input: Buffer.from(text, 'utf8'),
      ops,
      options: {
        defaultPort: rng.chance(0.5) ? null : rng.pick([443, 80, 0, -1, 65536, 1]),
        resolveTo: rng.chance(0.3) ? (rng.chance(0.5) ? validParts(rng).text : randomAuthority(rng)) : null,
        address: rng.chance(0.5) ? rng.pick(['127.0.0.1', '::1', '::ffff:10.0.0.1', 'fe80::1%lo', '', text]) : null,
        port: rng.chance(0.8) ? rng.int(70_000) : null,
      },
    };
  },
  check({ input, options }) {
    const text = input.toString('utf8');
    const dflt = options.defaultPort ?? undefined;
    const got = parseHostPort(text, dflt);
    const want = referenceParse(text, options.defaultPort);
    assert.deepEqual(got, want, `parseHostPort(${JSON.stringify(text)}, ${dflt})`);
    assert.deepEqual(parseHostPort(` \t${text}\u00a0\n`, dflt), got, 'surrounding whitespace changed the result');
    if (got === null) reached.rejected++;
    else reached.parsed++;
    if (got !== null) {
      assert.match(got.host, /^[a-z0-9._\-:]+$/);
      assert.ok(Number.isInteger(got.port) && got.port >= 1 && got.port <= 65535, `port ${got.port}`);
      assert.deepEqual(parseHostPort(print(got)), got, 'printing and parsing back');
    }
    if (text.length > 0 && /^[A-Za-z0-9._-]/.test(text)) {
      // A valid authority made by validParts: checked against the parts it was made of.
      const m = /^([A-Za-z0-9._-]+):([0-9]{1,5})$/.exec(text);
      const port = m === null ? 0 : Number(m[2]);
      if (m !== null && port >= 1 && port <= 65535) assert.deepEqual(got, { host: m[1].toLowerCase(), port });
    }

    const t: Target = got ?? { host: 'fallback.invalid', port: 443 };
    const resolve: Record<string, string> = options.resolveTo === null ? {} : { [`${t.host}:${t.port}`]: options.resolveTo };
    const routed = routeTarget(t, resolve);
    const mapped = options.resolveTo === null ? null : parseHostPort(options.resolveTo);
    if (mapped === null) assert.deepEqual(routed, { ...t, resolved: false });
    else {
      assert.deepEqual(routed, { ...mapped, resolved: true });
      reached.routed++;
    }

    if (options.address !== null || options.port !== null) {
      const addr = formatAddress(options.address ?? undefined, options.port ?? undefined);
      assert.ok(addr.endsWith(`:${options.port ?? 0}`), `formatAddress gave ${addr}`);
      const back = parseHostPort(addr);
      // Node writes an IPv4-mapped client address as ::ffff:<dotted quad>, never in hex.
      const raw = options.address ?? '';
      const mapped4 = /^::ffff:\d+\.\d+\.\d+\.\d+$/.test(raw);
      const a = mapped4 ? raw.slice('::ffff:'.length) : raw;
      const fromNode = mapped4 || !raw.startsWith('::ffff:');
      if (fromNode && /^[0-9a-f.:]+$/i.test(a) && options.port !== null && options.port >= 1 && options.port <= 65535) {
        assert.deepEqual(back, { host: a.toLowerCase(), port: options.port }, `X-Halton-Client ${addr} does not parse back`);
        reached.addresses++;
      }
    }
  },
};

test('fuzz: edge CONNECT target parsing (pure)', async (t) => {
  await runTarget(t, target, fuzzConfig('edge-parse', 100_000));
});
