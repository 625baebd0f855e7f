// The commands a user types: `serve` (what `npm start` runs) on a fresh HOME, `selftest`, `env`, `run`,
// and one clear line for bad input.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { repoRoot, startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { freePort, waitUntil } from '../helpers/meter.js';
import { makeTestPki, PROVIDER_TEST_HOSTS, type TestPki } from '../helpers/pki.js';

const run = promisify(execFile);
const BIN = join(repoRoot(), 'bin', 'halton-meter.js');

let pki: TestPki;
let fake: FakeProvider;
let home: string;
let env: NodeJS.ProcessEnv;
let serve: ChildProcess;
let serveOut = '';
let ports: { edge: number; internal: number; api: number };

function cli(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  return run(process.execPath, [BIN, ...args], { env: { ...env, ...extraEnv }, timeout: 60_000 }).then(
    (r) => ({ ...r, code: 0 }),
    (e: { stdout: string; stderr: string; code: number }) => ({ stdout: e.stdout, stderr: e.stderr, code: e.code }),
  );
}

function rows(where: string): Array<Record<string, unknown>> {
  const db = new Database(join(home, '.halton-meter', 'db.sqlite'), { readonly: true });
  try {
    return db.prepare(`SELECT r.*, p.slug AS project FROM requests r JOIN projects p ON p.id = r.project_id WHERE ${where}`).all() as Array<Record<string, unknown>>;
  } finally {
    db.close();
  }
}

