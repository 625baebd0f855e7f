// `halton-meter init`: everything that makes the meter run on this machine, idempotent (SPEC §7).
// Steps, in order, each printed with ✓/✗/!/- and its reason:
//   clean (--clean) -> CA -> ports -> files (env, ca-bundle.pem, environment.d) -> certifi ->
//   supervisor -> units (rendered, diffed, written) -> reload -> processes (start what is down,
//   restart the daemon only when needed, never a healthy edge) -> linger -> self-test.
// The ports come before the files because the files name the edge port.
// Everything the flow touches outside its inputs comes through InitDeps, so the unit tests can run
// it against a recording systemctl.
import { execFile } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { ensureCa } from '../ca/index.js';
import { readEffectivePorts, writeEffectivePorts } from '../config/effective-ports.js';
import type { Ports } from '../config/types.js';
import { MeterError, errorMessage } from '../core/errors.js';
import { writeCaBundle } from '../service/ca-bundle.js';
import {
  applyCertifiPatch,
  certifiRecordPath,
  certifiWhere,
  findInterpreters,
  parseCertifiRecord,
  realBundlePath,
  renderCertifiRecord,
  type CertifiRecord,
} from '../service/certifi.js';
import { meterProcessOn, ProcessDriver, SystemdDriver, unitView } from '../service/drivers.js';
import { clientEnv } from '../service/env.js';
import { renderEnvFile } from '../service/env-file.js';
import { environmentDPath, renderEnvironmentD } from '../service/environment-d.js';
import { readText, removeFile, writeTextIfChanged } from '../service/files.js';
import { waitUntil, type DaemonProbe, type EdgeProbe } from '../service/health.js';
import { planDaemon, planEdge, type Action } from '../service/init-plan.js';
import { readInstallMode, writeInstallMode, type InstallMode } from '../service/install-mode.js';
import { describePorts, validatePorts, type PortProbe } from '../service/ports.js';
import { isMeterProcess } from '../service/procs.js';
import { processUnitPath, processUnitsDir, renderProcessUnits } from '../service/process-units.js';
import { spawnSupervisor, supervisorHello, supervisorRequest } from '../service/supervisor-client.js';
import { runPaths } from '../service/supervisor-protocol.js';
import { lingerEnabled, Systemctl } from '../service/systemctl.js';
import { diffLines, renderDiff } from '../service/text-diff.js';
import { renderUnits, unitEnvironment, unitPath, UNIT_NAMES, UNSET_ENV, type Component, type RenderedUnit, type UnitInput } from '../service/units.js';
import type { CliContext } from './context.js';
import { StepLog, tilde } from './steps.js';

export const SUPERVISOR_CHOICES = ['auto', 'systemd', 'process'] as const;

export interface InitOptions {
  apps?: boolean;
  nonInteractive?: boolean;
  clean?: boolean;
  supervisor?: string;
  /** Extra Python interpreters whose certifi bundle to patch (remembered in certifi.json). */
  python?: string[];
  /** Run the self-test at the end (default true). */
  selftest?: boolean;
}

export interface InitDeps {
  node: string;
  bin: string;
  version: string;
  user: string;
  probeEdge(port: number): Promise<EdgeProbe>;
  probeDaemon(apiPort: number): Promise<DaemonProbe>;
  daemonPid(apiPort: number): Promise<number | null>;
  selftest(ctx: CliContext): Promise<{ rowId: string; ms: number }>;
  portProbe: PortProbe;
  /** How long to wait for the edge and the daemon to become healthy after a start. */
  healthTimeoutMs: number;
  /** Asks a yes/no question (interactive runs only); null = non-interactive. */
  ask: ((question: string) => Promise<boolean>) | null;
}

export interface InitResult {
  code: number;
  mode: InstallMode | null;
  changes: string[];
}

/** The environment a supervisor (and through it the children) starts from: no proxy variables. */
export function serviceEnv(env: CliContext['env']): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  for (const k of UNSET_ENV) delete out[k];
  return out;
}

export function supervisorArgv(deps: Pick<InitDeps, 'node' | 'bin'>): string[] {
  return [deps.node, deps.bin, 'supervise'];
}

