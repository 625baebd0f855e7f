// Upgrade and rollback with two real builds (issue 4, Must-show 1; SPEC §10; seed upgrade-linux).
//
// The project is packed twice with `npm pack` from copies of its packable files: version N (as in
// package.json) and N+1 (the copy's package.json bumped, plus one `additive:` migration so the
// rollback really meets a database written by a newer version). N is installed into a temporary npm
// prefix (`npm install -g --prefix`), `init --apps --non-interactive --supervisor process` runs with
// a temporary HOME and free ports, and a client loop in this process sends calls through the edge to
// a local fake provider over TLS ([upstream] resolve in config.toml). While it runs, N+1 is
// installed into the same prefix and `init --apps --non-interactive` runs again; then N again.
//
// Asserted: zero client failures over the whole sequence; one edge process on one port throughout;
// the daemon logs daemon.exit then daemon.startup.ready from the new version; `status --json`
// reports the new version live; every surface of the seed's "What survives" table holds (rows kept
// and new rows arriving, config.toml byte-identical, effective-ports.json re-validated, same CA, one
// certifi marker, no shell rc written, units regenerated for the new install); a second init
// changes and restarts nothing; after the rollback N's CLI reads every row and N's daemon is
// healthy and writing (the newer additive migration does not make it read-only).
//
// Offline: the packs build with this checkout's node_modules (symlinked); the installs run
// `npm install --offline` from the local npm cache (falling back to --prefer-offline only when the
// cache lacks a package), and better-sqlite3's install script (prebuild-install) finds its native
// binary through npm_config_better_sqlite3_local_prebuilds: a tarball made in `before` from the
// binary this checkout already built, so nothing compiles and nothing is downloaded.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { fetch as undiciFetch, ProxyAgent } from 'undici';
import { repoRoot, startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { freePort, waitUntil } from '../helpers/meter.js';
import { makeTestPki, PROVIDER_TEST_HOSTS, type TestPki } from '../helpers/pki.js';
import { makeCertifiVenv } from '../helpers/certifi-venv.js';

const run = promisify(execFile);
const MARKER = '# halton-meter local CA';
const ORIGINAL_BUNDLE = '# Issuer: CN=Some Root\n-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----\n';
const LOOP_MODEL = 'upgrade-loop';
const ADDITIVE = 'additive: upgrade test (added by test/e2e/upgrade.test.ts to the N+1 pack only)';

const ROOT = repoRoot();
const N = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const N1 = (() => {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(N);
  assert.ok(m, `package.json version ${N} is not semver`);
  return `${m[1]}.${m[2]}.${Number(m[3]) + 1}`;
})();

let work: string;
let prefix: string;
let home: string;
let pki: TestPki;
let fake: FakeProvider;
let ports: { edge: number; internal: number; api: number };
let env: NodeJS.ProcessEnv;
let npmEnv: NodeJS.ProcessEnv;
let certifiBundle: string;
let venvPython: string;
let clientCa = '';
const tgz: Record<'N' | 'N1', string> = { N: '', N1: '' };
const timings: Record<string, number> = {};
const seenPids = new Set<number>();

const dataDir = (): string => join(home, '.halton-meter');
const installedBin = (): string => join(prefix, 'lib', 'node_modules', 'halton-meter', 'bin', 'halton-meter.js');
const installedVersion = (): string => (JSON.parse(readFileSync(join(prefix, 'lib', 'node_modules', 'halton-meter', 'package.json'), 'utf8')) as { version: string }).version;

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    timings[label] = Date.now() - t0;
  }
}

/** The installed CLI, as a user runs it: <prefix>/bin/halton-meter. */
function hm(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return run(join(prefix, 'bin', 'halton-meter'), args, { env, timeout: 120_000 }).then(
    (r) => ({ ...r, code: 0 }),
    (e: { stdout: string; stderr: string; code: number }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: e.code }),
  );
}

