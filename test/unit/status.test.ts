// `halton-meter status`: the text and JSON made from a report, the exit code and the one line said
// when the meter is not live or not installed, and the small readers status relies on (a certifi
// bundle's marker state, a systemd unit file's ExecStart and version).
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { mergeEffective, readEffectivePorts } from '../../src/config/effective-ports.js';
import type { CliContext } from '../../src/cli/context.js';
import { makeStyle } from '../../src/cli/output/style.js';
import { VERSION } from '../../src/core/version.js';
import { repoRoot } from '../helpers/fake-provider.js';
import { freePort } from '../helpers/meter.js';
import {
  bundleState,
  collectStatus,
  formatDuration,
  notInstalled,
  notLiveLine,
  renderStatus,
  statusExitCode,
  statusJson,
  unitFileFacts,
  type StatusComponent,
  type StatusReport,
} from '../../src/cli/status-report.js';
import { markerLine } from '../../src/service/certifi.js';

const plain = makeStyle(false, {});
const PORTS = { edge: 8081, internal: 8090, api: 8765 };

function report(over: Partial<StatusReport> = {}, comps: Partial<Record<StatusComponent['name'], Partial<StatusComponent>>> = {}): StatusReport {
  const base: StatusComponent[] = [
    { name: 'edge', state: 'ok', detail: 'serving on 127.0.0.1:8081 (pid 10, version 0.1.0)', pid: 10, port: 8081, healthy: true, version: '0.1.0' },
    { name: 'daemon', state: 'ok', detail: 'healthy, version 0.1.1, up 2m 3s (pid 11)', pid: 11, healthy: true, version: '0.1.1', reason: null },
    { name: 'listeners', state: 'ok', detail: '8081 edge (pid 10), 8090 daemon (pid 11), 8765 daemon (pid 11)' },
    { name: 'units', state: 'ok', detail: 'process supervisor pid 9 (version 0.1.1)', more: ['edge: running (pid 10, adopted)', 'daemon: running (pid 11)'] },
    { name: 'ca', state: 'ok', detail: '~/.mitmproxy/mitmproxy-ca-cert.pem, SHA-256 AA:BB' },
    { name: 'certifi', state: 'warn', detail: '0 of 1 patched certifi bundle(s) carry the meter CA', more: ['~/venv/.../cacert.pem: marker missing'] },
    { name: 'linger', state: 'n/a', detail: 'not needed' },
    { name: 'database', state: 'ok', detail: '~/.halton-meter/db.sqlite, 4.0 KiB, 12 rows, schema 1' },
    { name: 'files', state: 'ok', detail: '~/.halton-meter/env, ~/.halton-meter/ca-bundle.pem' },
  ];
  return {
    cli_version: '0.1.1',
    daemon_version: '0.1.1',
    edge_version: '0.1.0',
    install_mode: 'process',
    live: true,
    ports: PORTS,
    ...over,
    components: base.map((c) => ({ ...c, ...(comps[c.name] ?? {}) }) as StatusComponent),
  };
}