export function parseSupervisor(value: string | undefined): (typeof SUPERVISOR_CHOICES)[number] {
  const v = value ?? 'auto';
  if ((SUPERVISOR_CHOICES as readonly string[]).includes(v)) return v as (typeof SUPERVISOR_CHOICES)[number];
  throw new MeterError('bad_argument', `unknown supervisor "${v}"`, 'use --supervisor auto, systemd or process');
}

/** auto: the mode init recorded before; else systemd when a user manager answers; else process. */
export async function chooseMode(choice: (typeof SUPERVISOR_CHOICES)[number], recorded: InstallMode | null, systemctl: Systemctl): Promise<{ mode: InstallMode; why: string }> {
  if (choice !== 'auto') return { mode: choice, why: `--supervisor ${choice}` };
  if (recorded) return { mode: recorded, why: 'as installed before (install-mode)' };
  const m = await systemctl.userManagerState();
  if (m.reachable) return { mode: 'systemd', why: `systemd user manager is ${m.state}` };
  const booted = existsSync('/run/systemd/system');
  return {
    mode: 'process',
    why: booted
      ? `systemd runs but your user manager does not answer (${m.state || 'no answer'}); log in through a normal session or use --supervisor systemd once it does`
      : `no systemd here (${m.state || 'systemctl not available'})`,
  };
}

function unitsFor(mode: InstallMode, input: UnitInput): Record<Component, RenderedUnit> {
  return mode === 'systemd' ? renderUnits(input) : renderProcessUnits(input);
}

function installedPath(ctx: CliContext, mode: InstallMode, c: Component): string {
  return mode === 'systemd' ? unitPath(ctx.config.paths, c) : processUnitPath(ctx.config.paths, c);
}