before(async () => {
  pki = makeTestPki();
  fake = await startFakeProvider(pki);
  home = mkdtempSync(join(tmpdir(), 'hm-cli-'));
  ports = { edge: await freePort(), internal: await freePort(), api: await freePort() };
  mkdirSync(join(home, '.halton-meter'));
  const resolve = PROVIDER_TEST_HOSTS.filter((h) => h !== 'localhost').map((h) => `"${h}:443" = "127.0.0.1:${fake.port}"`).join(', ');
  writeFileSync(join(home, '.halton-meter', 'config.toml'), `[upstream]\nresolve = { ${resolve} }\nca_file = "${pki.caCertPath}"\n`);
  env = {
    ...process.env,
    HOME: home,
    NO_COLOR: '1',
    HALTON_METER_EDGE_PORT: String(ports.edge),
    HALTON_METER_INTERNAL_PORT: String(ports.internal),
    HALTON_METER_API_PORT: String(ports.api),
  };
  for (const k of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'HALTON_PROJECT']) delete env[k];
  serve = spawn(process.execPath, [BIN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  serve.stdout?.on('data', (d: Buffer) => (serveOut += d.toString()));
  serve.stderr?.on('data', (d: Buffer) => (serveOut += d.toString()));
  await waitUntil(() => /self-test: row/.test(serveOut) || serve.exitCode !== null, 60_000, 'serve to report its self-test');
});

after(async () => {
  if (serve && serve.exitCode === null) {
    serve.kill('SIGINT');
    await new Promise((r) => serve.once('exit', r));
  }
  await fake?.close();
});

describe('serve (npm start)', () => {
  test('starts edge and daemon on a fresh HOME and its self-test row appears', () => {
    assert.match(serveOut, /serving/);
    assert.match(serveOut, /✓ self-test: row [0-9a-f-]{36}/);
    const r = rows("p.slug = 'halton-meter:selftest'");
    assert.ok(r.length >= 1);
    assert.equal(r[0].attribution_rule, 'selftest');
    assert.equal(r[0].tokens_complete, 1);
  });

  test('selftest exits 0 and prints the path it proved', async () => {
    const r = await cli(['selftest']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /self-test passed/);
    assert.match(r.stdout, new RegExp(`edge 127\\.0\\.0\\.1:${ports.edge} -> daemon 127\\.0\\.0\\.1:${ports.internal}`));
    assert.match(r.stdout, /row [0-9a-f-]{36}/);
  });

  test('env prints the proxy and CA variables, for bash and fish', async () => {
    const bash = await cli(['env']);
    assert.equal(bash.code, 0);
    assert.match(bash.stdout, new RegExp(`export HTTPS_PROXY='http://127\\.0\\.0\\.1:${ports.edge}'`));
    assert.match(bash.stdout, /export SSL_CERT_FILE='.*ca-bundle\.pem'/);
    assert.match(bash.stdout, /export NODE_EXTRA_CA_CERTS='.*mitmproxy-ca-cert\.pem'/);
    const fish = await cli(['env', '--shell', 'fish', '--project', 'Demo']);
    assert.match(fish.stdout, /set -gx HTTPS_PROXY 'http:\/\/demo:x@127\.0\.0\.1:/);
  });

  test('a client with HALTON_PROJECT in its environment is attributed to it (rule env)', async () => {
    const exports = (await cli(['env'])).stdout;
    const vars: NodeJS.ProcessEnv = {};
    for (const m of exports.matchAll(/^export (\w+)='([^']*)'$/gm)) vars[m[1]] = m[2];
    // The meter CA in the bundle, plus the fake upstream's CA for hosts the meter does not decrypt.
    await run('curl', ['-sS', '--fail', '--cacert', String(vars.SSL_CERT_FILE), '-x', String(vars.HTTPS_PROXY), '-H', 'content-type: application/json',
      '-d', JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [] }), 'https://api.anthropic.com/v1/messages'],
      { env: { ...process.env, HALTON_PROJECT: 'From-Env' } });
    await waitUntil(() => rows("p.slug = 'from-env'").length === 1, 10_000, 'env-attributed row');
    const r = rows("p.slug = 'from-env'")[0];
    assert.equal(r.attribution_rule, 'env');
    assert.equal(r.client_name, 'curl');
    assert.ok(Number(r.client_pid) > 0);
  });

  test('run --project puts the calls of one command in that project', async () => {
    const script = `import json,urllib.request
req=urllib.request.Request("https://api.openai.com/v1/chat/completions",data=json.dumps({"model":"gpt-4o-mini","messages":[]}).encode(),headers={"content-type":"application/json"})
print(json.loads(urllib.request.urlopen(req).read())["usage"]["prompt_tokens"])`;
    // The child trusts the meter's bundle (system roots + meter CA): enough for a metered host.
    const r = await cli(['run', '--project', 'Run-Demo', '--', 'python3', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '1500');
    await waitUntil(() => rows("p.slug = 'run-demo'").length === 1, 10_000, 'run row');
    assert.equal(rows("p.slug = 'run-demo'")[0].attribution_rule, 'proxy_user');
    const failing = await cli(['run', '--', 'python3', '-c', 'import sys; sys.exit(7)']);
    assert.equal(failing.code, 7);
  });

  test('Ctrl-C stops both processes', async () => {
    serve.kill('SIGINT');
    const code = await new Promise<number | null>((r) => serve.once('exit', (c) => r(c)));
    assert.equal(code, 0);
    const health = await fetch(`http://127.0.0.1:${ports.api}/health`).then(() => 'up', () => 'down');
    assert.equal(health, 'down');
    const edge = await fetch(`http://127.0.0.1:${ports.edge}/health`).then(() => 'up', () => 'down');
    assert.equal(edge, 'down');
  });
});

describe('bad input', () => {
  test('each gives one clear line, a non-zero exit and no stack trace', async () => {
    const badHome = mkdtempSync(join(tmpdir(), 'hm-bad-'));
    mkdirSync(join(badHome, '.halton-meter'));
    writeFileSync(join(badHome, '.halton-meter', 'config.toml'), '[daemon]\nedge_port = "80x1"\n');
    const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
      [['serve'], { HOME: badHome }, /edge_port/],
      [['selftest'], { HOME: badHome }, /edge_port/],
      [['nonsense'], {}, /unknown command/],
      [['env', '--shell', 'tcsh'], {}, /unknown shell/],
      [['env', '--project', 'Not A Slug!'], {}, /not a valid project slug/],
      [['run', '--', 'definitely-not-a-command-xyz'], {}, /command not found/],
      [['selftest'], { HALTON_METER_EDGE_PORT: String(await freePort()) }, /cannot go through the edge|no halton-meter CA/],
    ];
    for (const [args, extra, re] of cases) {
      const r = await cli(args, extra);
      assert.notEqual(r.code, 0, `${args.join(' ')} should fail`);
      assert.match(r.stderr, re, `${args.join(' ')}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at .*\(.*:\d+:\d+\)/, `stack trace from ${args.join(' ')}`);
      assert.ok(r.stderr.trim().split('\n').length <= 2, `${args.join(' ')} printed more than a line and a hint: ${r.stderr}`);
    }
  });
});