describe('status text', () => {
  test('a header with both versions and the mode, one marked line per component, indented sub-lines, a live line', () => {
    const text = renderStatus(report(), plain);
    assert.equal(
      text,
      [
        'halton-meter 0.1.1 (this CLI); daemon 0.1.1; install mode: process',
        '✓ edge       serving on 127.0.0.1:8081 (pid 10, version 0.1.0)',
        '✓ daemon     healthy, version 0.1.1, up 2m 3s (pid 11)',
        '✓ listeners  8081 edge (pid 10), 8090 daemon (pid 11), 8765 daemon (pid 11)',
        '✓ units      process supervisor pid 9 (version 0.1.1)',
        '             edge: running (pid 10, adopted)',
        '             daemon: running (pid 11)',
        '✓ CA         ~/.mitmproxy/mitmproxy-ca-cert.pem, SHA-256 AA:BB',
        '! certifi    0 of 1 patched certifi bundle(s) carry the meter CA',
        '             ~/venv/.../cacert.pem: marker missing',
        '- linger     not needed',
        '✓ database   ~/.halton-meter/db.sqlite, 4.0 KiB, 12 rows, schema 1',
        '✓ files      ~/.halton-meter/env, ~/.halton-meter/ca-bundle.pem',
        'live: edge 127.0.0.1:8081 -> daemon 0.1.1 -> SQLite',
      ].join('\n'),
    );
    assert.equal(statusExitCode(report()), 0);
    assert.equal(notLiveLine(report()), null);
  });

  test('colours only when the style has them', () => {
    assert.doesNotMatch(renderStatus(report(), plain), /\u001b/);
    assert.match(renderStatus(report(), makeStyle(true, {})), /\u001b\[32m✓/);
  });
});

describe('exit code and the one line', () => {
  test('live: 0; daemon down with the edge up: 1 and it says traffic passes through unmetered', () => {
    const r = report({ live: false, daemon_version: null }, { daemon: { state: 'error', healthy: false, version: null, reason: 'no answer' } });
    assert.equal(statusExitCode(r), 1);
    assert.match(notLiveLine(r) ?? '', /^halton-meter: not metering: the daemon is not running; traffic passes through unmetered \(run: halton-meter start/);
    assert.match(renderStatus(r, plain), /not live: calls through the edge are not metered$/);
  });

  test('a daemon that answers but is unhealthy says why', () => {
    const r = report({ live: false }, { daemon: { state: 'error', healthy: false, reason: 'database written by a newer halton-meter (read-only)' } });
    assert.equal(statusExitCode(r), 1);
    assert.match(notLiveLine(r) ?? '', /unhealthy \(database written by a newer halton-meter \(read-only\)\)/);
  });

  test('edge down: 1, and the line names the edge port', () => {
    const r = report({ live: false }, { edge: { state: 'error', healthy: false } });
    assert.match(notLiveLine(r) ?? '', /the edge does not answer on 127\.0\.0\.1:8081/);
    const both = report({ live: false, daemon_version: null }, { edge: { state: 'error', healthy: false }, daemon: { state: 'error', healthy: false, version: null } });
    assert.match(notLiveLine(both) ?? '', /neither the edge nor the daemon answers/);
    assert.equal(statusExitCode(both), 1, 'installed (install-mode) but down is 1, not 3');
  });

  test('not installed and nothing answering: 3, one line, and the text output is only that line', () => {
    const r = report(
      { live: false, daemon_version: null, edge_version: null, install_mode: null },
      { edge: { state: 'error', healthy: false, version: null }, daemon: { state: 'error', healthy: false, version: null } },
    );
    assert.equal(notInstalled(r), true);
    assert.equal(statusExitCode(r), 3);
    assert.equal(notLiveLine(r), 'halton-meter: not installed and not running on this machine (run: halton-meter init --apps)');
    // `serve` without init: not installed, but live is live.
    const serve = report({ install_mode: null });
    assert.equal(notInstalled(serve), false);
    assert.equal(statusExitCode(serve), 0);
  });
});

describe('status --json', () => {
  test('the documented keys; components keep their fields, without the text-only sub-lines', () => {
    const j = statusJson(report());
    assert.deepEqual(Object.keys(j), ['cli_version', 'daemon_version', 'edge_version', 'install_mode', 'live', 'ports', 'components']);
    const comps = j.components as Array<Record<string, unknown>>;
    assert.deepEqual(
      comps.map((c) => c.name),
      ['edge', 'daemon', 'listeners', 'units', 'ca', 'certifi', 'linger', 'database', 'files'],
    );
    for (const c of comps) {
      assert.ok(['ok', 'warn', 'error', 'n/a'].includes(String(c.state)));
      assert.equal(typeof c.detail, 'string');
      assert.ok(!('more' in c));
    }
    assert.equal(comps[0].pid, 10);
    assert.doesNotThrow(() => JSON.parse(JSON.stringify(j)));
  });
});

describe('readers', () => {
  test('certifi bundle state against the current CA fingerprint', () => {
    const base = '# Issuer: CN=Root\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const block = (fp: string): string => `${markerLine(fp)}\n-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n`;
    assert.equal(bundleState(base + block('AA:11'), 'AA:11'), 'marker');
    assert.equal(bundleState(base, 'AA:11'), 'missing');
    assert.equal(bundleState(base + block('AA:11') + block('AA:11'), 'AA:11'), 'duplicated');
    assert.equal(bundleState(base + block('BB:22'), 'AA:11'), 'stale');
    assert.equal(bundleState(null, 'AA:11'), 'unreadable');
  });

  test('a systemd unit file: ExecStart and the version in its header', () => {
    const text = '# Written by `halton-meter init` (halton-meter 0.1.1). init replaces this file\n[Service]\nExecStart=/usr/bin/node /usr/lib/node_modules/halton-meter/bin/halton-meter.js daemon\n';
    assert.deepEqual(unitFileFacts(text), { exec: '/usr/bin/node /usr/lib/node_modules/halton-meter/bin/halton-meter.js daemon', writtenBy: '0.1.1' });
    assert.deepEqual(unitFileFacts(null), { exec: null, writtenBy: null });
  });

  test('durations', () => {
    assert.deepEqual([0, 59, 61, 3600, 3 * 3600 + 120, 2 * 86_400 + 7200].map(formatDuration), ['0s', '59s', '1m 1s', '1h 0m', '3h 2m', '2d 2h']);
  });
});

describe('collectStatus under systemd (recording systemctl, no real processes)', () => {
  const D = 'halton-meter.service';
  const E = 'halton-meter-edge.service';

  async function ctxWith(units: Record<string, Record<string, unknown>>, linger: 'yes' | 'no', unitVersion = VERSION): Promise<CliContext> {
    const home = mkdtempSync(join(tmpdir(), 'hm-status-sd-'));
    const bin = join(home, 'fakebin');
    mkdirSync(bin);
    const script = join(repoRoot(), 'test', 'helpers', 'fake-systemctl.mjs');
    for (const name of ['systemctl', 'loginctl']) {
      writeFileSync(join(bin, name), `#!/bin/sh\nFAKE_SYSTEMCTL_AS=${name} exec "${process.execPath}" "${script}" "$@"\n`);
      chmodSync(join(bin, name), 0o755);
    }
    const unitDir = join(home, '.config', 'systemd', 'user');
    mkdirSync(unitDir, { recursive: true });
    mkdirSync(join(home, '.halton-meter'));
    writeFileSync(join(home, '.halton-meter', 'install-mode'), 'systemd\n');
    const text = `# Written by \`halton-meter init\` (halton-meter ${unitVersion}).\n[Service]\nExecStart=/usr/bin/node /usr/lib/node_modules/halton-meter/bin/halton-meter.js daemon\n`;
    for (const n of [D, E]) writeFileSync(join(unitDir, n), text);
    const full = Object.fromEntries(
      Object.entries(units).map(([n, u]) => [n, { loaded: text, active: 'active', result: 'success', enabled: true, pid: 0, version: VERSION, restarts: 0, ...u }]),
    );
    const statePath = join(home, 'state.json');
    writeFileSync(statePath, JSON.stringify({ units: full, linger }));
    const env: Record<string, string> = {
      HOME: home,
      PATH: `${bin}:/usr/bin:/bin`,
      USER: 'ann',
      NO_COLOR: '1',
      FAKE_SYSTEMCTL_STATE: statePath,
      HALTON_METER_EDGE_PORT: String(await freePort()),
      HALTON_METER_INTERNAL_PORT: String(await freePort()),
      HALTON_METER_API_PORT: String(await freePort()),
    };
    const { config } = loadConfig({ env });
    return { config, ports: () => mergeEffective(config, readEffectivePorts(config.paths.effectivePorts)), env, out: () => undefined, err: () => undefined, style: plain };
  }
  const comp = (r: StatusReport, name: string): StatusComponent => r.components.find((c) => c.name === name) as StatusComponent;

  test('active units of this version: units ok with each unit state; nothing answers, so not live (exit 1)', async () => {
    const r = await collectStatus(await ctxWith({ [D]: { pid: 4001, restarts: 2 }, [E]: { pid: 4002 } }, 'yes'));
    assert.equal(r.install_mode, 'systemd');
    const u = comp(r, 'units');
    assert.equal(u.state, 'ok', u.detail);
    assert.equal(u.mode, 'systemd');
    const list = u.units as Array<Record<string, unknown>>;
    assert.deepEqual(
      list.map((x) => [x.unit, x.active_state, x.main_pid, x.n_restarts, x.unit_file_state, x.start_limit_hit, x.written_by]),
      [
        [E, 'active', 4002, 0, 'enabled', false, VERSION],
        [D, 'active', 4001, 2, 'enabled', false, VERSION],
      ],
    );
    assert.match(String(list[1].exec_start), /bin\/halton-meter\.js daemon$/);
    assert.match((u.more ?? []).join('\n'), /halton-meter\.service: active \(running\), 2 restarts, enabled/);
    assert.deepEqual([comp(r, 'linger').state, comp(r, 'linger').linger], ['ok', true]);
    assert.equal(r.live, false);
    assert.equal(statusExitCode(r), 1);
  });

  test('start-limit-hit names the fix; linger off says how to enable it; units of another version say run init', async () => {
    const r = await collectStatus(await ctxWith({ [D]: { active: 'failed', result: 'start-limit-hit' }, [E]: { pid: 4002 } }, 'no'));
    const u = comp(r, 'units');
    assert.equal(u.state, 'error');
    assert.match(u.detail, /halton-meter\.service hit the start limit: systemctl --user reset-failed halton-meter\.service halton-meter-edge\.service && halton-meter init --apps --clean/);
    assert.equal(comp(r, 'linger').state, 'warn');
    assert.match(comp(r, 'linger').detail, /loginctl enable-linger ann/);
    const old = await collectStatus(await ctxWith({ [D]: { pid: 1 }, [E]: { pid: 2 } }, 'yes', '0.0.1'));
    assert.equal(comp(old, 'units').state, 'warn');
    assert.match(comp(old, 'units').detail, new RegExp(`written by halton-meter 0\\.0\\.1 \\(this CLI is ${VERSION.replace(/\./g, '\\.')}\\): run halton-meter init`));
  });
});
