// doctor in systemd mode, against the recording stand-in for systemctl and loginctl
// (test/helpers/fake-systemctl.mjs, first on PATH): init installs the units in a temporary HOME,
// then doctor runs in process with the real checks; only the health probes read the stand-in's
// state, since no real process is started. Covers start-limit-hit (the fix names reset-failed and
// init --apps --clean, and --fix does not run it), a unit edited by hand (--fix re-renders it:
// daemon-reload and a daemon restart, the edge untouched), linger off, a stopped daemon.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { mergeEffective, readEffectivePorts } from '../../src/config/effective-ports.js';
import type { DoctorDeps } from '../../src/cli/checks/facts.js';
import { runDoctor, type DoctorOutcome } from '../../src/cli/checks/run.js';
import type { CliContext } from '../../src/cli/context.js';
import { runInit, type InitOptions } from '../../src/cli/init-flow.js';
import { makeStyle } from '../../src/cli/output/style.js';
import { systemPortProbe } from '../../src/service/ports.js';
import { repoRoot } from '../helpers/fake-provider.js';
import { freePort } from '../helpers/meter.js';

const D = 'halton-meter.service';
const E = 'halton-meter-edge.service';
const RESET = 'systemctl --user reset-failed halton-meter.service halton-meter-edge.service && halton-meter init --apps --clean';

interface FakeUnit {
  loaded: string | null;
  active: string;
  result: string;
  enabled: boolean;
  pid: number;
  version: string | null;
}
interface FakeState {
  units: Record<string, FakeUnit>;
  linger?: string;
}

interface World {
  home: string;
  env: Record<string, string>;
  bin: string;
  setState(f: (s: FakeState) => void): void;
  calls(): string[][];
  clearCalls(): void;
  init(opts?: InitOptions): Promise<{ code: number; out: string }>;
  doctor(opts?: { fix?: boolean }): Promise<DoctorOutcome & { out: string }>;
}

async function world(): Promise<World> {
  const home = mkdtempSync(join(tmpdir(), 'hm-doctor-sysd-'));
  const bin = join(home, 'fakebin');
  const log = join(home, 'calls.jsonl');
  const statePath = join(home, 'state.json');
  const script = join(repoRoot(), 'test', 'helpers', 'fake-systemctl.mjs');
  mkdirSync(bin);
  for (const name of ['systemctl', 'loginctl']) {
    writeFileSync(join(bin, name), `#!/bin/sh\nFAKE_SYSTEMCTL_AS=${name} exec "${process.execPath}" "${script}" "$@"\n`);
    chmodSync(join(bin, name), 0o755);
  }
  writeFileSync(statePath, JSON.stringify({ units: {}, linger: 'yes' }));
  const env: Record<string, string> = {
    HOME: home,
    PATH: bin,
    USER: 'ann',
    NO_COLOR: '1',
    FAKE_SYSTEMCTL_LOG: log,
    FAKE_SYSTEMCTL_STATE: statePath,
    HALTON_METER_EDGE_PORT: String(await freePort()),
    HALTON_METER_INTERNAL_PORT: String(await freePort()),
    HALTON_METER_API_PORT: String(await freePort()),
  };
  const state = (): FakeState => JSON.parse(readFileSync(statePath, 'utf8')) as FakeState;
  const unit = (name: string): FakeUnit | undefined => state().units[name];
  const deps: DoctorDeps = {
    node: '/usr/bin/node',
    bin: '/usr/lib/node_modules/halton-meter/bin/halton-meter.js',
    version: '0.2.0',
    user: 'ann',
    probeEdge: async () => {
      const u = unit(E);
      return u?.active === 'active' ? { up: true, pid: u.pid, version: u.version } : { up: false, pid: null, version: null };
    },
    probeDaemon: async () => {
      const u = unit(D);
      return u?.active === 'active'
        ? { reachable: true, healthy: true, version: u.version, startedAt: null, reason: null }
        : { reachable: false, healthy: false, version: null, startedAt: null, reason: 'no answer' };
    },
    daemonPid: async () => unit(D)?.pid || null,
    daemonStatus: async () => {
      const u = unit(D);
      return u?.active === 'active' ? { pid: u.pid, version: u.version, rows_written: 3, rows_failed: 0 } : null;
    },
    selftest: async () => ({ rowId: 'row-1', ms: 1 }),
    portProbe: systemPortProbe,
    healthTimeoutMs: 500,
    ask: null,
  };
  const context = (lines: string[]): CliContext => {
    const { config } = loadConfig({ env });
    return {
      config,
      ports: () => mergeEffective(config, readEffectivePorts(config.paths.effectivePorts)),
      env,
      out: (t) => lines.push(t),
      err: (t) => lines.push(t),
      style: makeStyle(false, env),
    };
  };
  return {
    home,
    env,
    bin,
    setState: (f) => {
      const s = state();
      f(s);
      writeFileSync(statePath, JSON.stringify(s));
    },
    calls: () =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as string[])
        : [],
    clearCalls: () => writeFileSync(log, ''),
    init: async (opts = {}) => {
      const lines: string[] = [];
      const r = await runInit(context(lines), { supervisor: 'systemd', nonInteractive: true, selftest: false, apps: true, ...opts }, deps);
      return { code: r.code, out: lines.join('\n') };
    },
    doctor: async (opts = {}) => {
      const lines: string[] = [];
      const r = await runDoctor(context(lines), deps, [], opts);
      return { ...r, out: lines.join('\n') };
    },
  };
}

