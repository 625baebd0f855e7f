// Body capture end to end (issue 5, Must-show 4): real edge and daemon processes, a fake provider
// over TLS, and python3 clients in temporary git repositories. A repository whose .haltonrc says
// `body_capture = "on"` gets its bodies stored, redacted; one without gets none. Secrets planted in
// the prompt (several provider formats, one hidden behind JSON escapes) and in the x-api-key /
// Authorization headers must never reach the database file: the raw bytes of db.sqlite and
// db.sqlite-wal are searched for each of them, while the daemon runs and after it has stopped.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
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
  work = realpathSync(mkdtempSync(join(tmpdir(), 'hm-bodies-e2e-')));
});

after(async () => {
  await meter?.stop();
  await fake?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

// Each secret ends in a unique marker, so a search for the marker finds any copy of the secret.
const k = (...parts: string[]): string => parts.join('');
const PLANTED = {
  anthropic: k('sk-ant-api03-', 'PlantAnthropicHdr9d8f7g6h5j4k3l2'),
  anthropicPrompt: k('sk-ant-api03-', 'PlantAnthropicPrompt1q2w3e4r5t6y7'),
  openai: k('sk-proj-', 'PlantOpenaiBearer0a9s8d7f6g5h4j3k2l1'),
  openaiPrompt: k('sk-proj-', 'PlantOpenaiPrompt0z9x8c7v6b5n4m3q2w1'),
  google: k('AIza', 'SyPlantGoogleKey0123456789abcdefgh'),
  xai: k('xai-', 'PlantXaiKey0123456789abcdefghijklmn'),
  groq: k('gsk_', 'PlantGroqKey0123456789abcdefghijkl'),
  aws: k('AKIA', 'PLANTAWSKEY12345'),
  github: k('ghp_', 'PlantGithubToken0123456789abcdefghij'),
  jwt: k('eyJhbGciOiJIUzI1NiJ9', '.', 'eyJzdWIiOiJQbGFudEp3dCJ9', '.', 'PlantJwtSignature0123456789'),
  escaped: k('sk-ant-api03-', 'PlantEscapedKey0123456789abcdefgh'),
  field: 'PlantPasswordFieldValue42',
};
// What must never appear in the file: the distinctive middle of each secret.
const MARKERS = ['PlantAnthropicHdr', 'PlantAnthropicPrompt', 'PlantOpenaiBearer', 'PlantOpenaiPrompt', 'PlantGoogleKey', 'PlantXaiKey', 'PlantGroqKey', 'PLANTAWSKEY', 'PlantGithubToken', 'eyJzdWIiOiJQbGFudEp3dCJ9', 'PlantJwtSignature', 'PlantEscapedKey', 'PlantPasswordFieldValue'];

function dir(...parts: string[]): string {
  const d = join(work, ...parts);
  mkdirSync(d, { recursive: true });
  return d;
}

function gitRepo(name: string): string {
  const d = dir(name);
  mkdirSync(join(d, '.git', 'objects'), { recursive: true });
  mkdirSync(join(d, '.git', 'refs', 'heads'), { recursive: true });
  writeFileSync(join(d, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  return d;
}

function clientEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const v of ['HALTON_PROJECT', 'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy']) delete env[v];
  return { ...env, HTTPS_PROXY: `http://127.0.0.1:${meter.edgePort}`, SSL_CERT_FILE: meter.clientBundlePath };
}

// Detached (see attribution.test.ts). argv: provider (anthropic|openai), model, stream|json, body file,
// header key. The body file is sent as is, so it can hold JSON escapes.
const CLIENT = `import os
if os.fork():
    os._exit(0)
import json, sys, urllib.request
provider, model, stream, body_file, key = sys.argv[1:6]
body = open(body_file, "rb").read()
if provider == "anthropic":
    url = "https://api.anthropic.com/v1/messages"
    headers = {"content-type": "application/json", "x-api-key": key, "anthropic-version": "2023-06-01"}
else:
    url = "https://api.openai.com/v1/chat/completions"
    headers = {"content-type": "application/json", "authorization": "Bearer " + key}
req = urllib.request.Request(url, data=body, headers=headers)
with urllib.request.urlopen(req, timeout=20) as res:
    text = res.read().decode()
print("ok" if text else "empty")
`;

function python(args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', CLIENT, ...args], { cwd, env: clientEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', () => resolve({ stdout, stderr }));
  });
}

/** A request body with every planted secret in the prompt; one key only as JSON escapes. */
function plantedBody(model: string, extra: Record<string, unknown> = {}): string {
  const prompt = [
    `anthropic ${PLANTED.anthropicPrompt}`,
    `openai ${PLANTED.openaiPrompt}`,
    `google ${PLANTED.google}`,
    `xai ${PLANTED.xai}`,
    `groq ${PLANTED.groq}`,
    `aws ${PLANTED.aws}`,
    `github ${PLANTED.github}`,
    `Authorization: Bearer ${PLANTED.jwt}`,
    `password = "${PLANTED.field}"`,
    'ESCAPED_HERE',
  ].join('\n');
  const json = JSON.stringify({ model, max_tokens: 20, ...extra, messages: [{ role: 'user', content: prompt }] });
  // `-` written as \u002d: the raw bytes do not contain the key, its decoded text does.
  const escaped = PLANTED.escaped.replace(/-/g, '\\u002d');
  assert.ok(!escaped.includes(PLANTED.escaped));
  return json.replace('ESCAPED_HERE', `escaped ${escaped}`);
}