export async function runInit(ctx: CliContext, opts: InitOptions, deps: InitDeps): Promise<InitResult> {
  const paths = ctx.config.paths;
  const choice = parseSupervisor(opts.supervisor);
  const extraPythons = (opts.python ?? []).map((p) => (isAbsolute(p) ? p : resolve(p)));
  for (const p of extraPythons) if (!existsSync(p)) throw new MeterError('bad_argument', `--python ${p}: no such file`, 'give the path of a Python interpreter');
  const steps = new StepLog(ctx);
  const systemctl = new Systemctl(ctx.env);
  const recorded = readInstallMode(paths.installMode);
  const { mode, why } = await chooseMode(choice, recorded, systemctl);
  const supEnv = serviceEnv(ctx.env);
  const processDriver = new ProcessDriver(paths, supervisorArgv(deps), supEnv);
  const systemdDriver = new SystemdDriver(systemctl);

  // ---- clean -------------------------------------------------------------------------------------
  if (opts.clean) await clean(ctx, steps, recorded ?? mode, systemctl, processDriver);

  // ---- CA ----------------------------------------------------------------------------------------
  let ca;
  try {
    const r = await ensureCa(paths.caDir);
    ca = r.ca;
    const where = tilde(ca.paths.certPem, paths.home);
    if (r.created) steps.change('created the CA');
    for (const fix of r.repaired) steps.change(`CA: ${fix}`);
    steps.ok('CA', `${r.created ? 'created' : 'reused'} ${where} (SHA-256 ${ca.fingerprintSha256})${r.repaired.length ? `; repaired: ${r.repaired.join(', ')}` : ''}`);
  } catch (e) {
    steps.fail('CA', errorMessage(e), (e as MeterError).hint);
    return { code: 1, mode, changes: steps.changes };
  }

  // ---- ports -------------------------------------------------------------------------------------
  let ports: Ports;
  try {
    const recordedPorts = readEffectivePorts(paths.effectivePorts);
    const r = await validatePorts(ctx.config, recordedPorts, deps.portProbe);
    ports = r.ports;
    if (r.changed) {
      writeEffectivePorts(paths.effectivePorts, {
        edge_port: ports.edge,
        internal_port: ports.internal,
        api_port: ports.api,
        written_by: 'init',
        pid: process.pid,
        written_at: new Date().toISOString(),
      });
      steps.change('effective-ports.json');
    }
    const moved = Object.values(r.decisions).some((d) => d.movedFrom);
    const kept = r.decisions.edge.port !== ctx.config.ports.edge && !r.decisions.edge.movedFrom;
    const more = kept ? [`    the running edge stays on ${ports.edge} (apps point at it); to move it to ${ctx.config.ports.edge}: halton-meter stop --edge && halton-meter init`] : [];
    (moved ? steps.warn.bind(steps) : steps.ok.bind(steps))('ports', `${describePorts(r).join(', ')}${r.changed ? '; effective-ports.json written' : ''}`, more);
  } catch (e) {
    steps.fail('ports', errorMessage(e), (e as MeterError).hint);
    return { code: 1, mode, changes: steps.changes };
  }

  // ---- files -------------------------------------------------------------------------------------
  const vars = clientEnv(ctx.config, ports.edge);
  try {
    const done: string[] = [];
    const envOutcome = writeTextIfChanged(paths.envFile, renderEnvFile(vars, deps.version), 0o644);
    done.push(`${tilde(paths.envFile, paths.home)} ${envOutcome}`);
    if (envOutcome !== 'unchanged') steps.change('env');
    const bundleWritten = writeCaBundle(paths.caBundle, ca.certPem);
    done.push(`${tilde(paths.caBundle, paths.home)} ${bundleWritten ? 'written' : 'unchanged'}`);
    if (bundleWritten) steps.change('ca-bundle.pem');
    const envd = environmentDPath(paths);
    if (opts.apps || existsSync(envd)) {
      const o = writeTextIfChanged(envd, renderEnvironmentD(vars, deps.version), 0o644);
      done.push(`${tilde(envd, paths.home)} ${o}${opts.apps ? '' : ' (kept up to date: written by an earlier init --apps)'}`);
      if (o !== 'unchanged') steps.change('environment.d');
    }
    steps.ok('files', done.join(', '));
    if (!opts.apps && !existsSync(envd)) steps.skip('apps', `environment.d not written (init --apps makes apps of your session use the meter); shells: . ${tilde(paths.envFile, paths.home)}`);
  } catch (e) {
    steps.fail('files', errorMessage(e), (e as MeterError).hint);
    return { code: 1, mode, changes: steps.changes };
  }

  // ---- certifi -----------------------------------------------------------------------------------
  await patchCertifi(ctx, steps, ca.fingerprintSha256, ca.certPem, extraPythons);

  // ---- supervisor --------------------------------------------------------------------------------
  steps.ok('supervisor', `${mode} (${why})`);
  if (recorded && recorded !== mode && !opts.clean) {
    await switchAway(ctx, steps, recorded, systemctl, processDriver);
  }

  // ---- units + processes ---------------------------------------------------------------------------
  const input: UnitInput = { node: deps.node, bin: deps.bin, version: deps.version, ports, env: unitEnvironment(ports, paths) };
  const applied =
    mode === 'systemd'
      ? await applySystemd(ctx, steps, deps, systemctl, systemdDriver, input, ports)
      : await applyProcess(ctx, steps, deps, processDriver, input, ports);
  if (writeInstallMode(paths.installMode, mode) !== 'unchanged') steps.change('install-mode');
  if (!applied) {
    summary(steps, ctx);
    return { code: 1, mode, changes: steps.changes };
  }

  // ---- linger ------------------------------------------------------------------------------------
  if (mode === 'systemd') await checkLinger(steps, deps, ctx);
  else steps.skip('linger', 'not needed: the process supervisor does not depend on a login session');

  // ---- self-test ---------------------------------------------------------------------------------
  if (opts.selftest !== false) {
    try {
      const r = await deps.selftest(ctx);
      steps.ok('self-test', `row ${r.rowId} written in ${r.ms} ms (edge 127.0.0.1:${ports.edge} -> daemon -> SQLite)`);
    } catch (e) {
      steps.fail('self-test', errorMessage(e), (e as MeterError).hint);
    }
  }
  summary(steps, ctx);
  return { code: steps.failed ? 1 : 0, mode, changes: steps.changes };
}

