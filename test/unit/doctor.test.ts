// doctor's pure parts: the verdict rule and exit codes, the text and JSON rendering (fix commands
// grouped, colours only when asked), which fixes --fix applies and which it leaves, the unit and env
// parsers; and the checks themselves over canned facts in a temporary HOME (no process started):
// a port held by another process, a daemon of another version, nothing installed.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { mergeEffective, readEffectivePorts } from '../../src/config/effective-ports.js';
import type { CliContext } from '../../src/cli/context.js';
import { makeStyle } from '../../src/cli/output/style.js';
import { proxyPortOf } from '../../src/cli/checks/env-files.js';
import { fixBook, gatherFacts, type DoctorDeps } from '../../src/cli/checks/facts.js';
import { CHECKS, runChecks } from '../../src/cli/checks/index.js';
import { nextSteps, renderReport, reportJson } from '../../src/cli/checks/render.js';
import { planRepairs, whyByHand } from '../../src/cli/checks/repair.js';
import { checkOnce } from '../../src/cli/checks/run.js';
import type { CheckResult } from '../../src/cli/checks/types.js';
import { execStartArgs } from '../../src/cli/checks/units.js';
import { EXIT_CODES, verdictOf } from '../../src/cli/checks/verdict.js';
import { renderUnits } from '../../src/service/units.js';
import { freePort } from '../helpers/meter.js';

const fixes = fixBook(true);
const r = (id: string, status: CheckResult['status'], fix: CheckResult['fix'] = null, detail = `${id} detail`): CheckResult => ({ id, title: id, status, detail, fix });

describe('verdict', () => {
  test('all ok is HEALTHY; any warn without a fail is INCONSISTENT; any fail is BROKEN', () => {
    assert.equal(verdictOf([]), 'HEALTHY');
    assert.equal(verdictOf([r('a', 'ok'), r('b', 'ok')]), 'HEALTHY');
    assert.equal(verdictOf([r('a', 'ok'), r('b', 'warn')]), 'INCONSISTENT');
    assert.equal(verdictOf([r('a', 'warn'), r('b', 'fail'), r('c', 'ok')]), 'BROKEN');
    assert.equal(verdictOf([r('a', 'fail')]), 'BROKEN');
  });

  test('exit codes: 0 HEALTHY, 1 INCONSISTENT, 2 BROKEN', () => {
    assert.deepEqual(EXIT_CODES, { HEALTHY: 0, INCONSISTENT: 1, BROKEN: 2 });
  });
});

