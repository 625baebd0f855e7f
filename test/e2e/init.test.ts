// `init` with the process supervisor, for real: a temporary HOME, free ports from HALTON_METER_*_PORT,
// a fake provider behind [upstream] resolve, and a temporary venv (python3 first on PATH) with a
// stand-in certifi package. Brings edge + daemon up and self-tests; a second init changes nothing and
// restarts nothing; stop stops only the daemon while traffic still passes through the edge; start
// brings it back; a SIGKILLed daemon is restarted by the supervisor; a rebuilt venv gets its marker
// back; init --clean keeps rows, config.toml and the CA. Every process started is killed at the end.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { repoRoot, startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { freePort, waitUntil } from '../helpers/meter.js';
import { makeTestPki, PROVIDER_TEST_HOSTS, type TestPki } from '../helpers/pki.js';
import { makeCertifiVenv } from '../helpers/certifi-venv.js';

const run = promisify(execFile);
const BIN = join(repoRoot(), 'bin', 'halton-meter.js');
const MARKER = '# halton-meter local CA';
const ORIGINAL_BUNDLE = '# Issuer: CN=Some Root\n-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----\n';

let pki: TestPki;
let fake: FakeProvider;
let home: string;
let env: NodeJS.ProcessEnv;
let ports: { edge: number; internal: number; api: number };
let certifiBundle: string;
let clientBundle: string;
const seenPids = new Set<number>();

function cli(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  return run(process.execPath, [BIN, ...args], { env: { ...env, ...extra }, timeout: 120_000 }).then(
    (r) => ({ ...r, code: 0 }),
    (e: { stdout: string; stderr: string; code: number }) => ({ stdout: e.stdout, stderr: e.stderr, code: e.code }),
  );
}