function summary(steps: StepLog, ctx: CliContext): void {
  if (steps.failed) ctx.out(`init: finished with errors (see ✗ above)${steps.changes.length ? `; changed: ${steps.changes.join(', ')}` : ''}`);
  else if (steps.changes.length === 0) ctx.out('init: unchanged (nothing written, nothing restarted)');
  else ctx.out(`init: done; changed: ${steps.changes.join(', ')}`);
}

// ---- clean ---------------------------------------------------------------------------------------

async function clean(ctx: CliContext, steps: StepLog, previous: InstallMode, systemctl: Systemctl, processDriver: ProcessDriver): Promise<void> {
  const paths = ctx.config.paths;
  const did: string[] = [];
  if (previous === 'systemd') {
    const s = await systemctl.show();
    const loaded = (['daemon', 'edge'] as const).filter((c) => s[c].loadState !== '' && s[c].loadState !== 'not-found');
    if (loaded.includes('daemon') && unitView(s.daemon).running) {
      await systemctl.run('stop', UNIT_NAMES.daemon);
      did.push('stopped the daemon');
    }
    const enabled = (['daemon', 'edge'] as const).filter((c) => existsSync(unitPath(paths, c)));
    if (enabled.length) await systemctl.run('disable', ...enabled.map((c) => UNIT_NAMES[c]));
    // Clears a start-limit-hit, so the rebuilt units can start.
    if (loaded.length) await systemctl.run('reset-failed', ...loaded.map((c) => UNIT_NAMES[c]));
  } else {
    if (await supervisorHello(paths)) {
      await processDriver.ask({ cmd: 'stop', component: 'daemon' });
      did.push('stopped the daemon');
      // The supervisor exits and leaves the edge serving; the new one adopts it.
      await supervisorRequest(paths, { cmd: 'handover' }, 10_000);
      const pid = processDriver.supervisorPid();
      if (pid !== null) await waitUntil(() => !isMeterProcess(pid, 'supervise'), 5000);
    } else {
      await processDriver.stop('daemon');
    }
  }
  const removed: string[] = [];
  for (const c of ['daemon', 'edge'] as const) {
    if (removeFile(unitPath(paths, c))) removed.push(UNIT_NAMES[c]);
  }
  if (existsSync(processUnitsDir(paths))) {
    rmSync(processUnitsDir(paths), { recursive: true, force: true });
    removed.push('units/');
  }
  if (existsSync(runPaths(paths).dir)) {
    rmSync(runPaths(paths).dir, { recursive: true, force: true });
    removed.push('run/ (pid files)');
  }
  if (removeFile(paths.effectivePorts)) removed.push('effective-ports.json');
  if (removeFile(paths.installMode)) removed.push('install-mode');
  steps.change('clean');
  steps.ok('clean', `${[...did, removed.length ? `removed ${removed.join(', ')}` : 'nothing to remove'].join('; ')}; kept db.sqlite, config.toml and the CA; the edge keeps serving`);
}

/** init with another supervisor than last time: stop what the old one ran and remove its units. */
async function switchAway(ctx: CliContext, steps: StepLog, old: InstallMode, systemctl: Systemctl, processDriver: ProcessDriver): Promise<void> {
  const paths = ctx.config.paths;
  if (old === 'systemd') {
    await systemctl.run('disable', '--now', UNIT_NAMES.daemon, UNIT_NAMES.edge);
    for (const c of ['daemon', 'edge'] as const) removeFile(unitPath(paths, c));
    await systemctl.run('daemon-reload');
  } else {
    if (await supervisorHello(paths)) await processDriver.ask({ cmd: 'shutdown' });
    else {
      await processDriver.stop('daemon');
      await processDriver.stop('edge');
    }
    rmSync(processUnitsDir(paths), { recursive: true, force: true });
    rmSync(runPaths(paths).dir, { recursive: true, force: true });
  }
  steps.change(`switched from ${old}`);
  steps.warn('supervisor', `switched from ${old}: its edge and daemon were stopped and its units removed (the edge was down for a moment)`);
}

// ---- certifi ---------------------------------------------------------------------------------------