describe('rendering', () => {
  const results = [
    r('config', 'ok'),
    r('units', 'warn', fixes.init, 'halton-meter.json differs from what init writes (edited by hand?)\n+ added:   "X": "1"'),
    r('certifi', 'warn', fixes.init),
    r('ports', 'fail', { command: 'kill 42 && halton-meter start  # python3 holds 127.0.0.1:8081', automatic: false }),
    r('daemon', 'fail', fixes.start),
  ];

  test('one mark per check, continuation lines indented, fixes grouped by command in check order, then the verdict', () => {
    const lines = renderReport({ verdict: verdictOf(results), checks: results }, makeStyle(false, {}));
    assert.deepEqual(lines, [
      '✓ config: config detail',
      '! units: halton-meter.json differs from what init writes (edited by hand?)',
      '    + added:   "X": "1"',
      '! certifi: certifi detail',
      '✗ ports: ports detail',
      '✗ daemon: daemon detail',
      '',
      'to fix:',
      '  units, certifi (doctor --fix does this):',
      '    halton-meter init --apps --non-interactive',
      '  ports (by hand):',
      '    kill 42 && halton-meter start  # python3 holds 127.0.0.1:8081',
      '  daemon (doctor --fix does this):',
      '    halton-meter start',
      '',
      'verdict: BROKEN',
    ]);
  });

  test('a healthy report has no fix section', () => {
    assert.deepEqual(renderReport({ verdict: 'HEALTHY', checks: [r('config', 'ok')] }, makeStyle(false, {})), ['✓ config: config detail', '', 'verdict: HEALTHY']);
  });

  test('colours only on a TTY without NO_COLOR', () => {
    const report = { verdict: verdictOf(results), checks: results };
    assert.match(renderReport(report, makeStyle(true, {})).join('\n'), /\u001b\[31m✗\u001b\[0m ports/);
    assert.doesNotMatch(renderReport(report, makeStyle(true, { NO_COLOR: '1' })).join('\n'), /\u001b\[/);
    assert.doesNotMatch(renderReport(report, makeStyle(false, {})).join('\n'), /\u001b\[/);
  });

  test('JSON: {verdict, checks, fixed}; a fix is {command, automatic} only', () => {
    const json = reportJson({ verdict: 'BROKEN', checks: results });
    assert.deepEqual(Object.keys(json), ['verdict', 'checks', 'fixed']);
    assert.deepEqual(json.checks[4], { id: 'daemon', title: 'daemon', status: 'fail', detail: 'daemon detail', fix: { command: 'halton-meter start', automatic: true } });
    assert.equal(json.checks[0].fix, null);
    assert.deepEqual(json.fixed, []);
    const withFix = reportJson({ verdict: 'HEALTHY', checks: [] }, { before: { verdict: 'BROKEN', checks: results }, applied: [], left: [] });
    assert.deepEqual(Object.keys(withFix), ['verdict', 'checks', 'fixed', 'not_fixed', 'before']);
  });

  test('nextSteps groups the checks of one command', () => {
    assert.deepEqual(
      nextSteps(results).map((s) => [s.command, s.automatic, s.action, s.checks]),
      [
        ['halton-meter init --apps --non-interactive', true, 'init', ['units', 'certifi']],
        ['kill 42 && halton-meter start  # python3 holds 127.0.0.1:8081', false, null, ['ports']],
        ['halton-meter start', true, 'start', ['daemon']],
      ],
    );
  });
});

describe('fix commands', () => {
  test('spelled for the machine: --apps only when environment.d was written; the start-limit fix', () => {
    assert.equal(fixBook(false).init.command, 'halton-meter init --non-interactive');
    assert.equal(fixBook(true).init.command, 'halton-meter init --apps --non-interactive');
    assert.deepEqual(fixes.resetFailed, {
      command: 'systemctl --user reset-failed halton-meter.service halton-meter-edge.service && halton-meter init --apps --clean',
      automatic: false,
    });
    assert.equal(fixes.newCa.automatic, false);
    assert.match(fixes.newCa.command, /# creates a NEW CA/);
  });

  test('what --fix leaves to the user, and why', () => {
    assert.equal(whyByHand('kill 42 && halton-meter start  # python3 holds 127.0.0.1:8081'), 'doctor never kills a process it did not start');
    assert.match(whyByHand(fixes.newCa.command), /never creates a new CA/);
    assert.match(whyByHand(fixes.resetFailed.command), /read its log first/);
    assert.match(whyByHand('loginctl enable-linger ann'), /login setting/);
  });
});

describe('parsers', () => {
  test('ExecStart arguments as units.ts quotes them', () => {
    const text = renderUnits({
      node: '/opt/my node/bin/node',
      bin: '/home/a b/100%/lib/node_modules/halton-meter/bin/halton-meter.js',
      version: '1.2.3',
      ports: { edge: 8081, internal: 8090, api: 8765 },
      env: [],
    }).daemon.text;
    assert.deepEqual(execStartArgs(text), ['/opt/my node/bin/node', '/home/a b/100%/lib/node_modules/halton-meter/bin/halton-meter.js', 'daemon']);
    assert.deepEqual(execStartArgs('ExecStart=/usr/bin/node /x/halton-meter.js edge\n'), ['/usr/bin/node', '/x/halton-meter.js', 'edge']);
  });

  test('the edge port an env file sends HTTPS_PROXY to', () => {
    assert.equal(proxyPortOf("export HTTPS_PROXY='http://127.0.0.1:8081'\n"), 8081);
    assert.equal(proxyPortOf('NO_PROXY=x\nHTTPS_PROXY=http://proj:x@127.0.0.1:9001\n'), 9001);
    assert.equal(proxyPortOf('# nothing\n'), null);
  });
});

// ---- the checks over canned facts -------------------------------------------------------------------

async function world(opts: { edgeHolder?: { pid: number; name: string } } = {}): Promise<{ ctx: CliContext; deps: DoctorDeps; lines: string[] }> {
  const home = mkdtempSync(join(tmpdir(), 'hm-doctor-unit-'));
  const env: Record<string, string> = {
    HOME: home,
    PATH: '/nonexistent',
    USER: 'ann',
    NO_COLOR: '1',
    HALTON_METER_EDGE_PORT: String(await freePort()),
    HALTON_METER_INTERNAL_PORT: String(await freePort()),
    HALTON_METER_API_PORT: String(await freePort()),
  };
  const { config } = loadConfig({ env });
  const lines: string[] = [];
  const ctx: CliContext = {
    config,
    ports: () => mergeEffective(config, readEffectivePorts(config.paths.effectivePorts)),
    env,
    out: (t) => lines.push(t),
    err: (t) => lines.push(t),
    style: makeStyle(false, env),
  };
  const edgePort = config.ports.edge;
  const deps: DoctorDeps = {
    node: '/usr/bin/node',
    bin: '/usr/lib/node_modules/halton-meter/bin/halton-meter.js',
    version: '0.2.0',
    user: 'ann',
    probeEdge: async () => ({ up: false, pid: null, version: null }),
    probeDaemon: async () => ({ reachable: false, healthy: false, version: null, startedAt: null, reason: 'no answer' }),
    daemonPid: async () => null,
    daemonStatus: async () => null,
    selftest: async () => ({ rowId: 'row', ms: 1 }),
    portProbe: {
      canBind: async (p) => !(opts.edgeHolder && p === edgePort),
      holder: (p) => (opts.edgeHolder && p === edgePort ? { pid: opts.edgeHolder.pid, argv: [opts.edgeHolder.name], role: null } : null),
    },
    healthTimeoutMs: 200,
    ask: null,
  };
  return { ctx, deps, lines };
}

describe('checks over canned facts', () => {
  test('nothing installed: BROKEN, install-mode and CA name `halton-meter init --apps`; no unit, linger or self-test check', async () => {
    const { ctx, deps } = await world();
    const report = await checkOnce(ctx, deps, []);
    assert.equal(report.verdict, 'BROKEN');
    const ids = report.checks.map((c) => c.id);
    assert.deepEqual(ids, ['config', 'install-mode', 'ca', 'ca-bundle', 'env-files', 'certifi', 'ports', 'edge', 'daemon', 'database']);
    for (const id of ['install-mode', 'ca', 'edge', 'daemon']) {
      const c = report.checks.find((x) => x.id === id)!;
      assert.equal(c.status, 'fail', id);
      assert.deepEqual(c.fix, { command: 'halton-meter init --apps', automatic: false }, id);
    }
    assert.equal(nextSteps(report.checks).length, 1, 'one command answers them all');
  });

  test('a foreign process on the edge port: ports and edge fail with the kill command; --fix plans no kill and no init', async () => {
    const pid = 4194301;
    const { ctx, deps } = await world({ edgeHolder: { pid, name: 'python3' } });
    const facts = await gatherFacts(ctx, deps, []);
    const results = await runChecks(facts, CHECKS);
    const ports = results.find((c) => c.id === 'ports')!;
    assert.equal(ports.status, 'fail');
    assert.match(ports.detail, new RegExp(`edge 127\\.0\\.0\\.1:${facts.ports.edge} is held by .* \\(pid ${pid}\\), not by our edge`));
    assert.equal(ports.fix?.automatic, false);
    assert.match(ports.fix!.command, new RegExp(`^kill ${pid} && halton-meter start {2}# .* holds 127\\.0\\.0\\.1:${facts.ports.edge}$`));
    assert.deepEqual(results.find((c) => c.id === 'edge')!.fix, ports.fix);
    const plan = planRepairs(
      [...results, { id: 'units', title: 'units', status: 'warn', detail: 'edited', fix: facts.fixes.init }],
      facts,
    );
    assert.equal(plan.init, null, 'init would move the edge to a fallback port');
    assert.ok(plan.left.some((l) => l.command.startsWith(`kill ${pid}`) && l.reason === 'doctor never kills a process it did not start'));
  });

  test('config warnings make the config check warn', async () => {
    const { ctx, deps } = await world();
    const report = await checkOnce(ctx, deps, ['unknown key [daemon] foo in config.toml'], CHECKS.filter((c) => c.id === 'config'));
    assert.equal(report.verdict, 'INCONSISTENT');
    assert.match(report.checks[0].detail, /unknown key \[daemon\] foo/);
  });
});
