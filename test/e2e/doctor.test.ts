// `doctor` against a real installation: the process supervisor in a temporary HOME, free ports from
// HALTON_METER_*_PORT, and a temporary venv (first on PATH, and given with --python) holding a
// stand-in certifi package. After init, doctor says HEALTHY; then, one at a time and restored in
// between: the daemon killed (supervisor first, so nothing restarts it) or stopped, the edge port
// taken by a python listener, the CA's public file deleted, the CA key deleted, the certifi marker
// removed, a process unit edited by hand. Each time doctor names the problem and the fix, and
// `doctor --fix` repairs what it may (back to HEALTHY), refusing to kill the foreign listener or to
// create a new CA. Every process started here is killed at the end.
//
// doctor runs through bin/halton-meter.js once main.ts registers it; until then through a small
// entry that registers it on a commander program the way main.ts does (same error handling).
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { repoRoot } from '../helpers/fake-provider.js';
import { freePort, waitUntil } from '../helpers/meter.js';
import { makeCertifiVenv } from '../helpers/certifi-venv.js';

const run = promisify(execFile);
const BIN = join(repoRoot(), 'bin', 'halton-meter.js');
const MARKER = '# halton-meter local CA';
const ORIGINAL_BUNDLE = '# Issuer: CN=Some Root\n-----BEGIN CERTIFICATE-----\nMIIBroot\n-----END CERTIFICATE-----\n';
const ALL_CHECKS = ['config', 'install-mode', 'ca', 'ca-bundle', 'env-files', 'certifi', 'ports', 'edge', 'daemon', 'units', 'linger', 'database', 'selftest'];

interface CheckJson {
  id: string;
  title: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix: { command: string; automatic: boolean } | null;
}
interface DoctorJson {
  verdict: 'HEALTHY' | 'INCONSISTENT' | 'BROKEN';
  checks: CheckJson[];
  fixed: Array<{ action: string; command: string; checks: string[]; ok: boolean; detail: string }>;
  not_fixed?: Array<{ command: string; checks: string[]; reason: string }>;
  before?: { verdict: string; checks: CheckJson[] };
}
interface Ran {
  stdout: string;
  stderr: string;
  code: number;
}

let home: string;
let env: NodeJS.ProcessEnv;
let ports: { edge: number; internal: number; api: number };
let certifiBundle: string;
let venvPython: string;
let doctorEntry: string[];
const seenPids = new Set<number>();
const listeners: ChildProcess[] = [];

function exec(argv: string[], extra: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return run(process.execPath, argv, { env: { ...env, ...extra }, timeout: 120_000 }).then(
    (r) => ({ ...r, code: 0 }),
    (e: Ran) => ({ stdout: e.stdout, stderr: e.stderr, code: e.code }),
  );
}
const cli = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Ran> => exec([BIN, ...args], extra);
const doctor = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Ran> => exec([...doctorEntry, 'doctor', ...args], extra);

async function doctorJson(args: string[] = [], extra: NodeJS.ProcessEnv = {}): Promise<{ code: number; json: DoctorJson; stderr: string }> {
  const r = await doctor(['--json', ...args], extra);
  let json: DoctorJson;
  try {
    json = JSON.parse(r.stdout) as DoctorJson;
  } catch {
    throw new Error(`doctor --json printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  pids();
  return { code: r.code, json, stderr: r.stderr };
}

function check(json: DoctorJson, id: string): CheckJson {
  const c = json.checks.find((x) => x.id === id);
  assert.ok(c, `no ${id} check in ${JSON.stringify(json.checks.map((x) => x.id))}`);
  return c;
}

/** The checks that are not ok, for assertion messages. */
const notOk = (json: DoctorJson): string => JSON.stringify(json.checks.filter((c) => c.status !== 'ok'), null, 2);

const dataDir = (): string => join(home, '.halton-meter');
const caDir = (): string => join(home, '.mitmproxy');
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

async function assertHealthy(label: string): Promise<DoctorJson> {
  const { code, json } = await doctorJson();
  assert.equal(json.verdict, 'HEALTHY', `${label}: ${notOk(json)}`);
  assert.equal(code, 0, label);
  return json;
}

/** A python process listening on 127.0.0.1:port (SO_REUSEADDR: the edge's closed connections may linger in TIME_WAIT). */
async function pythonListener(port: number): Promise<ChildProcess> {
  const script = `import socket, time\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('127.0.0.1', ${port}))\ns.listen()\nprint('ready', flush=True)\ntime.sleep(600)\n`;
  const child = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  listeners.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the python listener exited (${code})`)));
  });
  return child;
}