function bodiesFor(requestId: string): Record<string, unknown> | undefined {
  const db = new Database(meter.dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT * FROM request_bodies WHERE request_id = ?').get(requestId) as Record<string, unknown> | undefined;
  } finally {
    db.close();
  }
}

async function waitForBody(requestId: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const b = bodiesFor(requestId);
    if (b) return b;
    if (Date.now() > until) throw new Error(`no body for ${requestId}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function assertNoSecretOnDisk(when: string): void {
  const files = [meter.dbPath, `${meter.dbPath}-wal`, join(meter.home, '.halton-meter', 'daemon.log')];
  let searched = 0;
  for (const f of files) {
    if (!existsSync(f)) continue;
    const raw = readFileSync(f);
    searched += raw.length;
    for (const m of MARKERS) assert.equal(raw.indexOf(m), -1, `${when}: "${m}" found in ${f}`);
    // The same search as `grep -c`, on the bytes as they are (latin1 keeps every byte as is).
    const text = raw.toString('latin1');
    for (const s of Object.values(PLANTED)) assert.ok(!text.includes(s), `${when}: a planted secret is in ${f}`);
  }
  assert.ok(searched > 0, 'nothing to search');
}

describe('body capture end to end', () => {
  test('capture on in .haltonrc: rows and redacted bodies, no planted secret in db.sqlite or db.sqlite-wal', async () => {
    const repo = gitRepo('capture-repo');
    writeFileSync(join(repo, '.haltonrc'), 'project = "capture-on"\nbody_capture = "on"\n');
    const a = join(work, 'anthropic.json');
    const o = join(work, 'openai.json');
    writeFileSync(a, plantedBody('bodies-anthropic'));
    writeFileSync(o, plantedBody('bodies-openai', { stream: true, stream_options: { include_usage: true } }));
    const runs = await Promise.all([
      python(['anthropic', 'bodies-anthropic', 'json', a, PLANTED.anthropic], dir('capture-repo', 'src')),
      python(['openai', 'bodies-openai', 'stream', o, PLANTED.openai], repo),
    ]);
    for (const r of runs) assert.equal(r.stdout.trim(), 'ok', r.stderr);

    for (const model of ['bodies-anthropic', 'bodies-openai']) {
      const rows = await meter.waitForRows(1, `r.model_requested = '${model}'`, 15_000);
      assert.equal(rows.length, 1, model);
      assert.equal(rows[0].project, 'capture-on', model);
      assert.equal(rows[0].attribution_rule, 'haltonrc', model);
      const b = await waitForBody(String(rows[0].id));
      assert.equal(b.redacted, 1, model);
      const req = JSON.parse(String(b.request_body)) as { model: string; messages: Array<{ content: string }> };
      assert.equal(req.model, model);
      const content = req.messages[0].content;
      for (const kind of ['anthropic-key', 'openai-key', 'google-key', 'xai-key', 'groq-key', 'aws-access-key', 'github-token', 'jwt', 'credential-field']) {
        assert.ok(content.includes(`[REDACTED:${kind}]`), `${model}: ${kind} in ${content}`);
      }
      assert.ok(content.includes('escaped [REDACTED:anthropic-key]'), content);
      assert.ok(String(b.response_body).length > 0, model);
      assert.equal(Number(b.bytes), Buffer.byteLength(String(b.request_body)) + Buffer.byteLength(String(b.response_body)));
    }
    const stream = meter.rows("r.model_requested = 'bodies-openai'")[0];
    assert.match(String(bodiesFor(String(stream.id))?.response_body), /^data: \{/);
    assertNoSecretOnDisk('daemon running');
  });

  test('a project without capture stores no body', async () => {
    const repo = gitRepo('plain-repo');
    writeFileSync(join(repo, '.haltonrc'), 'project = "capture-off"\n');
    const a = join(work, 'plain.json');
    writeFileSync(a, plantedBody('bodies-off'));
    const r = await python(['anthropic', 'bodies-off', 'json', a, PLANTED.anthropic], repo);
    assert.equal(r.stdout.trim(), 'ok', r.stderr);
    const rows = await meter.waitForRows(1, "r.model_requested = 'bodies-off'", 15_000);
    assert.equal(rows[0].project, 'capture-off');
    // Longer than the capture's flush and retry delays.
    await new Promise((res) => setTimeout(res, 700));
    assert.equal(bodiesFor(String(rows[0].id)), undefined);
    assertNoSecretOnDisk('no capture');
  });

  test('bodies stats counts per project; after the daemon stops the files still hold no secret', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const { repoRoot } = await import('../helpers/fake-provider.js');
    // main.ts may not register `bodies` yet: drive the command module directly through commander.
    const script = `
      const { Command } = await import('commander');
      const { registerBodiesCommand } = await import(${JSON.stringify(join(repoRoot(), 'dist', 'src', 'cli', 'commands', 'bodies.js'))});
      const p = new Command('halton-meter'); registerBodiesCommand(p);
      await p.parseAsync(['node', 'x', 'bodies', 'stats', '--json']);`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { env: meter.env, cwd: repoRoot() });
    const stats = JSON.parse(stdout) as { bodies: number; projects: Array<{ project: string; bodies: number; redacted: number }>; how_to_turn_off: string };
    assert.equal(stats.bodies, 2);
    assert.deepEqual(stats.projects.map((p) => [p.project, p.bodies, p.redacted]), [['capture-on', 2, 2]]);
    assert.match(stats.how_to_turn_off, /body_capture/);
    await meter.stopDaemon('SIGTERM');
    assertNoSecretOnDisk('daemon stopped');
  });
});