async function patchCertifi(ctx: CliContext, steps: StepLog, fingerprint: string, caPem: string, extra: string[]): Promise<void> {
  const paths = ctx.config.paths;
  const recordPath = certifiRecordPath(paths.dataDir);
  const before = readText(recordPath);
  const record = parseCertifiRecord(before);
  const pythons = [...new Set([...record.pythons, ...extra])];
  const interpreters = findInterpreters({ home: paths.home, pathVar: ctx.env.PATH, extra: pythons.filter((p) => existsSync(p)) });
  const where = await Promise.all(interpreters.map((i) => certifiWhere(i.path, { ...ctx.env } as NodeJS.ProcessEnv)));
  const lines: string[] = [];
  const next: CertifiRecord = { pythons, patched: [] };
  const seen = new Set<string>();
  let problems = 0;
  let patched = 0;
  interpreters.forEach((interp, i) => {
    const w = where[i];
    const who = `${tilde(interp.path, paths.home)} (${interp.source})`;
    if (!w.ok) {
      lines.push(`    - ${who}: ${w.reason}`);
      return;
    }
    const bundle = realBundlePath(w.bundle);
    if (seen.has(bundle)) {
      lines.push(`    - ${who}: same bundle as above`);
      return;
    }
    seen.add(bundle);
    const out = applyCertifiPatch(bundle, fingerprint, caPem);
    const shown = tilde(bundle, paths.home);
    const known = record.patched.find((p) => p.bundle === bundle);
    switch (out.kind) {
      case 'already':
        lines.push(`    ✓ ${who}: ${shown} already has the marker`);
        break;
      case 'patched': {
        const what =
          out.action === 'replaced-stale'
            ? 'updated to the current CA'
            : out.action === 'deduplicated'
              ? 'duplicate blocks collapsed to one'
              : known && known.fingerprint === fingerprint
                ? 're-applied (the bundle was replaced: venv rebuilt or certifi upgraded)'
                : 'patched';
        lines.push(`    ✓ ${who}: ${shown} ${what}`);
        steps.change(`certifi ${shown}`);
        patched++;
        break;
      }
      case 'skipped':
        lines.push(`    - ${who}: ${out.reason}`);
        return;
      case 'failed':
        lines.push(`    ! ${who}: ${out.reason}`);
        problems++;
        return;
    }
    next.patched.push({ python: interp.path, bundle, fingerprint });
  });
  const text = renderCertifiRecord(next);
  if (text !== before && (before !== null || next.patched.length > 0 || next.pythons.length > 0)) writeTextIfChanged(recordPath, text, 0o644);
  const head =
    interpreters.length === 0
      ? 'no Python interpreter found (python3 on PATH, pipx or uv tool venvs); add one with --python PATH'
      : `${next.patched.length} certifi bundle(s) carry the meter CA${patched ? ` (${patched} patched now)` : ''}`;
  if (problems) steps.warn('certifi', head, lines);
  else steps.ok('certifi', head, lines);
}

// ---- units -----------------------------------------------------------------------------------------

interface UnitChanges {
  changed: Record<Component, boolean>;
  any: boolean;
}

function writeUnits(ctx: CliContext, steps: StepLog, mode: InstallMode, input: UnitInput): UnitChanges {
  const paths = ctx.config.paths;
  const rendered = unitsFor(mode, input);
  const changed: Record<Component, boolean> = { edge: false, daemon: false };
  const words: string[] = [];
  const more: string[] = [];
  for (const c of ['daemon', 'edge'] as const) {
    const path = installedPath(ctx, mode, c);
    const old = readText(path);
    const text = rendered[c].text;
    const outcome = writeTextIfChanged(path, text, 0o644);
    changed[c] = outcome !== 'unchanged';
    words.push(`${rendered[c].name} ${outcome}`);
    if (outcome === 'updated' && old !== null) {
      const d = diffLines(old, text);
      more.push(`    ${rendered[c].name}:`, ...renderDiff(d.slice(0, 16), '      '), ...(d.length > 16 ? [`      … ${d.length - 16} more lines`] : []));
    }
    if (changed[c]) steps.change(rendered[c].name);
  }
  const dir = tilde(mode === 'systemd' ? paths.unitDir : processUnitsDir(paths), paths.home);
  steps.ok('units', `${words.join(', ')} (${dir})`, more);
  return { changed, any: changed.edge || changed.daemon };
}