/** Writes an entry that registers doctor like main.ts does, for a main.ts that does not yet. */
function doctorHarness(dir: string): string {
  const url = (p: string): string => pathToFileURL(join(repoRoot(), p)).href;
  const file = join(dir, 'doctor-entry.mjs');
  writeFileSync(
    file,
    `import { Command, CommanderError } from '${url('node_modules/commander/esm.mjs')}';
import { registerDoctorCommand } from '${url('dist/src/cli/commands/doctor.js')}';
import { isMeterError, errorMessage } from '${url('dist/src/core/errors.js')}';
const program = new Command('halton-meter').exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s.startsWith('error:') ? 'halton-meter: ' + s.slice(7) : s) });
registerDoctorCommand(program);
try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) process.exitCode = ['commander.helpDisplayed', 'commander.help'].includes(e.code) ? 0 : 2;
  else if (isMeterError(e)) {
    process.stderr.write('halton-meter: ' + e.message + '\\n' + (e.hint ? '  ' + e.hint + '\\n' : ''));
    process.exitCode = e.code === 'bad_argument' ? 2 : 1;
  } else {
    process.stderr.write('halton-meter: unexpected error: ' + errorMessage(e) + '\\n');
    process.exitCode = 1;
  }
}
`,
  );
  return file;
}

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'hm-doctor-'));
  ports = { edge: await freePort(), internal: await freePort(), api: await freePort() };
  mkdirSync(dataDir());
  // A venv first on PATH with a stand-in certifi package: init patches it, and nothing else.
  const venv = join(home, 'venv');
  certifiBundle = makeCertifiVenv(venv, ORIGINAL_BUNDLE).bundle;
  venvPython = join(venv, 'bin', 'python');
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
  // (`doctor --help` would print the program's help either way.)
  const wired = !/unknown command/.test(spawnSync(process.execPath, [BIN, 'doctor', '--no-such-option'], { env, encoding: 'utf8' }).stderr);
  doctorEntry = wired ? [BIN] : [doctorHarness(home)];
});

after(async () => {
  for (const l of listeners) l.kill('SIGKILL');
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
});

