// The systemd user units as text: golden files with fixed paths, Environment= only for non-default
// values, the edge independent of the daemon, and `systemd-analyze verify --user` on the rendered
// files. PID 1 here is not systemd, so verify runs without a user manager: it needs only
// XDG_RUNTIME_DIR (a temp dir) to build its own manager in test mode, loads the files given as
// arguments, checks every directive and that ExecStart is executable. It prints unknown keys and bad
// values as warnings with exit 0, so any output at all fails the test (checked against a broken unit).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { resolvePaths } from '../../src/config/paths.js';
import { renderProcessUnit } from '../../src/service/process-units.js';
import { renderUnits, unitEnvironment, UNIT_NAMES, type UnitInput } from '../../src/service/units.js';
import { diffLines } from '../../src/service/text-diff.js';
import { repoRoot } from '../helpers/fake-provider.js';

const FIXED: UnitInput = {
  node: '/usr/bin/node',
  bin: '/usr/lib/node_modules/halton-meter/bin/halton-meter.js',
  version: '0.1.0',
  ports: { edge: 8081, internal: 8090, api: 8765 },
  env: [],
};

const GOLDEN_DAEMON = `# halton-meter daemon: intercepting proxy on 127.0.0.1:8090, local API on 127.0.0.1:8765.
# Written by \`halton-meter init\` (halton-meter 0.1.0). init replaces this file: change
# ~/.halton-meter/config.toml and run \`halton-meter init\` again instead of editing it.
# Not tied to halton-meter-edge.service: the edge keeps serving (passthrough) while this unit
# stops, restarts or is replaced by an upgrade.
[Unit]
Description=halton-meter daemon (meters LLM API calls)
# Given up after 10 starts in 5 min (start-limit-hit); traffic still flows through the edge.
StartLimitIntervalSec=300
StartLimitBurst=10

[Service]
Type=simple
ExecStart=/usr/bin/node /usr/lib/node_modules/halton-meter/bin/halton-meter.js daemon
UnsetEnvironment=HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy
SyslogIdentifier=halton-meter
Restart=always
RestartSec=2
# SIGTERM starts the drain: stop accepting, finish in-flight exchanges (up to 20 s), flush
# the rows, log daemon.exit. SIGKILL only if that overruns.
KillSignal=SIGTERM
KillMode=mixed
TimeoutStopSec=30

[Install]
WantedBy=default.target
`;

const GOLDEN_EDGE = `# halton-meter edge: the HTTPS_PROXY endpoint on 127.0.0.1:8081.
# Written by \`halton-meter init\` (halton-meter 0.1.0). init replaces this file: change
# ~/.halton-meter/config.toml and run \`halton-meter init\` again instead of editing it.
# Independent of halton-meter.service: when the daemon is down the edge passes traffic through.
[Unit]
Description=halton-meter edge (HTTPS_PROXY endpoint; passes traffic through when the daemon is down)
# No start limit: apps with HTTPS_PROXY set fail while the edge is down, so keep retrying.
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart=/usr/bin/node /usr/lib/node_modules/halton-meter/bin/halton-meter.js edge
UnsetEnvironment=HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy
SyslogIdentifier=halton-meter-edge
Restart=always
RestartSec=2
KillSignal=SIGTERM
KillMode=mixed
TimeoutStopSec=5

[Install]
WantedBy=default.target
`;