// ---- systemd ---------------------------------------------------------------------------------------

async function applySystemd(
  ctx: CliContext,
  steps: StepLog,
  deps: InitDeps,
  systemctl: Systemctl,
  driver: SystemdDriver,
  input: UnitInput,
  ports: Ports,
): Promise<boolean> {
  const before = await systemctl.show();
  if (!before.ok) {
    steps.fail('systemd', `cannot reach your systemd user manager: ${before.error}`, 'run init from a normal login session, or use: halton-meter init --supervisor process');
    return false;
  }
  const units = writeUnits(ctx, steps, 'systemd', input);
  if (units.any || before.daemon.needDaemonReload || before.edge.needDaemonReload) {
    const r = await systemctl.run('daemon-reload');
    if (r.code !== 0) {
      steps.fail('reload', `systemctl --user daemon-reload failed: ${r.stderr.trim() || `exit ${r.code}`}`);
      return false;
    }
    steps.ok('reload', 'systemctl --user daemon-reload');
  } else {
    steps.ok('reload', 'not needed (units unchanged)');
  }
  if (before.daemon.unitFileState !== 'enabled' || before.edge.unitFileState !== 'enabled') {
    const r = await systemctl.run('enable', UNIT_NAMES.daemon, UNIT_NAMES.edge);
    if (r.code !== 0) steps.warn('enable', `systemctl --user enable failed: ${r.stderr.trim()}; the units will not start at login`);
    else steps.change('enabled the units');
  }
  const edgeView = unitView(before.edge);
  const daemonView = unitView(before.daemon);
  for (const [c, v] of [['edge', edgeView], ['daemon', daemonView]] as const) {
    if (v.startLimitHit) {
      steps.fail(c, `${UNIT_NAMES[c]} hit its start limit (systemd gave up restarting it)`, 'systemctl --user reset-failed halton-meter.service halton-meter-edge.service && halton-meter init --apps --clean');
      return false;
    }
  }
  const edgeProbe = await settleEdge(deps, ports.edge, edgeView.running);
  // An edge of ours holding the port outside systemd (`halton-meter run`, an old serve) would make the
  // unit's edge fail to bind, forever (no start limit): hand the port to the unit.
  let edgeServing = edgeProbe.up;
  if (edgeProbe.up && edgeProbe.pid !== null && edgeProbe.pid !== before.edge.mainPid) {
    await stopOrphan(steps, edgeProbe.pid, 'edge', 5000);
    edgeServing = false;
  }
  const edgeAction = planEdge({ running: edgeView.running, healthy: edgeServing, unitChanged: units.changed.edge, port: ports.edge });
  const daemonProbe = await settleDaemon(deps, ports.api, daemonView.running);
  if (!daemonView.running && daemonProbe.reachable) {
    const pid = meterProcessOn(ports.api, 'daemon');
    if (pid !== null) await stopOrphan(steps, pid, 'daemon', 30_000);
  }
  const daemonAction = planDaemon(
    { running: daemonView.running, healthy: daemonProbe.healthy, version: daemonProbe.version, reason: daemonProbe.reason, unitChanged: units.changed.daemon },
    deps.version,
  );
  try {
    await act(steps, 'edge', edgeAction, () => driver.start(['edge']), () => driver.restart('edge'));
    await act(steps, 'daemon', daemonAction, () => driver.start(['daemon']), () => driver.restart('daemon'));
  } catch (e) {
    steps.fail('processes', errorMessage(e), (e as MeterError).hint);
    return false;
  }
  return reportHealth(steps, deps, ports, async () => ({ edge: null, daemon: await deps.daemonPid(ports.api) }));
}

// ---- process supervisor ------------------------------------------------------------------------------

