// Attribution end to end (issue 3, Must-show 4): real edge and daemon processes, a fake provider over
// TLS, and real clients — python3 urllib going through HTTPS_PROXY and trusting the meter's bundle
// via SSL_CERT_FILE, the way `halton-meter env` sets a shell up — started in their own working
// directories. The daemon must find each client process from its connection and name the project
// the developer would: .haltonrc, HALTON_PROJECT, the git root, the working directory.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startMeter, type MeterProcs } from '../helpers/meter.js';

let pki: TestPki;
let fake: FakeProvider;
let meter: MeterProcs;
let work: string;

before(async () => {
  pki = makeTestPki();
  fake = await startFakeProvider(pki);
  meter = await startMeter({ pki, upstreamPort: fake.port });
  work = realpathSync(mkdtempSync(join(tmpdir(), 'hm-attr-e2e-')));
});

after(async () => {
  await meter?.stop();
  await fake?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

function dir(...parts: string[]): string {
  const d = join(work, ...parts);
  mkdirSync(d, { recursive: true });
  return d;
}

/** A real repository root: what the daemon looks for is a `.git` with a HEAD. */
function gitRepo(name: string): string {
  const d = dir(name);
  mkdirSync(join(d, '.git', 'objects'), { recursive: true });
  mkdirSync(join(d, '.git', 'refs', 'heads'), { recursive: true });
  writeFileSync(join(d, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  return d;
}

/** The client's environment: a shell after `eval "$(halton-meter env)"`, nothing of the test runner's own project. */
function clientEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['HALTON_PROJECT', 'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy']) delete env[k];
  return { ...env, HTTPS_PROXY: `http://127.0.0.1:${meter.edgePort}`, SSL_CERT_FILE: meter.clientBundlePath, ...extra };
}

// The client forks and its first half exits at once, so the process that makes the call is
// re-parented away from the test runner: run from an IDE's terminal, the runner has a --folder-uri
// ancestor, and rule 4 (IDE workspace) would rightly beat the git root and the directory name.
const DETACH = 'import os\nif os.fork():\n    os._exit(0)\n';

// argv: model, then "stream" or "json". The meter holds back the last byte of a fresh connection's
// first answer (chunked or content-length) until the lookup is done, at most 150 ms.
const URLLIB_CLIENT = `${DETACH}import json, sys, urllib.request
model, stream = sys.argv[1], sys.argv[2] == "stream"
body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
if stream:
    body.update(stream=True, stream_options={"include_usage": True})
req = urllib.request.Request("https://api.openai.com/v1/chat/completions", data=json.dumps(body).encode(),
    headers={"content-type": "application/json", "authorization": "Bearer sk-test"})
with urllib.request.urlopen(req, timeout=20) as res:
    text = res.read().decode()
if stream:
    usage = [json.loads(l[6:]) for l in text.splitlines() if l.startswith("data: {")][-1]["usage"]
else:
    usage = json.loads(text)["usage"]
print(usage["prompt_tokens"])
`;

/** Runs python3 in `cwd`; resolves with its output once the (detached) client has closed it. */
function python(script: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', script, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    // 'close' waits for the pipes, which the forked client holds until it exits.
    child.once('close', () => resolve({ stdout, stderr }));
  });
}

async function rowsFor(model: string, settleMs = 400): Promise<Array<Record<string, unknown>>> {
  await meter.waitForRows(1, `r.model_requested = '${model}'`, 15_000);
  // Give a duplicate the chance to show up before counting.
  await new Promise((r) => setTimeout(r, settleMs));
  return meter.rows(`r.model_requested = '${model}'`);
}