describe('unit text (golden)', () => {
  test('default ports: both units exactly as the golden text', () => {
    const u = renderUnits(FIXED);
    assert.equal(u.daemon.name, 'halton-meter.service');
    assert.equal(u.edge.name, 'halton-meter-edge.service');
    assert.equal(u.daemon.text, GOLDEN_DAEMON);
    assert.equal(u.edge.text, GOLDEN_EDGE);
  });

  test('fallback ports and a moved data dir: Environment= lines in both units, nothing else changes', () => {
    const paths = resolvePaths('/home/ann', { dataDir: '/srv/meter data' });
    const env = unitEnvironment({ edge: 8081, internal: 8091, api: 18765 }, paths);
    assert.deepEqual(env, [
      ['HALTON_METER_INTERNAL_PORT', '8091'],
      ['HALTON_METER_API_PORT', '18765'],
      ['HALTON_METER_HOME', '/srv/meter data'],
    ]);
    const u = renderUnits({ ...FIXED, ports: { edge: 8081, internal: 8091, api: 18765 }, env });
    const added = (text: string, golden: string): string[] =>
      diffLines(golden, text)
        .filter((d) => d.op === '+')
        .map((d) => d.line)
        .filter((l) => !l.startsWith('#'));
    const expected = ['Environment=HALTON_METER_INTERNAL_PORT=8091', 'Environment=HALTON_METER_API_PORT=18765', 'Environment="HALTON_METER_HOME=/srv/meter data"'];
    assert.deepEqual(added(u.daemon.text, GOLDEN_DAEMON), expected);
    assert.deepEqual(added(u.edge.text, GOLDEN_EDGE), expected);
    assert.deepEqual(unitEnvironment(FIXED.ports, resolvePaths('/home/ann')), [], 'defaults need no Environment=');
  });

  test('ExecStart quotes paths with blanks and escapes % and $ (systemd specifiers and expansion)', () => {
    const u = renderUnits({ ...FIXED, node: '/opt/my node/bin/node', bin: '/home/a/100%/$x/halton-meter.js' });
    assert.match(u.daemon.text, /^ExecStart="\/opt\/my node\/bin\/node" \/home\/a\/100%%\/\$\$x\/halton-meter\.js daemon$/m);
  });

  test('the edge and the daemon units never reference each other in a dependency', () => {
    const deps = /^(Requires|Requisite|BindsTo|PartOf|Wants|After|Before|Conflicts|PropagatesReloadTo|ReloadPropagatedFrom|Upholds|OnFailure)=/m;
    const u = renderUnits(FIXED);
    for (const unit of [u.daemon, u.edge]) {
      assert.doesNotMatch(unit.text, deps, `${unit.name} has a dependency directive`);
      assert.match(unit.text, /^Restart=always$/m);
      assert.match(unit.text, /^WantedBy=default\.target$/m);
    }
    assert.match(u.daemon.text, /^TimeoutStopSec=30$/m, 'room for the daemon\'s 20 s drain');
    assert.match(u.daemon.text, /^KillSignal=SIGTERM$/m);
  });

  test('process units carry the same argv and environment', () => {
    const text = renderProcessUnit({ ...FIXED, env: [['HALTON_METER_API_PORT', '18765']] }, 'daemon');
    const u = JSON.parse(text) as { argv: string[]; env: Record<string, string>; unset_env: string[] };
    assert.deepEqual(u.argv, ['/usr/bin/node', '/usr/lib/node_modules/halton-meter/bin/halton-meter.js', 'daemon']);
    assert.deepEqual(u.env, { HALTON_METER_API_PORT: '18765' });
    assert.ok(u.unset_env.includes('HTTPS_PROXY'));
  });
});

describe('systemd-analyze verify', () => {
  const available = spawnSync('systemd-analyze', ['--version']).status === 0;

  function verify(files: string[]): { status: number | null; output: string } {
    const runtime = mkdtempSync(join(tmpdir(), 'hm-xdg-'));
    const r = spawnSync('systemd-analyze', ['verify', '--user', '--man=no', ...files], {
      env: { ...process.env, XDG_RUNTIME_DIR: runtime, SYSTEMD_LOG_COLOR: '0' },
      encoding: 'utf8',
    });
    return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
  }

  test('the rendered units (real node and bin paths, default and fallback ports) verify with no output', { skip: !available && 'systemd-analyze not installed' }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'hm-units-'));
    const bin = join(repoRoot(), 'bin', 'halton-meter.js');
    // A node path with a blank, so the quoting is verified too.
    const spaced = join(dir, 'node dir');
    mkdirSync(spaced);
    symlinkSync(process.execPath, join(spaced, 'node'));
    for (const [sub, input] of [
      ['plain', { ...FIXED, node: process.execPath, bin }],
      ['fallback', { ...FIXED, node: join(spaced, 'node'), bin, ports: { edge: 18081, internal: 18090, api: 18765 }, env: unitEnvironment({ edge: 18081, internal: 18090, api: 18765 }, resolvePaths('/home/x', { dataDir: '/srv/meter data' })) }],
    ] as const) {
      const d = join(dir, sub);
      mkdirSync(d);
      const u = renderUnits(input);
      const files = [u.daemon, u.edge].map((x) => {
        writeFileSync(join(d, x.name), x.text);
        return join(d, x.name);
      });
      const r = verify(files);
      assert.equal(r.status, 0, `${sub}: ${r.output}`);
      assert.equal(r.output, '', `${sub}: systemd-analyze printed: ${r.output}`);
    }
  });

  test('control: a broken unit makes verify print (so silence above means something)', { skip: !available && 'systemd-analyze not installed' }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'hm-units-bad-'));
    const bad = GOLDEN_DAEMON.replace('Restart=always', 'Restart=alwayz').replace('/usr/bin/node', '/nonexistent/node');
    writeFileSync(join(dir, UNIT_NAMES.daemon), bad);
    const r = verify([join(dir, UNIT_NAMES.daemon)]);
    assert.match(r.output, /restart specifier/i);
    assert.match(r.output, /not executable/i);
  });
});