async function applyProcess(ctx: CliContext, steps: StepLog, deps: InitDeps, driver: ProcessDriver, input: UnitInput, ports: Ports): Promise<boolean> {
  const paths = ctx.config.paths;
  const units = writeUnits(ctx, steps, 'process', input);
  steps.ok('reload', 'not needed (the supervisor reads the units at each start)');
  let snap = await supervisorHello(paths);
  try {
    if (snap && (snap.version !== deps.version || snap.node !== deps.node || snap.bin !== deps.bin)) {
      const old = snap;
      await driver.ask({ cmd: 'handover' }, 10_000);
      await waitUntil(() => !isMeterProcess(old.pid, 'supervise'), 5000);
      steps.change('replaced the supervisor');
      steps.ok('supervisor', `replaced supervisor ${old.version} (pid ${old.pid}) with ${deps.version}; the edge and daemon were left running`);
      snap = null;
    }
    let spawned = false;
    if (!snap) {
      // init starts what is down: a `stop` holding the daemon down is lifted.
      for (const c of ['edge', 'daemon'] as const) rmSync(runPaths(paths).stopped(c), { force: true });
      snap = await spawnSupervisor(paths, supervisorArgv(deps), serviceEnv(ctx.env));
      spawned = true;
      steps.change('started the supervisor');
      steps.ok('supervisor', `started (pid ${snap.pid}); ${(['edge', 'daemon'] as const).map((c) => `${c} ${snap!.children[c].adopted ? `adopted (pid ${snap!.children[c].pid})` : 'started'}`).join(', ')}`);
    }
    const s = snap;
    const fresh = (c: Component): boolean => spawned && !s.children[c].adopted && s.children[c].pid !== null;
    const running = (c: Component): boolean => s.children[c].pid !== null && s.children[c].state !== 'stopped';
    const edgeProbe = await settleEdge(deps, ports.edge, running('edge'));
    const edgeAction: Action = fresh('edge')
      ? { kind: 'start', why: 'it was not running' }
      : planEdge({ running: running('edge'), healthy: edgeProbe.up, unitChanged: units.changed.edge, port: ports.edge });
    const daemonProbe = await settleDaemon(deps, ports.api, running('daemon'));
    const daemonAction: Action = fresh('daemon')
      ? { kind: 'start', why: 'it was not running' }
      : planDaemon(
          { running: running('daemon'), healthy: daemonProbe.healthy, version: daemonProbe.version, reason: daemonProbe.reason, unitChanged: units.changed.daemon },
          deps.version,
        );
    const ask = (c: Component, cmd: 'start' | 'restart') => async (): Promise<void> => {
      // Already started by the supervisor that was just spawned.
      if (cmd === 'start' && fresh(c)) return;
      await driver.ask(cmd === 'start' ? { cmd: 'start', components: [c] } : { cmd: 'restart', component: c });
    };
    await act(steps, 'edge', edgeAction, ask('edge', 'start'), ask('edge', 'restart'));
    await act(steps, 'daemon', daemonAction, ask('daemon', 'start'), ask('daemon', 'restart'));
  } catch (e) {
    steps.fail('processes', errorMessage(e), (e as MeterError).hint);
    return false;
  }
  return reportHealth(steps, deps, ports, async () => {
    const now = await supervisorHello(paths);
    return { edge: now?.children.edge.pid ?? null, daemon: now?.children.daemon.pid ?? null };
  });
}

// ---- shared ----------------------------------------------------------------------------------------

async function act(steps: StepLog, c: Component, a: Action, start: () => Promise<void>, restart: () => Promise<void>): Promise<void> {
  if (a.kind === 'none') {
    actionsTaken.set(steps, { ...(actionsTaken.get(steps) ?? {}), [c]: a });
    return;
  }
  if (a.kind === 'start') await start();
  else await restart();
  steps.change(`${a.kind === 'start' ? 'started' : 'restarted'} the ${c}`);
  actionsTaken.set(steps, { ...(actionsTaken.get(steps) ?? {}), [c]: a });
}

/** What act() did to each component during one init, for the closing health lines. */
const actionsTaken = new WeakMap<StepLog, Partial<Record<Component, Action>>>();