describe('doctor on a process-supervisor install', () => {
  test('after init, doctor --json says HEALTHY and every check is ok; the text form has a ✓ line per check', async () => {
    const init = await cli(['init', '--apps', '--non-interactive', '--supervisor', 'process', '--python', venvPython]);
    assert.equal(init.code, 0, init.stdout + init.stderr);
    pids();
    const json = await assertHealthy('fresh install');
    assert.deepEqual(json.checks.map((c) => c.id), ALL_CHECKS);
    for (const c of json.checks) {
      assert.equal(c.status, 'ok', `${c.id}: ${c.detail}`);
      assert.equal(c.fix, null);
      assert.equal(typeof c.title, 'string');
    }
    assert.deepEqual(json.fixed, []);
    assert.match(check(json, 'certifi').detail, /1 certifi bundle\(s\) carry the meter CA/);
    assert.match(check(json, 'selftest').detail, /^row \S+ written in \d+ ms/);
    const text = await doctor([]);
    assert.equal(text.code, 0, text.stdout + text.stderr);
    const lines = text.stdout.trim().split('\n');
    assert.equal(lines.at(-1), 'verdict: HEALTHY');
    assert.equal(lines.filter((l) => l.startsWith('✓ ')).length, ALL_CHECKS.length, text.stdout);
    assert.doesNotMatch(text.stdout, /\u001b\[/, 'no colours when not a TTY');
    assert.doesNotMatch(text.stdout, /to fix:/);
  });

  test('daemon killed (supervisor first, so nothing restarts it): BROKEN, fix "halton-meter start"; --fix starts it', async () => {
    const before = pids();
    process.kill(before.supervisor!, 'SIGKILL');
    await waitUntil(() => !alive(before.supervisor), 5000, 'the supervisor gone');
    process.kill(before.daemon!, 'SIGKILL');
    await waitUntil(() => !alive(before.daemon), 5000, 'the daemon gone');
    const { code, json } = await doctorJson();
    assert.equal(json.verdict, 'BROKEN', notOk(json));
    assert.equal(code, 2);
    const daemon = check(json, 'daemon');
    assert.equal(daemon.status, 'fail');
    assert.match(daemon.detail, new RegExp(`not answering on 127\\.0\\.0\\.1:${ports.api}; traffic passes through the edge unmetered`));
    assert.deepEqual(daemon.fix, { command: 'halton-meter start', automatic: true });
    assert.match(check(json, 'units').detail, /process supervisor is not running/);
    assert.equal(check(json, 'edge').status, 'ok', 'the edge keeps serving');
    assert.ok(!json.checks.some((c) => c.id === 'selftest'), 'no self-test while the daemon is down');

    const fixed = await doctorJson(['--fix']);
    assert.equal(fixed.json.verdict, 'HEALTHY', notOk(fixed.json));
    assert.equal(fixed.code, 0);
    assert.equal(fixed.json.before?.verdict, 'BROKEN');
    assert.equal(fixed.json.fixed.length, 1);
    assert.equal(fixed.json.fixed[0].action, 'start');
    assert.ok(fixed.json.fixed[0].ok, fixed.json.fixed[0].detail);
    assert.match(fixed.json.fixed[0].detail, /started the process supervisor and the daemon/);
    const now = pids();
    assert.equal(now.edge, before.edge, 'the edge was not restarted');
    assert.ok(alive(now.daemon) && alive(now.supervisor) && now.daemon !== before.daemon);
  });

  test('daemon stopped with `halton-meter stop`: doctor says so; --fix starts it', async () => {
    const stop = await cli(['stop']);
    assert.equal(stop.code, 0, stop.stderr);
    const { json } = await doctorJson();
    assert.equal(json.verdict, 'BROKEN');
    assert.match(check(json, 'daemon').detail, /\(stopped with halton-meter stop\)/);
    const text = await doctor(['--fix']);
    assert.equal(text.code, 0, text.stdout + text.stderr);
    assert.match(text.stdout, /^doctor --fix:\n {2}✓ halton-meter start \(daemon\): started the daemon$/m);
    assert.match(text.stdout, /^after --fix:$/m);
    assert.equal(text.stdout.trim().split('\n').at(-1), 'verdict: HEALTHY');
    pids();
  });

  test('edge port taken by another process: BROKEN, names it and the kill command; --fix refuses to kill it', async () => {
    const stop = await cli(['stop', '--edge']);
    assert.equal(stop.code, 0, stop.stderr);
    const py = await pythonListener(ports.edge);
    const { code, json } = await doctorJson();
    assert.equal(json.verdict, 'BROKEN', notOk(json));
    assert.equal(code, 2);
    const p = check(json, 'ports');
    assert.equal(p.status, 'fail');
    assert.match(p.detail, new RegExp(`edge 127\\.0\\.0\\.1:${ports.edge} is held by python[\\d.]* \\(pid ${py.pid}\\), not by our edge`));
    assert.match(p.detail, /doctor never kills a process it did not start/);
    assert.equal(p.fix?.automatic, false);
    assert.match(p.fix!.command, new RegExp(`^kill ${py.pid} && halton-meter start {2}# python[\\d.]* holds 127\\.0\\.0\\.1:${ports.edge}$`));
    const edge = check(json, 'edge');
    assert.equal(edge.status, 'fail');
    assert.match(edge.detail, new RegExp(`holds 127\\.0\\.0\\.1:${ports.edge}; apps with HTTPS_PROXY=http://127\\.0\\.0\\.1:${ports.edge} cannot connect`));
    assert.equal(edge.fix?.command, p.fix!.command);

    const text = await doctor(['--fix']);
    assert.equal(text.code, 2, text.stdout + text.stderr);
    assert.match(text.stdout, new RegExp(`^ {2}ports, edge \\(by hand\\):\\n {4}kill ${py.pid} && halton-meter start`, 'm'));
    assert.match(text.stdout, new RegExp(`^ {2}- not done \\(ports, edge\\): doctor never kills a process it did not start\\n {6}kill ${py.pid} `, 'm'));
    assert.match(text.stdout, /✓ halton-meter start \(daemon\): started the daemon/, 'the daemon, whose ports are free, is started');
    assert.equal(text.stdout.trim().split('\n').at(-1), 'verdict: BROKEN');
    assert.ok(alive(py.pid!), 'the foreign listener is alive');

    py.kill('SIGKILL');
    await waitUntil(() => !alive(py.pid!), 5000, 'the listener gone');
    const fixed = await doctorJson(['--fix']);
    assert.equal(fixed.json.verdict, 'HEALTHY', notOk(fixed.json));
    assert.match(fixed.json.fixed[0].detail, /started the edge/);
  });

  test('CA public file deleted: BROKEN; --fix rewrites it from mitmproxy-ca.pem (same CA)', async () => {
    const certPem = join(caDir(), 'mitmproxy-ca-cert.pem');
    const original = readFileSync(certPem, 'utf8');
    rmSync(certPem);
    const { code, json } = await doctorJson();
    assert.equal(json.verdict, 'BROKEN', notOk(json));
    assert.equal(code, 2);
    const ca = check(json, 'ca');
    assert.equal(ca.status, 'fail');
    assert.match(ca.detail, /~\/\.mitmproxy\/mitmproxy-ca-cert\.pem is missing: NODE_EXTRA_CA_CERTS names it/);
    assert.deepEqual(ca.fix, { command: 'halton-meter init --apps --non-interactive', automatic: true });
    const fixed = await doctorJson(['--fix']);
    assert.equal(fixed.json.verdict, 'HEALTHY', notOk(fixed.json));
    assert.equal(fixed.json.fixed[0].action, 'init');
    assert.ok(fixed.json.fixed[0].ok, fixed.json.fixed[0].detail);
    assert.equal(readFileSync(certPem, 'utf8'), original, 'the same certificate');
  });

  test('CA key deleted: BROKEN, the fix says a NEW CA must be trusted again; --fix creates nothing', async () => {
    const key = join(caDir(), 'mitmproxy-ca.pem');
    const aside = join(home, 'mitmproxy-ca.pem.aside');
    renameSync(key, aside);
    try {
      const daemonBefore = pidOf('daemon');
      const { json } = await doctorJson();
      assert.equal(json.verdict, 'BROKEN', notOk(json));
      const ca = check(json, 'ca');
      assert.equal(ca.status, 'fail');
      assert.match(ca.detail, /mitmproxy-ca\.pem \(the CA key\) is gone/);
      assert.match(ca.detail, /--fix does not create one/);
      assert.equal(ca.fix?.automatic, false);
      assert.match(ca.fix!.command, /^halton-meter init --apps --non-interactive {2}# creates a NEW CA: every client must trust it again$/);
      const fixed = await doctorJson(['--fix']);
      assert.equal(fixed.json.verdict, 'BROKEN');
      assert.deepEqual(fixed.json.fixed, []);
      assert.ok(fixed.json.not_fixed?.some((n) => n.checks.includes('ca') && /never creates a new CA/.test(n.reason)), JSON.stringify(fixed.json.not_fixed));
      assert.ok(!existsSync(key), 'no CA was created');
      assert.equal(pidOf('daemon'), daemonBefore, 'the daemon (holding the old CA) was not restarted');
    } finally {
      renameSync(aside, key);
    }
    await assertHealthy('key restored');
  });

  test('certifi marker removed: INCONSISTENT, names the bundle; --fix re-applies it once', async () => {
    writeFileSync(certifiBundle, ORIGINAL_BUNDLE);
    const { code, json } = await doctorJson();
    assert.equal(json.verdict, 'INCONSISTENT', notOk(json));
    assert.equal(code, 1);
    const c = check(json, 'certifi');
    assert.equal(c.status, 'warn');
    assert.match(c.detail, /site-packages\/certifi\/cacert\.pem has no halton-meter marker any more/);
    assert.deepEqual(c.fix, { command: 'halton-meter init --apps --non-interactive', automatic: true });
    assert.ok(json.checks.filter((x) => x.id !== 'certifi').every((x) => x.status === 'ok'), notOk(json));
    const fixed = await doctorJson(['--fix']);
    assert.equal(fixed.json.verdict, 'HEALTHY', notOk(fixed.json));
    assert.match(fixed.json.fixed[0].detail, /changed: certifi /);
    assert.equal(readFileSync(certifiBundle, 'utf8').split('\n').filter((l) => l.startsWith(MARKER)).length, 1);
  });

  test('a process unit edited by hand: INCONSISTENT with the diff; --fix rewrites it', async () => {
    const unit = join(dataDir(), 'units', 'halton-meter.json');
    const original = readFileSync(unit, 'utf8');
    const edited = JSON.parse(original) as { env: Record<string, string> };
    edited.env.HAND_EDIT = '1';
    writeFileSync(unit, JSON.stringify(edited, null, 2) + '\n');
    const { code, json } = await doctorJson();
    assert.equal(json.verdict, 'INCONSISTENT', notOk(json));
    assert.equal(code, 1);
    const u = check(json, 'units');
    assert.equal(u.status, 'warn');
    assert.match(u.detail, /~\/\.halton-meter\/units\/halton-meter\.json differs from what init writes \(edited by hand\?\)/);
    assert.match(u.detail, /\+ added: +"HAND_EDIT": "1"/);
    assert.deepEqual(u.fix, { command: 'halton-meter init --apps --non-interactive', automatic: true });
    const text = await doctor([]);
    assert.match(text.stdout, /^! units: .*edited by hand\?\)\n {4}[-+] /m, 'the diff is indented under the line');
    const fixed = await doctorJson(['--fix']);
    assert.equal(fixed.json.verdict, 'HEALTHY', notOk(fixed.json));
    assert.match(fixed.json.fixed[0].detail, /halton-meter\.json/);
    assert.equal(readFileSync(unit, 'utf8'), original);
  });

  test('bad arguments: one line, exit 2, no stack; no install: BROKEN naming init', async () => {
    for (const args of [['--bogus'], ['extra']]) {
      const r = await doctor(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
    const empty = mkdtempSync(join(tmpdir(), 'hm-doctor-empty-'));
    const elsewhere = { HOME: empty, HALTON_METER_EDGE_PORT: String(await freePort()), HALTON_METER_INTERNAL_PORT: String(await freePort()), HALTON_METER_API_PORT: String(await freePort()) };
    const { code, json } = await doctorJson([], elsewhere);
    assert.equal(code, 2);
    assert.equal(json.verdict, 'BROKEN');
    assert.deepEqual(check(json, 'install-mode').fix, { command: 'halton-meter init --apps', automatic: false });
    assert.deepEqual(readdirSync(empty), [], 'doctor wrote nothing');
    const bad = mkdtempSync(join(tmpdir(), 'hm-doctor-badcfg-'));
    mkdirSync(join(bad, '.halton-meter'));
    writeFileSync(join(bad, '.halton-meter', 'config.toml'), '[daemon]\nedge_port = "x"\n');
    const r = await doctor(['--json'], { ...elsewhere, HOME: bad });
    assert.equal(r.code, 2);
    const cfg = JSON.parse(r.stdout) as DoctorJson;
    assert.equal(cfg.verdict, 'BROKEN');
    assert.equal(cfg.checks.length, 1);
    assert.equal(cfg.checks[0].id, 'config');
    assert.match(cfg.checks[0].detail, /edge_port/);
  });
});