const dataDir = (): string => join(home, '.halton-meter');
function pidOf(what: 'edge' | 'daemon' | 'supervisor'): number | null {
  try {
    const pid = Number(readFileSync(join(dataDir(), 'run', `${what}.pid`), 'utf8').trim());
    seenPids.add(pid);
    return pid;
  } catch {
    return null;
  }
}
const pids = (): Record<string, number | null> => ({ edge: pidOf('edge'), daemon: pidOf('daemon'), supervisor: pidOf('supervisor') });
const alive = (pid: number | null): boolean => {
  if (pid === null) return false;
  try {
    process.kill(pid, 0);
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

async function health(port: number): Promise<Record<string, unknown> | null> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
    return r.status === 200 ? ((await r.json()) as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function rowCount(): number {
  const db = new Database(join(dataDir(), 'db.sqlite'), { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM requests').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** One Anthropic call through the edge with curl, trusting the meter CA and the fake upstream's. */
async function callThroughEdge(): Promise<number> {
  const r = await run('curl', ['-sS', '--fail', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', clientBundle, '-x', `http://127.0.0.1:${ports.edge}`,
    '-H', 'content-type: application/json', '-d', JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [] }), 'https://api.anthropic.com/v1/messages'], { env: { PATH: process.env.PATH } });
  return Number(r.stdout);
}

function mtimes(files: string[]): number[] {
  return files.map((f) => statSync(f).mtimeMs);
}

before(async () => {
  pki = makeTestPki();
  fake = await startFakeProvider(pki);
  home = mkdtempSync(join(tmpdir(), 'hm-init-'));
  ports = { edge: await freePort(), internal: await freePort(), api: await freePort() };
  mkdirSync(dataDir());
  const resolve = PROVIDER_TEST_HOSTS.filter((h) => h !== 'localhost').map((h) => `"${h}:443" = "127.0.0.1:${fake.port}"`).join(', ');
  writeFileSync(join(dataDir(), 'config.toml'), `# my settings\n[upstream]\nresolve = { ${resolve} }\nca_file = "${pki.caCertPath}"\n`);
  // A venv first on PATH, with a stand-in certifi package: init must patch it, and only it.
  const venv = join(home, 'venv');
  certifiBundle = makeCertifiVenv(venv, ORIGINAL_BUNDLE).bundle;
  env = {
    ...process.env,
    HOME: home,
    PATH: `${join(venv, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    NO_COLOR: '1',
    HALTON_METER_EDGE_PORT: String(ports.edge),
    HALTON_METER_INTERNAL_PORT: String(ports.internal),
    HALTON_METER_API_PORT: String(ports.api),
  };
  for (const k of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'HALTON_PROJECT', 'HALTON_METER_HOME', 'HALTON_METER_CA_DIR']) delete env[k];
});

after(async () => {
  // The supervisor's process group first (it must not restart what we kill next), then every edge and
  // daemon pid seen: they run in their own sessions.
  const sup = pidOf('supervisor');
  pids();
  if (sup !== null) {
    try {
      process.kill(-sup, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  for (const pid of seenPids) {
    try {
      if (/halton-meter/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))) process.kill(pid, 'SIGKILL');
    } catch {
      // Gone.
    }
  }
  await fake?.close();
});

describe('init with the process supervisor', () => {
  let first: Record<string, number | null>;

  test('init --apps --non-interactive --supervisor process brings edge and daemon up and self-tests', async () => {
    const r = await cli(['init', '--apps', '--non-interactive', '--supervisor', 'process']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const step of ['CA', 'ports', 'files', 'certifi', 'supervisor', 'units', 'edge', 'daemon', 'self-test']) {
      assert.match(r.stdout, new RegExp(`^✓ ${step}: `, 'm'), `step ${step} in:\n${r.stdout}`);
    }
    assert.doesNotMatch(r.stdout, /^✗/m);
    first = pids();
    assert.ok(alive(first.edge) && alive(first.daemon) && alive(first.supervisor), JSON.stringify(first));
    assert.equal((await health(ports.edge))?.pid, first.edge);
    assert.equal((await health(ports.api))?.status, 'ok');
    assert.equal(readFileSync(join(dataDir(), 'install-mode'), 'utf8'), 'process\n');
    const envd = readFileSync(join(home, '.config', 'environment.d', '60-halton-meter.conf'), 'utf8');
    assert.match(envd, new RegExp(`^HTTPS_PROXY=http://127\\.0\\.0\\.1:${ports.edge}$`, 'm'));
    for (const k of ['NO_PROXY', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO', 'AWS_CA_BUNDLE']) assert.match(envd, new RegExp(`^${k}=`, 'm'));
    assert.match(readFileSync(join(dataDir(), 'env'), 'utf8'), new RegExp(`^export HTTPS_PROXY='http://127\\.0\\.0\\.1:${ports.edge}'$`, 'm'));
    const bundle = readFileSync(certifiBundle, 'utf8');
    assert.equal(bundle.split('\n').filter((l) => l.startsWith(MARKER)).length, 1);
    assert.ok(bundle.startsWith(ORIGINAL_BUNDLE));
    const eff = JSON.parse(readFileSync(join(dataDir(), 'effective-ports.json'), 'utf8')) as Record<string, number>;
    assert.deepEqual([eff.edge_port, eff.internal_port, eff.api_port], [ports.edge, ports.internal, ports.api]);
    // Shell rc files are never written on Linux.
    for (const rc of ['.bashrc', '.zshrc', '.profile', '.bash_profile']) assert.ok(!existsSync(join(home, rc)), rc);
    clientBundle = join(home, 'client-bundle.pem');
    writeFileSync(clientBundle, readFileSync(join(home, '.mitmproxy', 'mitmproxy-ca-cert.pem'), 'utf8') + pki.caCert);
  });

  test('a second init changes nothing and restarts nothing', async () => {
    const files = [
      join(dataDir(), 'env'),
      join(dataDir(), 'ca-bundle.pem'),
      join(dataDir(), 'effective-ports.json'),
      join(dataDir(), 'units', 'halton-meter.json'),
      join(dataDir(), 'units', 'halton-meter-edge.json'),
      join(home, '.config', 'environment.d', '60-halton-meter.conf'),
      certifiBundle,
    ];
    const before = mtimes(files);
    const r = await cli(['init', '--apps', '--non-interactive']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^init: unchanged \(nothing written, nothing restarted\)$/m);
    assert.match(r.stdout, /already has the marker/);
    assert.match(r.stdout, /✓ edge: healthy; not restarted/);
    assert.match(r.stdout, /✓ daemon: healthy, version [^;]+; not restarted/);
    assert.deepEqual(pids(), first);
    assert.deepEqual(mtimes(files), before);
  });

  test('traffic is metered; stop stops only the daemon and traffic still passes through the edge; start brings it back', async () => {
    const rows0 = rowCount();
    assert.equal(await callThroughEdge(), 200);
    await waitUntil(() => rowCount() === rows0 + 1, 10_000, 'a metered row');
    const stop = await cli(['stop']);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, /stopped the daemon; the edge stays up/);
    assert.equal(await health(ports.api), null);
    assert.equal(pidOf('edge'), first.edge);
    assert.ok(alive(first.edge));
    assert.ok(!alive(first.daemon));
    // The supervisor holds it down: it does not come back by itself.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await health(ports.api), null);
    assert.equal(await callThroughEdge(), 200, 'passthrough while the daemon is stopped');
    assert.equal(rowCount(), rows0 + 1, 'passthrough writes no row');
    const start = await cli(['start']);
    assert.equal(start.code, 0, start.stderr);
    assert.equal((await health(ports.api))?.status, 'ok');
    const now = pids();
    assert.equal(now.edge, first.edge);
    assert.notEqual(now.daemon, first.daemon);
    assert.equal(await callThroughEdge(), 200);
    await waitUntil(() => rowCount() === rows0 + 2, 10_000, 'metered again');
  });

  test('a SIGKILLed daemon is restarted by the supervisor', async () => {
    const before = pids();
    process.kill(before.daemon as number, 'SIGKILL');
    await waitUntil(async () => pidOf('daemon') !== before.daemon && (await health(ports.api))?.status === 'ok', 15_000, 'the daemon back');
    const now = pids();
    assert.equal(now.edge, before.edge);
    assert.equal(now.supervisor, before.supervisor);
    assert.ok(alive(now.daemon));
    const log = readFileSync(join(dataDir(), 'supervisor.log'), 'utf8');
    assert.match(log, new RegExp(`"event":"supervisor.child_exit","component":"daemon","pid":${before.daemon},"code":null,"signal":"SIGKILL"`));
    assert.match(log, /supervisor\.restart_scheduled/);
  });

  test('a rebuilt venv (bundle replaced) gets its marker back, once, and nothing restarts', async () => {
    const before = pids();
    writeFileSync(certifiBundle, ORIGINAL_BUNDLE);
    const r = await cli(['init', '--apps', '--non-interactive']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /re-applied \(the bundle was replaced: venv rebuilt or certifi upgraded\)/);
    assert.equal(readFileSync(certifiBundle, 'utf8').split('\n').filter((l) => l.startsWith(MARKER)).length, 1);
    assert.deepEqual(pids(), before);
  });

  test('a killed supervisor takes nothing down; the next init adopts the edge and the daemon, restarting neither', async () => {
    const before = pids();
    process.kill(before.supervisor as number, 'SIGKILL');
    await waitUntil(() => !alive(before.supervisor), 5000, 'the supervisor gone');
    assert.ok(alive(before.edge) && alive(before.daemon));
    assert.equal(await callThroughEdge(), 200);
    const r = await cli(['init', '--apps', '--non-interactive']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`✓ supervisor: started \\(pid \\d+\\); edge adopted \\(pid ${before.edge}\\), daemon adopted \\(pid ${before.daemon}\\)`));
    assert.match(r.stdout, /✓ daemon: healthy, version [^;]+; not restarted/);
    const now = pids();
    assert.deepEqual([now.edge, now.daemon], [before.edge, before.daemon]);
    assert.notEqual(now.supervisor, before.supervisor);
    // The new supervisor watches the adopted daemon through /proc and restarts it when it dies.
    process.kill(before.daemon as number, 'SIGKILL');
    await waitUntil(async () => pidOf('daemon') !== before.daemon && (await health(ports.api))?.status === 'ok', 15_000, 'the adopted daemon restarted');
  });

  test('init --clean rebuilds units and state, keeps rows, config.toml bytes and the CA; the edge keeps serving', async () => {
    const rows = rowCount();
    const config = readFileSync(join(dataDir(), 'config.toml'));
    const ca = readFileSync(join(home, '.mitmproxy', 'mitmproxy-ca-cert.pem'), 'utf8');
    const before = pids();
    const r = await cli(['init', '--apps', '--non-interactive', '--clean']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /✓ clean: stopped the daemon; removed units\/, run\/ \(pid files\), effective-ports\.json, install-mode; kept db\.sqlite, config\.toml and the CA/);
    assert.match(r.stdout, new RegExp(`✓ supervisor: started \\(pid \\d+\\); edge adopted \\(pid ${before.edge}\\), daemon started`));
    const now = pids();
    assert.equal(now.edge, before.edge);
    assert.notEqual(now.daemon, before.daemon);
    assert.notEqual(now.supervisor, before.supervisor);
    assert.ok(rowCount() >= rows + 1, 'rows kept (plus the self-test row)');
    assert.deepEqual(readFileSync(join(dataDir(), 'config.toml')), config);
    assert.equal(readFileSync(join(home, '.mitmproxy', 'mitmproxy-ca-cert.pem'), 'utf8'), ca);
    assert.ok(existsSync(join(dataDir(), 'effective-ports.json')));
    assert.equal(await callThroughEdge(), 200);
  });

  test('bad arguments and a missing install: one clear line, non-zero exit', async () => {
    const bad = await cli(['init', '--supervisor', 'launchd']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown supervisor "launchd"/);
    const empty = mkdtempSync(join(tmpdir(), 'hm-empty-'));
    for (const cmd of ['stop', 'start', 'restart']) {
      const r = await cli([cmd], { HOME: empty });
      assert.equal(r.code, 1, cmd);
      assert.match(r.stderr, /not installed as a service/);
      assert.ok(r.stderr.trim().split('\n').length <= 2, r.stderr);
    }
  });
});
