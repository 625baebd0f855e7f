// The exact `systemctl --user` calls init makes, checked against a recording stand-in
// (test/helpers/fake-systemctl.mjs) that is first on PATH as `systemctl` and `loginctl`: it appends
// its argv to a log and answers show/is-active from a small state file. The init flow runs in
// process with the real unit rendering, diffing and file writing in a temporary HOME; only the
// health probes read the stand-in's state instead of HTTP, since no real process is started.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { mergeEffective, readEffectivePorts } from '../../src/config/effective-ports.js';
import type { CliContext } from '../../src/cli/context.js';
import { runInit, type InitDeps, type InitOptions } from '../../src/cli/init-flow.js';
import { makeStyle } from '../../src/cli/output/style.js';
import { SystemdDriver } from '../../src/service/drivers.js';
import { parseShow, Systemctl } from '../../src/service/systemctl.js';
import { systemPortProbe } from '../../src/service/ports.js';
import { repoRoot } from '../helpers/fake-provider.js';
import { freePort } from '../helpers/meter.js';

const D = 'halton-meter.service';
const E = 'halton-meter-edge.service';
const SHOW = ['--user', 'show', D, E, '--property=Id,LoadState,ActiveState,SubState,Result,MainPID,UnitFileState,NeedDaemonReload,NRestarts,FragmentPath'];

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
  system?: string;
}

async function world(): Promise<{
  env: Record<string, string>;
  home: string;
  state: () => FakeState;
  setState: (f: (s: FakeState) => void) => void;
  calls: () => string[][];
  clearCalls: () => void;
  init: (opts?: InitOptions, over?: Partial<InitDeps>) => Promise<{ code: number; out: string }>;
}> {
  const home = mkdtempSync(join(tmpdir(), 'hm-sysd-'));
  const bin = join(home, 'fakebin');
  const log = join(home, 'calls.jsonl');
  const statePath = join(home, 'state.json');
  const script = join(repoRoot(), 'test', 'helpers', 'fake-systemctl.mjs');
  const { mkdirSync } = await import('node:fs');
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
  const deps = (over: Partial<InitDeps>): InitDeps => ({
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
    selftest: async () => ({ rowId: 'row', ms: 1 }),
    portProbe: systemPortProbe,
    healthTimeoutMs: 500,
    ask: null,
    ...over,
  });
  return {
    env,
    home,
    state,
    setState: (f) => {
      const s = state();
      f(s);
      writeFileSync(statePath, JSON.stringify(s));
    },
    calls: () =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .trim()
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as string[])
        : [],
    clearCalls: () => writeFileSync(log, ''),
    init: async (opts = {}, over = {}) => {
      const lines: string[] = [];
      const { config } = loadConfig({ env });
      const ctx: CliContext = {
        config,
        ports: () => mergeEffective(config, readEffectivePorts(config.paths.effectivePorts)),
        env,
        out: (t) => lines.push(t),
        err: (t) => lines.push(t),
        style: makeStyle(false, env),
      };
      const r = await runInit(ctx, { supervisor: 'systemd', nonInteractive: true, selftest: false, ...opts }, deps(over));
      return { code: r.code, out: lines.join('\n') };
    },
  };
}

/** The systemctl calls only (loginctl's are checked separately), without the program name. */
const sc = (calls: string[][]): string[][] => calls.filter((c) => c[0] === 'systemctl').map((c) => c.slice(1));