const byId = (r: DoctorOutcome, id: string) => {
  const c = r.report.checks.find((x) => x.id === id);
  assert.ok(c, `no ${id} check`);
  return c;
};
const notOk = (r: DoctorOutcome): string => JSON.stringify(r.report.checks.filter((c) => c.status !== 'ok'), null, 2);
/** systemctl verbs called (loginctl's apart), without `--user`. */
const verbs = (calls: string[][]): string[] => calls.filter((c) => c[0] === 'systemctl').map((c) => c.slice(2).filter((a) => !a.startsWith('--property')).join(' '));

async function installed(): Promise<World> {
  const w = await world();
  const r = await w.init();
  assert.equal(r.code, 0, r.out);
  return w;
}

describe('doctor with systemd units (recording stand-in)', () => {
  test('after init: HEALTHY, the units as init writes them, linger on', async () => {
    const w = await installed();
    const r = await w.doctor();
    assert.equal(r.report.verdict, 'HEALTHY', notOk(r));
    assert.equal(r.code, 0);
    assert.match(byId(r, 'install-mode').detail, /^systemd user units/);
    assert.match(byId(r, 'units').detail, /^both units as init writes them, enabled; halton-meter\.service active \(running\), halton-meter-edge\.service active \(running\)$/);
    assert.match(byId(r, 'linger').detail, /^enabled for ann/);
    assert.deepEqual(verbs(w.calls()).filter((v) => !v.startsWith('show') && !v.startsWith('daemon-reload') && !v.startsWith('enable') && !v.startsWith('start')), []);
  });

  test('start-limit-hit: BROKEN; the fix is reset-failed + init --apps --clean, by hand; --fix starts nothing; the fix itself works', async () => {
    const w = await installed();
    w.setState((s) => Object.assign(s.units[D], { active: 'failed', result: 'start-limit-hit', pid: 0 }));
    const r = await w.doctor();
    assert.equal(r.report.verdict, 'BROKEN', notOk(r));
    assert.equal(r.code, 2);
    const daemon = byId(r, 'daemon');
    assert.equal(daemon.status, 'fail');
    assert.match(daemon.detail, /systemd gave up restarting it \(start-limit-hit\)/);
    assert.deepEqual(daemon.fix, { command: RESET, automatic: false });
    const units = byId(r, 'units');
    assert.equal(units.status, 'fail');
    assert.match(units.detail, /^halton-meter\.service: systemd gave up restarting it \(start-limit-hit\)/);
    assert.deepEqual(units.fix, { command: RESET, automatic: false });
    assert.match(r.out, new RegExp(`^ {2}daemon, units \\(by hand\\):\\n {4}${RESET.replace(/[.]/g, '\\.')}$`, 'm'));

    w.clearCalls();
    const fixed = await w.doctor({ fix: true });
    assert.equal(fixed.report.verdict, 'BROKEN');
    assert.deepEqual(fixed.fixed, []);
    assert.ok(fixed.left.some((l) => l.command === RESET && /read its log first/.test(l.reason)), JSON.stringify(fixed.left));
    assert.deepEqual(verbs(w.calls()).filter((v) => !v.startsWith('show')), [], 'only show: nothing started, reset or rewritten');

    // What the fix says to run brings it back.
    const reset = spawnSync(join(w.bin, 'systemctl'), ['--user', 'reset-failed', D, E], { env: w.env, encoding: 'utf8' });
    assert.equal(reset.status, 0, reset.stderr);
    const clean = await w.init({ clean: true });
    assert.equal(clean.code, 0, clean.out);
    const after = await w.doctor();
    assert.equal(after.report.verdict, 'HEALTHY', notOk(after));
  });

  test('a unit edited by hand: INCONSISTENT with the added line; --fix re-renders it, reloads and restarts the daemon only', async () => {
    const w = await installed();
    const path = join(w.home, '.config', 'systemd', 'user', D);
    const original = readFileSync(path, 'utf8');
    appendFileSync(path, 'Nice=5\n');
    const r = await w.doctor();
    assert.equal(r.report.verdict, 'INCONSISTENT', notOk(r));
    assert.equal(r.code, 1);
    const units = byId(r, 'units');
    assert.equal(units.status, 'warn');
    assert.match(units.detail, /~\/\.config\/systemd\/user\/halton-meter\.service differs from what init writes \(edited by hand\?\)/);
    assert.match(units.detail, /^\+ added: {3}Nice=5$/m);
    assert.deepEqual(units.fix, { command: 'halton-meter init --apps --non-interactive', automatic: true, action: 'init' });

    w.clearCalls();
    const fixed = await w.doctor({ fix: true });
    assert.equal(fixed.report.verdict, 'HEALTHY', notOk(fixed));
    assert.equal(fixed.code, 0);
    assert.equal(fixed.fixed.length, 1);
    assert.equal(fixed.fixed[0].action, 'init');
    assert.match(fixed.fixed[0].detail, /changed: halton-meter\.service, restarted the daemon/);
    assert.equal(readFileSync(path, 'utf8'), original);
    const v = verbs(w.calls()).filter((x) => !x.startsWith('show'));
    assert.deepEqual(v, ['daemon-reload', `restart ${D}`]);
  });

  test('linger off: INCONSISTENT, `loginctl enable-linger ann` by hand; --fix does not change it', async () => {
    const w = await installed();
    w.setState((s) => (s.linger = 'no'));
    const r = await w.doctor({ fix: true });
    assert.equal(r.report.verdict, 'INCONSISTENT', notOk(r));
    const linger = byId(r, 'linger');
    assert.equal(linger.status, 'warn');
    assert.deepEqual(linger.fix, { command: 'loginctl enable-linger ann', automatic: false });
    assert.ok(r.left.some((l) => /login setting/.test(l.reason)));
    assert.ok(!w.calls().some((c) => c[0] === 'loginctl' && c[1] === 'enable-linger'));
  });

  test('daemon stopped: BROKEN, fix `halton-meter start`; --fix starts the daemon unit only', async () => {
    const w = await installed();
    w.setState((s) => Object.assign(s.units[D], { active: 'inactive', pid: 0 }));
    const r = await w.doctor();
    assert.equal(r.report.verdict, 'BROKEN');
    assert.deepEqual(byId(r, 'daemon').fix, { command: 'halton-meter start', automatic: true, action: 'start' });
    w.clearCalls();
    const fixed = await w.doctor({ fix: true });
    assert.equal(fixed.report.verdict, 'HEALTHY', notOk(fixed));
    assert.deepEqual(verbs(w.calls()).filter((x) => !x.startsWith('show')), [`start ${D}`]);
    assert.match(fixed.out, /✓ halton-meter start \(daemon\): started the daemon/);
  });
});