describe('attribution end to end: real clients in real directories', () => {
  test('three git repositories: .haltonrc, HALTON_PROJECT, plain — three projects, three rules', async () => {
    const withRc = gitRepo('Repo With RC');
    writeFileSync(join(withRc, '.haltonrc'), '# project for the whole repository\nproject = "Billing-API"\n');
    const withEnv = gitRepo('repo-with-env');
    gitRepo('Plain Repo');

    const runs = await Promise.all([
      python(URLLIB_CLIENT, ['attr-rc', 'stream'], dir('Repo With RC', 'src', 'deep'), clientEnv()),
      python(URLLIB_CLIENT, ['attr-env', 'stream'], withEnv, clientEnv({ HALTON_PROJECT: 'Growth' })),
      python(URLLIB_CLIENT, ['attr-git', 'stream'], dir('Plain Repo', 'tools'), clientEnv()),
    ]);
    for (const r of runs) assert.equal(r.stdout.trim(), '1500', r.stderr);

    const expected: Array<[string, string, string]> = [
      ['attr-rc', 'billing-api', 'haltonrc'],
      ['attr-env', 'growth', 'env'],
      ['attr-git', 'plain-repo', 'git_root'],
    ];
    const projects = new Set<string>();
    for (const [model, project, rule] of expected) {
      const rows = await rowsFor(model);
      assert.equal(rows.length, 1, model);
      assert.equal(rows[0].project, project, model);
      assert.equal(rows[0].attribution_rule, rule, model);
      assert.match(String(rows[0].client_name), /^python/, model);
      assert.ok(Number(rows[0].client_pid) > 0, model);
      projects.add(String(rows[0].project));
    }
    assert.equal(projects.size, 3);
  });

  test('a directory outside any repository: rule cwd with the directory name, normalised', async () => {
    const scratch = dir('Scratch Notes (2024)');
    const r = await python(URLLIB_CLIENT, ['attr-cwd', 'stream'], scratch, clientEnv());
    assert.equal(r.stdout.trim(), '1500', r.stderr);
    const rows = await rowsFor('attr-cwd');
    assert.equal(rows.length, 1);
    assert.equal(rows[0].project, 'scratch-notes-2024');
    assert.equal(rows[0].attribution_rule, 'cwd');
  });

  test('the proxy URL user beats the .haltonrc of the directory', async () => {
    const r = await python(URLLIB_CLIENT, ['attr-proxy-user', 'stream'], dir('Repo With RC'), clientEnv({ HTTPS_PROXY: `http://ops-team:x@127.0.0.1:${meter.edgePort}` }));
    assert.equal(r.stdout.trim(), '1500', r.stderr);
    const rows = await rowsFor('attr-proxy-user');
    assert.equal(rows.length, 1);
    assert.equal(rows[0].project, 'ops-team');
    assert.equal(rows[0].attribution_rule, 'proxy_user');
  });

  test('the attribution.resolved log line carries the winning rule', async (t) => {
    const level = process.env.HALTON_METER_LOG_LEVEL;
    if (level === 'warn' || level === 'error') {
      t.skip(`HALTON_METER_LOG_LEVEL=${level} hides info lines`);
      return;
    }
    const [row] = await rowsFor('attr-rc', 0);
    const line = meter
      .daemonLog()
      .split('\n')
      .filter((l) => l.includes('"attribution.resolved"') && l.includes(String(row.id)))
      .map((l) => JSON.parse(l) as Record<string, unknown>)[0];
    assert.ok(line, 'attribution.resolved for the row');
    assert.equal(line.rule, 'haltonrc');
    assert.equal(line.project, 'billing-api');
  });
});

describe('short-lived clients: one row whether or not the process was still there', () => {
  test('curl, which exits the moment its answer is complete', async (t) => {
    const cwd = dir('curl-oneshot');
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        'curl',
        ['-sS', '--fail', '-o', '/dev/null', '--cacert', meter.clientBundlePath, '-x', `http://127.0.0.1:${meter.edgePort}`,
          '-H', 'content-type: application/json', '-d', JSON.stringify({ model: 'attr-curl', messages: [] }), 'https://api.openai.com/v1/chat/completions'],
        { cwd, env: clientEnv(), stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`curl exited ${code}: ${err}`))));
    });
    const rows = await rowsFor('attr-curl');
    assert.equal(rows.length, 1);
    // Found in time: its directory (cwd); gone before the lookup reached it: misc (unresolved).
    t.diagnostic(`rule ${String(rows[0].attribution_rule)}, project ${String(rows[0].project)}`);
  });

  test(
    'a one-shot python call with a JSON (content-length) answer is attributed by its directory',
    async () => {
      const repo = gitRepo('json-oneshot');
      const rules: string[] = [];
      for (let i = 0; i < 5; i++) {
        const model = `attr-json-${i}`;
        const r = await python(URLLIB_CLIENT, [model, 'json'], repo, clientEnv());
        assert.equal(r.stdout.trim(), '1500', r.stderr);
        const rows = await rowsFor(model, 0);
        assert.equal(rows.length, 1);
        rules.push(String(rows[0].attribution_rule));
      }
      assert.deepEqual(rules, Array(5).fill('git_root'));
    },
  );

  test('a client that hangs up and exits as soon as the response headers arrive', async (t) => {
    const script = `${DETACH}import http.client, json, os, ssl, sys
ctx = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
c = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]), context=ctx, timeout=20)
c.set_tunnel("api.openai.com", 443)
c.request("POST", "/v1/chat/completions", body=json.dumps({"model": "attr-exit-fast", "messages": [], "stream": True}),
          headers={"content-type": "application/json", "x-fake-delay-ms": "150"})
print(c.getresponse().status, flush=True)
os._exit(0)
`;
    const r = await python(script, [String(meter.edgePort)], dir('exit-fast'), clientEnv());
    assert.equal(r.stdout.trim(), '200', r.stderr);
    const rows = await rowsFor('attr-exit-fast', 1_500);
    assert.equal(rows.length, 1);
    t.diagnostic(`rule ${String(rows[0].attribution_rule)}, project ${String(rows[0].project)}, error ${String(rows[0].error_class)}`);
    assert.equal(rows[0].outcome, 'aborted');
    // Which rule depends on how far the lookup got before the process vanished: cwd (found and read),
    // default (found, gone before its directory was read) or unresolved (never found). One row, always.
  });
});