describe('systemctl --user call sequences (recording stand-in)', () => {
  test('first install: show, daemon-reload, enable both, start edge, start daemon; linger asked of loginctl', async () => {
    const w = await world();
    const r = await w.init({ apps: true });
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(sc(w.calls()), [
      SHOW,
      ['--user', 'daemon-reload'],
      ['--user', 'enable', D, E],
      ['--user', 'start', E],
      ['--user', 'start', D],
    ]);
    assert.deepEqual(
      w.calls().filter((c) => c[0] === 'loginctl'),
      [['loginctl', 'show-user', 'ann', '-p', 'Linger']],
    );
    assert.ok(existsSync(join(w.home, '.config', 'systemd', 'user', D)));
    assert.ok(existsSync(join(w.home, '.config', 'environment.d', '60-halton-meter.conf')));
    assert.equal(readFileSync(join(w.home, '.halton-meter', 'install-mode'), 'utf8'), 'systemd\n');
    assert.match(r.out, /✓ units: halton-meter\.service created, halton-meter-edge\.service created/);
    assert.match(r.out, /✓ linger: enabled for ann/);
  });

  test('no-change re-init: one show, nothing else; prints unchanged', async () => {
    const w = await world();
    assert.equal((await w.init({ apps: true })).code, 0);
    const pids = [w.state().units[D].pid, w.state().units[E].pid];
    w.clearCalls();
    const r = await w.init({ apps: true });
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(sc(w.calls()), [SHOW]);
    assert.deepEqual([w.state().units[D].pid, w.state().units[E].pid], pids);
    assert.match(r.out, /units: halton-meter\.service unchanged, halton-meter-edge\.service unchanged/);
    assert.match(r.out, /init: unchanged \(nothing written, nothing restarted\)/);
  });

  test('changed-unit re-init (new binary path, as after an upgrade): show, daemon-reload, restart the daemon only', async () => {
    const w = await world();
    assert.equal((await w.init({ apps: true })).code, 0);
    const edgePid = w.state().units[E].pid;
    w.clearCalls();
    const r = await w.init({ apps: true }, { bin: '/home/ann/.npm-global/lib/node_modules/halton-meter/bin/halton-meter.js' });
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(sc(w.calls()), [SHOW, ['--user', 'daemon-reload'], ['--user', 'restart', D]]);
    assert.equal(w.state().units[E].pid, edgePid, 'the edge was not restarted');
    assert.match(r.out, /- ExecStart=\/usr\/bin\/node \/usr\/lib\/node_modules\/halton-meter\/bin\/halton-meter\.js daemon/);
    assert.match(r.out, /\+ ExecStart=\/usr\/bin\/node \/home\/ann\/\.npm-global\/.*daemon/);
    assert.match(r.out, /✓ edge: healthy \(its updated unit applies at its next start\); not restarted/);
    assert.match(r.out, /✓ daemon: restarted: its unit changed/);
  });

  test('same units, older daemon running (version from /health): show, restart the daemon', async () => {
    const w = await world();
    assert.equal((await w.init({ apps: true })).code, 0);
    w.setState((s) => (s.units[D].version = '0.1.9'));
    w.clearCalls();
    const r = await w.init({ apps: true });
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(sc(w.calls()), [SHOW, ['--user', 'restart', D]]);
    assert.match(r.out, /daemon: restarted: it runs 0\.1\.9, this CLI is 0\.2\.0/);
  });

  test('a stopped daemon is started, a healthy edge left alone', async () => {
    const w = await world();
    assert.equal((await w.init({ apps: true })).code, 0);
    w.setState((s) => {
      s.units[D].active = 'inactive';
      s.units[D].pid = 0;
    });
    w.clearCalls();
    const r = await w.init({ apps: true });
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(sc(w.calls()), [SHOW, ['--user', 'start', D]]);
  });

  test('--clean: stop the daemon, disable, reset-failed, rebuild, start the daemon; the edge keeps running', async () => {
    const w = await world();
    assert.equal((await w.init({ apps: true })).code, 0);
    const edgePid = w.state().units[E].pid;
    w.clearCalls();
    const r = await w.init({ apps: true, clean: true });
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(sc(w.calls()), [
      SHOW,
      ['--user', 'stop', D],
      ['--user', 'disable', D, E],
      ['--user', 'reset-failed', D, E],
      SHOW,
      ['--user', 'daemon-reload'],
      ['--user', 'enable', D, E],
      ['--user', 'start', D],
    ]);
    assert.equal(w.state().units[E].pid, edgePid);
    assert.match(r.out, /✓ clean: stopped the daemon; removed halton-meter\.service, halton-meter-edge\.service, effective-ports\.json, install-mode; kept db\.sqlite, config\.toml and the CA/);
  });

  test('start-limit-hit: plain init stops with the seed\'s fix; reset-failed + init --clean brings it back', async () => {
    const w = await world();
    assert.equal((await w.init({ apps: true })).code, 0);
    w.setState((s) => {
      s.units[D].active = 'failed';
      s.units[D].pid = 0;
      s.units[D].result = 'start-limit-hit';
    });
    w.clearCalls();
    const r = await w.init({ apps: true });
    assert.equal(r.code, 1);
    assert.deepEqual(sc(w.calls()), [SHOW]);
    assert.match(r.out, /✗ daemon: halton-meter\.service hit its start limit/);
    assert.match(r.out, /systemctl --user reset-failed halton-meter\.service halton-meter-edge\.service && halton-meter init --apps --clean/);
    w.clearCalls();
    const again = await w.init({ apps: true, clean: true });
    assert.equal(again.code, 0, again.out);
    assert.deepEqual(sc(w.calls()).map((c) => c[1]), ['show', 'disable', 'reset-failed', 'show', 'daemon-reload', 'enable', 'start']);
    assert.equal(w.state().units[D].active, 'active');
  });

  test('linger off: a ! line with the command to enable it, exit still 0', async () => {
    const w = await world();
    w.setState((s) => (s.linger = 'no'));
    const r = await w.init({ apps: true });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /! linger: off for ann: .* enable: loginctl enable-linger ann/);
  });

  test('--supervisor auto asks is-system-running first; an offline manager means the process supervisor', async () => {
    const w = await world();
    w.setState((s) => (s.system = 'running'));
    const r = await w.init({ supervisor: 'auto' });
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(sc(w.calls())[0], ['--user', 'is-system-running']);
    assert.match(r.out, /✓ supervisor: systemd \(systemd user manager is running\)/);
    // Next time auto keeps what is installed, without asking.
    w.clearCalls();
    await w.init({ supervisor: 'auto' });
    assert.deepEqual(sc(w.calls()), [SHOW]);
    const { chooseMode } = await import('../../src/cli/init-flow.js');
    w.setState((s) => (s.system = 'offline'));
    const m = await chooseMode('auto', null, new Systemctl(w.env));
    assert.equal(m.mode, 'process');
  });

  test('HALTON_METER_SYSTEMCTL names the binary; stop/start/restart go to the daemon unit only', async () => {
    const w = await world();
    assert.equal((await w.init({ apps: true })).code, 0);
    w.clearCalls();
    const driver = new SystemdDriver(new Systemctl({ ...w.env, PATH: '/nonexistent', HALTON_METER_SYSTEMCTL: join(w.home, 'fakebin', 'systemctl') }));
    await driver.stop('daemon');
    await driver.start(['edge', 'daemon']);
    await driver.restart('daemon');
    assert.deepEqual(sc(w.calls()), [
      ['--user', 'stop', D],
      ['--user', 'start', E, D],
      ['--user', 'restart', D],
    ]);
  });
});

test('parseShow reads systemctl show blocks', () => {
  const s = parseShow(`Id=${D}\nLoadState=loaded\nActiveState=failed\nSubState=failed\nResult=start-limit-hit\nMainPID=0\nUnitFileState=enabled\nNeedDaemonReload=no\nNRestarts=10\n\nId=${E}\nLoadState=loaded\nActiveState=active\nMainPID=77\n`);
  assert.equal(s.length, 2);
  assert.equal(s[0].result, 'start-limit-hit');
  assert.equal(s[0].nRestarts, 10);
  assert.equal(s[1].mainPid, 77);
  assert.equal(s[1].activeState, 'active');
});