/** A running edge that does not answer yet may be starting: give it a moment before judging. */
async function settleEdge(deps: InitDeps, port: number, running: boolean): Promise<EdgeProbe> {
  let p = await deps.probeEdge(port);
  if (running && !p.up) {
    await waitUntil(async () => (p = await deps.probeEdge(port)).up, 3000, 200);
  }
  return p;
}

async function settleDaemon(deps: InitDeps, port: number, running: boolean): Promise<DaemonProbe> {
  let p = await deps.probeDaemon(port);
  if (running && !p.healthy) {
    await waitUntil(async () => (p = await deps.probeDaemon(port)).healthy, 5000, 200);
  }
  return p;
}

async function stopOrphan(steps: StepLog, pid: number, c: Component, timeoutMs: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (!(await waitUntil(() => !isMeterProcess(pid, c), timeoutMs))) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone.
    }
  }
  steps.change(`stopped an unsupervised ${c}`);
  steps.warn(c, `stopped our ${c} (pid ${pid}) that ran outside the supervisor, so the supervised one can take its port`);
}

async function reportHealth(
  steps: StepLog,
  deps: InitDeps,
  ports: Ports,
  pids: () => Promise<Record<Component, number | null>>,
): Promise<boolean> {
  const actions = actionsTaken.get(steps) ?? {};
  let edge = await deps.probeEdge(ports.edge);
  if (!edge.up) await waitUntil(async () => (edge = await deps.probeEdge(ports.edge)).up, deps.healthTimeoutMs, 100);
  let daemon = await deps.probeDaemon(ports.api);
  if (!daemon.healthy) await waitUntil(async () => (daemon = await deps.probeDaemon(ports.api)).healthy, deps.healthTimeoutMs, 100);
  const p = await pids();
  const word = (a: Action): string => (a.kind === 'none' ? `${a.why}; not restarted` : `${a.kind === 'start' ? 'started' : 'restarted'}: ${a.why}`);
  let ok = true;
  if (edge.up) {
    const a = actions.edge;
    steps.ok('edge', `${a ? word(a) : planEdge({ running: true, healthy: true, unitChanged: false, port: ports.edge }).why}; serving on 127.0.0.1:${ports.edge} (pid ${edge.pid ?? p.edge ?? '?'})`);
  } else {
    ok = false;
    steps.fail('edge', `not answering on 127.0.0.1:${ports.edge} after ${deps.healthTimeoutMs / 1000} s`, 'see ~/.halton-meter/edge.log (halton-meter logs --component edge)');
  }
  if (daemon.healthy) {
    const a = actions.daemon;
    steps.ok('daemon', `${a ? word(a) : `healthy, version ${daemon.version}; not restarted`}; API 127.0.0.1:${ports.api}, intercepting 127.0.0.1:${ports.internal}${p.daemon ? ` (pid ${p.daemon})` : ''}`);
  } else {
    ok = false;
    steps.fail('daemon', `not healthy after ${deps.healthTimeoutMs / 1000} s: ${daemon.reason}; traffic passes through the edge unmetered`, 'see ~/.halton-meter/daemon.log (halton-meter logs --component daemon)');
  }
  return ok;
}

async function checkLinger(steps: StepLog, deps: InitDeps, ctx: CliContext): Promise<void> {
  const l = await lingerEnabled(deps.user, ctx.env);
  if (l.linger === true) {
    steps.ok('linger', `enabled for ${deps.user}: the meter runs from boot, without a login session`);
    return;
  }
  const how = `loginctl enable-linger ${deps.user}`;
  if (l.linger === false && deps.ask && (await deps.ask(`Enable linger for ${deps.user} so the meter runs without a login session (${how})?`))) {
    const ok = await new Promise<boolean>((r) => execFile(ctx.env.HALTON_METER_LOGINCTL || 'loginctl', ['enable-linger', deps.user], (e) => r(!e)));
    if (ok) {
      steps.change('linger');
      steps.ok('linger', `enabled for ${deps.user}`);
      return;
    }
  }
  steps.warn(
    'linger',
    l.linger === false
      ? `off for ${deps.user}: the units stop when your last session ends and start only at login; enable: ${how}`
      : `cannot tell (${l.detail}); to run without a login session: ${how}`,
  );
}