function pidOf(what: 'edge' | 'daemon' | 'supervisor'): number | null {
  try {
    const pid = Number(readFileSync(join(dataDir(), 'run', `${what}.pid`), 'utf8').trim());
    seenPids.add(pid);
    return pid;
  } catch {
    return null;
  }
}
const pids = (): Record<'edge' | 'daemon' | 'supervisor', number | null> => ({ edge: pidOf('edge'), daemon: pidOf('daemon'), supervisor: pidOf('supervisor') });

async function health(port: number): Promise<Record<string, unknown> | null> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
    return r.status === 200 ? ((await r.json()) as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function db<T>(fn: (d: Database.Database) => T): T {
  const d = new Database(join(dataDir(), 'db.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return fn(d);
  } finally {
    d.close();
  }
}
const count = (where: string, ...params: unknown[]): number => db((d) => (d.prepare(`SELECT count(*) AS n FROM requests WHERE ${where}`).get(...params) as { n: number }).n);

interface LogEvent {
  event: string;
  version?: string;
  pid?: number;
  ts: string;
}
function daemonEvents(): LogEvent[] {
  const text = existsSync(join(dataDir(), 'daemon.log')) ? readFileSync(join(dataDir(), 'daemon.log'), 'utf8') : '';
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LogEvent);
}

function caFingerprint(): string {
  return new X509Certificate(readFileSync(join(home, '.mitmproxy', 'mitmproxy-ca-cert.pem'))).fingerprint256;
}
const markers = (): number => readFileSync(certifiBundle, 'utf8').split('\n').filter((l) => l.startsWith(MARKER)).length;
const SHELL_RC = ['.bashrc', '.bash_profile', '.profile', '.zshrc', '.zprofile', '.config/fish/config.fish'];

// ---- packing and installing ----------------------------------------------------------------------------

/** Copies the packable files (package.json "files" + what the build needs) and packs them. */
async function pack(version: string, additiveMigration: boolean): Promise<string> {
  const dir = join(work, `pkg-${version}`);
  mkdirSync(dir);
  for (const f of ['bin', 'src', 'scripts/copy-assets.mjs', 'tsconfig.json', 'package.json', 'README.md', 'THIRD_PARTY_LICENSES.md']) {
    if (existsSync(join(ROOT, f))) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
  }
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  pkg.version = version;
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  if (additiveMigration) {
    const file = join(dir, 'src', 'store', 'migrations.ts');
    const text = readFileSync(file, 'utf8');
    const anchor = 'export const LATEST_MIGRATION_ID';
    assert.ok(text.includes(anchor), `${file} has no "${anchor}": update the upgrade test's migration patch`);
    const add =
      `(MIGRATIONS as Migration[]).push({ id: Math.max(...MIGRATIONS.map((m) => m.id)) + 1, name: ${JSON.stringify(ADDITIVE)}, ` +
      `sql: 'CREATE TABLE IF NOT EXISTS upgrade_test_marker (id INTEGER PRIMARY KEY, note TEXT)' });\n\n`;
    writeFileSync(file, text.replace(anchor, add + anchor));
  }
  // `npm pack` runs prepack (= the build) in the copy.
  const r = await run('npm', ['pack', '--pack-destination', work, '--silent'], { cwd: dir, env: npmEnv, timeout: 180_000 });
  const name = r.stdout.trim().split('\n').pop() ?? '';
  assert.match(name, new RegExp(`^halton-meter-${version.replace(/\./g, '\\.')}\\.tgz$`), r.stdout + r.stderr);
  return join(work, name);
}

/** better-sqlite3's prebuild-install looks for <dir>/<name>-v<ver>-node-v<abi>-<platform><libc>-<arch>.tar.gz. */
async function makeLocalPrebuild(dir: string): Promise<void> {
  const mod = join(ROOT, 'node_modules', 'better-sqlite3');
  const version = (JSON.parse(readFileSync(join(mod, 'package.json'), 'utf8')) as { version: string }).version;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  const libc = process.platform === 'linux' && !header?.glibcVersionRuntime ? 'musl' : '';
  mkdirSync(dir, { recursive: true });
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}${libc}-${process.arch}.tar.gz`;
  await run('tar', ['-C', mod, '-czf', join(dir, name), 'build/Release/better_sqlite3.node']);
}

async function npmInstall(tarball: string): Promise<void> {
  const args = ['install', '-g', '--prefix', prefix, tarball, '--no-audit', '--no-fund', '--loglevel=error'];
  try {
    await run('npm', [...args, '--offline'], { env: npmEnv, timeout: 240_000 });
  } catch (e) {
    const text = `${(e as { stderr?: string }).stderr ?? ''}`;
    // Only a cold cache is worth a second try (the npm registry is the one network source allowed).
    if (!/ENOTCACHED/.test(text)) throw new Error(`npm install ${tarball} failed:\n${text}`);
    await run('npm', [...args, '--prefer-offline'], { env: npmEnv, timeout: 240_000 });
  }
}

// ---- the client loop -----------------------------------------------------------------------------------

interface Loop {
  ok: number;
  failures: string[];
  stop: boolean;
  done: Promise<void>;
  /** Edge pids seen by a watcher polling the edge's /health, and polls that got no answer. */
  edgePids: Set<number>;
  edgeMisses: number;
}
let loop: Loop | null = null;

async function oneCall(i: number): Promise<string | null> {
  const stream = i % 3 === 0;
  const agent = new ProxyAgent({ uri: `http://127.0.0.1:${ports.edge}`, requestTls: { ca: clientCa } });
  try {
    const res = await undiciFetch('https://api.anthropic.com/v1/messages', {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', 'x-fake-delay-ms': '20' },
      body: JSON.stringify({ model: LOOP_MODEL, max_tokens: 16, stream, messages: [{ role: 'user', content: `call ${i}` }] }),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await res.text();
    if (res.status !== 200) return `#${i} HTTP ${res.status}: ${text.slice(0, 200)}`;
    if (stream && !text.includes('message_stop')) return `#${i} stream ended early: ${text.slice(-200)}`;
    if (!stream && !text.includes('"usage"')) return `#${i} unexpected body: ${text.slice(0, 200)}`;
    return null;
  } catch (e) {
    const err = e as Error & { cause?: { message?: string; code?: string } };
    return `#${i} ${stream ? 'stream' : 'call'} failed: ${err.message}${err.cause ? ` (${err.cause.code ?? ''} ${err.cause.message ?? ''})` : ''}`;
  } finally {
    await agent.close().catch(() => undefined);
  }
}

function startLoop(): Loop {
  const l: Loop = { ok: 0, failures: [], stop: false, done: Promise.resolve(), edgePids: new Set(), edgeMisses: 0 };
  const calls = (async () => {
    for (let i = 0; !l.stop; i++) {
      const f = await oneCall(i);
      if (f) l.failures.push(f);
      else l.ok++;
    }
  })();
  const watch = (async () => {
    while (!l.stop) {
      const h = await health(ports.edge);
      if (h && typeof h.pid === 'number') l.edgePids.add(h.pid);
      else l.edgeMisses++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  l.done = Promise.all([calls, watch]).then(() => undefined);
  return l;
}

async function loopProgress(n: number, what: string): Promise<void> {
  const target = (loop?.ok ?? 0) + n;
  await waitUntil(() => (loop?.ok ?? 0) >= target || (loop?.failures.length ?? 0) > 0, 30_000, what);
  assert.deepEqual(loop?.failures, [], 'client failures');
}

// ---- setup -----------------------------------------------------------------------------------------------

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'hm-upgrade-'));
  prefix = join(work, 'prefix');
  home = join(work, 'home');
  mkdirSync(join(home, '.halton-meter'), { recursive: true });
  // Run under `npm test`, the environment carries the outer npm's settings (npm_config_local_prefix,
  // npm_config_prefix, npm_package_*...): keep only where the cache and config files are.
  npmEnv = { ...process.env };
  const keep = /^npm_config_(cache|userconfig|globalconfig|registry)$/i;
  for (const k of Object.keys(npmEnv)) if ((/^npm_/i.test(k) && !keep.test(k)) || k === 'INIT_CWD') delete npmEnv[k];
  Object.assign(npmEnv, { npm_config_better_sqlite3_local_prebuilds: join(work, 'prebuilds'), npm_config_update_notifier: 'false' });
  await makeLocalPrebuild(join(work, 'prebuilds'));
  [tgz.N, tgz.N1] = await timed('pack N and N+1 (parallel, each builds with tsc)', () => Promise.all([pack(N, false), pack(N1, true)]));

  pki = makeTestPki();
  fake = await startFakeProvider(pki);
  ports = { edge: await freePort(), internal: await freePort(), api: await freePort() };
  const resolve = PROVIDER_TEST_HOSTS.filter((h) => h !== 'localhost').map((h) => `"${h}:443" = "127.0.0.1:${fake.port}"`).join(', ');
  writeFileSync(join(dataDir(), 'config.toml'), `# my settings, never rewritten\n[upstream]\nresolve = { ${resolve} }\nca_file = "${pki.caCertPath}"\n`);

  // A venv with a stand-in certifi, first on PATH (so no real interpreter's bundle is touched) and
  // named with --python on the first init.
  const venv = join(home, 'venv');
  certifiBundle = makeCertifiVenv(venv, ORIGINAL_BUNDLE).bundle;
  venvPython = join(venv, 'bin', 'python');

  env = {
    ...process.env,
    HOME: home,
    PATH: `${join(venv, 'bin')}:${join(prefix, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    NO_COLOR: '1',
    HALTON_METER_EDGE_PORT: String(ports.edge),
    HALTON_METER_INTERNAL_PORT: String(ports.internal),
    HALTON_METER_API_PORT: String(ports.api),
  };
  for (const k of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy', 'HALTON_PROJECT', 'HALTON_METER_HOME', 'HALTON_METER_CA_DIR']) delete env[k];
  for (const k of Object.keys(env)) if (/^npm_/.test(k)) delete env[k];
});

after(async () => {
  if (loop) {
    loop.stop = true;
    await loop.done.catch(() => undefined);
  }
  // uninstall stops the supervisor, the daemon and the edge; then anything left is killed by pid.
  if (prefix && existsSync(join(prefix, 'bin', 'halton-meter'))) await hm(['uninstall']).catch(() => undefined);
  const sup = pidOf('supervisor');
  pids();
  for (const pid of [sup, ...seenPids]) {
    if (pid === null) continue;
    try {
      if (/halton-meter/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))) process.kill(pid, 'SIGKILL');
    } catch {
      // Gone.
    }
  }
  await fake?.close();
  if (work) rmSync(work, { recursive: true, force: true });
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
  process.stderr.write(`# upgrade test timings (ms): ${JSON.stringify(timings)}\n`);
});

// ---- the sequence ----------------------------------------------------------------------------------------

describe(`upgrade ${N} -> ${N1} -> rollback to ${N}, process supervisor, traffic flowing`, () => {
  const first: { edge: number; daemon: number; supervisor: number; config: Buffer; caKey: Buffer; fp: string; eff: string } = {
    edge: 0,
    daemon: 0,
    supervisor: 0,
    config: Buffer.alloc(0),
    caKey: Buffer.alloc(0),
    fp: '',
    eff: '',
  };

  test(`install ${N} into a temporary npm prefix and init --apps --non-interactive --supervisor process`, async (t) => {
    await timed(`npm install -g ${N}`, () => npmInstall(tgz.N));
    assert.equal(installedVersion(), N);
    const r = await timed('init (first install)', () => hm(['init', '--apps', '--non-interactive', '--supervisor', 'process', '--python', venvPython]));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout, /^✗/m);
    const p = pids();
    assert.ok(p.edge && p.daemon && p.supervisor, JSON.stringify(p));
    Object.assign(first, {
      edge: p.edge,
      daemon: p.daemon,
      supervisor: p.supervisor,
      config: readFileSync(join(dataDir(), 'config.toml')),
      caKey: readFileSync(join(home, '.mitmproxy', 'mitmproxy-ca.pem')),
      fp: caFingerprint(),
      eff: readFileSync(join(dataDir(), 'effective-ports.json'), 'utf8'),
    });
    assert.equal((await health(ports.api))?.version, N);
    assert.equal(markers(), 1);
    for (const rc of SHELL_RC) assert.ok(!existsSync(join(home, rc)), `${rc} must not be written`);
    const unit = JSON.parse(readFileSync(join(dataDir(), 'units', 'halton-meter.json'), 'utf8')) as { argv: string[]; written_by: string };
    assert.deepEqual([unit.argv[1], unit.written_by], [installedBin(), N]);

    clientCa = readFileSync(join(home, '.mitmproxy', 'mitmproxy-ca-cert.pem'), 'utf8') + pki.caCert;
    loop = startLoop();
    await loopProgress(10, 'calls before the upgrade');
    await waitUntil(() => count('model_requested = ?', LOOP_MODEL) >= 5, 10_000, 'metered rows before the upgrade');
    t.diagnostic(`timings so far: ${JSON.stringify(timings)}`);
  });

  test(`npm install -g ${N1} into the same prefix, init again: the daemon swaps, the edge stays`, async (t) => {
    const rowsBefore = count('1=1');
    const daemonBefore = pidOf('daemon') as number;
    const eventsBefore = daemonEvents().length;
    await timed(`npm install -g ${N1}`, () => npmInstall(tgz.N1));
    assert.equal(installedVersion(), N1);
    await loopProgress(3, 'calls while the files changed under the running meter');

    const r = await timed('init (upgrade)', () => hm(['init', '--apps', '--non-interactive']));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const upgradedAt = new Date().toISOString();
    // effective-ports.json re-validated: our own edge and daemon hold the ports.
    assert.match(r.stdout, new RegExp(`^✓ ports: edge ${ports.edge} \\(held by our edge \\(pid ${first.edge}\\)\\)`, 'm'));
    assert.match(r.stdout, /already has the marker/);
    assert.match(r.stdout, new RegExp(`✓ supervisor: replaced supervisor ${N.replace(/\./g, '\\.')} \\(pid ${first.supervisor}\\) with ${N1.replace(/\./g, '\\.')}`));
    assert.match(r.stdout, /✓ units: halton-meter\.json updated, halton-meter-edge\.json updated/);
    assert.match(r.stdout, new RegExp(`✓ edge: [^\\n]*not restarted; serving on 127\\.0\\.0\\.1:${ports.edge} \\(pid ${first.edge}\\)`));
    assert.match(r.stdout, /✓ daemon: restarted: /);

    // The edge: same process, same port.
    const now = pids();
    assert.equal(now.edge, first.edge);
    assert.notEqual(now.daemon, daemonBefore);
    assert.notEqual(now.supervisor, first.supervisor);
    assert.equal((await health(ports.edge))?.pid, first.edge);
    // The daemon: daemon.exit (old pid), then daemon.startup.ready from N+1.
    const events = daemonEvents().slice(eventsBefore);
    const exit = events.findIndex((e) => e.event === 'daemon.exit' && e.pid === daemonBefore);
    const ready = events.findIndex((e) => e.event === 'daemon.startup.ready' && e.version === N1 && e.pid === now.daemon);
    assert.ok(exit >= 0 && ready > exit, `daemon.exit then daemon.startup.ready ${N1}: ${JSON.stringify(events.map((e) => [e.event, e.pid, e.version]))}`);

    // status --json (N+1's CLI): N+1 live.
    const s = await hm(['status', '--json']);
    assert.equal(s.code, 0, s.stdout + s.stderr);
    const st = JSON.parse(s.stdout) as { cli_version: string; daemon_version: string; edge_version: string; install_mode: string; live: boolean; components: Array<Record<string, unknown>> };
    assert.deepEqual([st.cli_version, st.daemon_version, st.install_mode, st.live], [N1, N1, 'process', true]);
    assert.equal(st.edge_version, N, 'the edge is still the process started by N');
    const comp = (name: string): Record<string, unknown> => st.components.find((c) => c.name === name) ?? {};
    assert.equal(comp('edge').pid, first.edge);
    assert.equal((comp('units').supervisor as { version: string }).version, N1);
    assert.equal(comp('units').state, 'ok');
    assert.equal(comp('ca').fingerprint_sha256, first.fp, 'status reports the same CA');
    assert.equal(comp('certifi').state, 'ok');
    assert.equal(comp('linger').state, 'n/a');

    // What survives (seed table).
    assert.ok(count('1=1') >= rowsBefore, 'rows kept');
    await waitUntil(() => count('model_requested = ? AND requested_at > ?', LOOP_MODEL, upgradedAt) >= 3, 15_000, 'new rows after the upgrade');
    assert.deepEqual(readFileSync(join(dataDir(), 'config.toml')), first.config, 'config.toml byte-identical');
    const eff = JSON.parse(readFileSync(join(dataDir(), 'effective-ports.json'), 'utf8')) as Record<string, number>;
    assert.deepEqual([eff.edge_port, eff.internal_port, eff.api_port], [ports.edge, ports.internal, ports.api]);
    assert.equal(caFingerprint(), first.fp, 'same CA');
    assert.deepEqual(readFileSync(join(home, '.mitmproxy', 'mitmproxy-ca.pem')), first.caKey, 'same CA key');
    assert.equal(markers(), 1, 'one certifi marker');
    assert.ok(readFileSync(certifiBundle, 'utf8').startsWith(ORIGINAL_BUNDLE));
    for (const rc of SHELL_RC) assert.ok(!existsSync(join(home, rc)), `${rc} must not be written`);
    for (const file of ['halton-meter.json', 'halton-meter-edge.json']) {
      const unit = JSON.parse(readFileSync(join(dataDir(), 'units', file), 'utf8')) as { argv: string[]; written_by: string };
      assert.deepEqual([unit.argv[1], unit.written_by], [installedBin(), N1], `${file} regenerated for the new install`);
    }
    // N+1's additive migration ran: the rollback below meets a newer database.
    assert.ok(db((d) => d.prepare('SELECT 1 FROM _migrations WHERE name = ?').get(ADDITIVE)), 'N+1 applied its additive migration');
    await loopProgress(5, 'calls after the upgrade');
    t.diagnostic(`client calls so far: ${loop?.ok}, failures ${loop?.failures.length}`);
  });

  test(`a second init (${N1}) changes nothing and restarts nothing`, async () => {
    const files = [
      join(dataDir(), 'env'),
      join(dataDir(), 'ca-bundle.pem'),
      join(dataDir(), 'effective-ports.json'),
      join(dataDir(), 'units', 'halton-meter.json'),
      join(dataDir(), 'units', 'halton-meter-edge.json'),
      join(home, '.config', 'environment.d', '60-halton-meter.conf'),
      certifiBundle,
    ];
    const mtimes = (): number[] => files.map((f) => statSync(f).mtimeMs);
    const before = { pids: pids(), mtimes: mtimes() };
    const r = await timed('init (no change)', () => hm(['init', '--apps', '--non-interactive']));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^init: unchanged \(nothing written, nothing restarted\)$/m);
    assert.deepEqual(pids(), before.pids);
    assert.deepEqual(mtimes(), before.mtimes);
  });

  test(`roll back: npm install -g ${N} and init: still no failures, every row readable by ${N}, ${N}'s daemon healthy and writing`, async (t) => {
    const daemonBefore = pidOf('daemon') as number;
    const eventsBefore = daemonEvents().length;
    await timed(`npm install -g ${N} (rollback)`, () => npmInstall(tgz.N));
    assert.equal(installedVersion(), N);
    const r = await timed('init (rollback)', () => hm(['init', '--apps', '--non-interactive']));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const rolledAt = new Date().toISOString();
    assert.match(r.stdout, /✓ daemon: restarted: /);
    const now = pids();
    assert.equal(now.edge, first.edge, 'the edge is still the first one');
    assert.notEqual(now.daemon, daemonBefore);
    const events = daemonEvents().slice(eventsBefore);
    const exit = events.findIndex((e) => e.event === 'daemon.exit' && e.pid === daemonBefore);
    const ready = events.findIndex((e) => e.event === 'daemon.startup.ready' && e.version === N && e.pid === now.daemon);
    assert.ok(exit >= 0 && ready > exit, JSON.stringify(events.map((e) => [e.event, e.pid, e.version])));

    const s = await hm(['status', '--json']);
    assert.equal(s.code, 0, s.stdout + s.stderr);
    const st = JSON.parse(s.stdout) as { cli_version: string; daemon_version: string; live: boolean; components: Array<Record<string, unknown>> };
    assert.deepEqual([st.cli_version, st.daemon_version, st.live], [N, N, true]);
    const database = st.components.find((c) => c.name === 'database') ?? {};
    assert.equal(database.newer_than_code, false, 'a newer additive migration leaves the database writable');
    assert.equal(database.state, 'ok');
    const h = await health(ports.api);
    assert.deepEqual([h?.status, h?.version], ['ok', N], "N's daemon is healthy, not read-only");
    assert.equal((await health(ports.edge))?.pid, first.edge);

    // N's daemon writes: new rows after the rollback.
    await waitUntil(() => count('model_requested = ? AND requested_at > ?', LOOP_MODEL, rolledAt) >= 3, 15_000, 'rows written by the rolled-back daemon');
    await loopProgress(5, 'calls after the rollback');
    loop!.stop = true;
    await loop!.done;
    // Every row, read by N's CLI (recost --dry-run reads and re-prices each non-selftest row), once
    // the rows of the last calls are flushed (the daemon writes a row just after answering).
    let settled = -1;
    await waitUntil(
      async () => {
        const n = count('1=1');
        const same = n === settled;
        settled = n;
        if (!same) await new Promise((r) => setTimeout(r, 300));
        return same;
      },
      10_000,
      'the row count to settle',
    );
    const all = count("provider != 'selftest'");
    const rc = await hm(['recost', '--dry-run', '--json']);
    assert.equal(rc.code, 0, rc.stdout + rc.stderr);
    assert.equal((JSON.parse(rc.stdout) as { examined: number }).examined, all);
    assert.equal(Number((st.components.find((c) => c.name === 'database') ?? {}).rows) > 0, true);

    // The whole sequence: zero client failures, one edge process answering throughout.
    assert.deepEqual(loop!.failures, [], `client failures (ok=${loop!.ok})`);
    assert.ok(loop!.ok >= 30, `calls made: ${loop!.ok}`);
    assert.deepEqual([...loop!.edgePids], [first.edge], 'edge pids seen by the watcher');
    assert.equal(loop!.edgeMisses, 0, 'edge /health polls without an answer');
    t.diagnostic(`client calls: ${loop!.ok} ok, ${loop!.failures.length} failed; rows: ${count('1=1')}; timings (ms): ${JSON.stringify(timings)}`);
  });
});
