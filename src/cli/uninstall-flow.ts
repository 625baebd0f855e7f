// `halton-meter uninstall [--purge] [--yes] [--graceful]`: undoes init. Stops the daemon and the
// edge (and the process supervisor) and removes what init wrote: the units, run/, the environment.d
// file, the certifi patches, env, ca-bundle.pem, effective-ports.json, install-mode. Keeps
// db.sqlite, config.toml, the logs and the CA unless --purge. Idempotent: a second run finds nothing
// and says so. Each step prints one line like init's (✓ done, - nothing to do, ! attention, ✗ failed).
//
// Stopping: by default the daemon gets SIGTERM and a few seconds to exit before SIGKILL, so a stream
// still open is cut. --graceful gives it its whole drain (in-flight exchanges finish and get their
// rows, up to 20 s), then stops the edge.
import { existsSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { caPaths } from '../ca/index.js';
import type { Paths } from '../config/types.js';
import { MeterError, errorMessage } from '../core/errors.js';
import { certifiRecordPath, parseCertifiRecord, removeCertifiPatch } from '../service/certifi.js';
import { environmentDPath } from '../service/environment-d.js';
import { readText, removeFile } from '../service/files.js';
import { waitUntil } from '../service/health.js';
import { readInstallMode } from '../service/install-mode.js';
import { isMeterProcess, portHolder, readPid, type MeterRole } from '../service/procs.js';
import { processUnitsDir } from '../service/process-units.js';
import { supervisorHello, supervisorPid, supervisorRequest } from '../service/supervisor-client.js';
import { runPaths } from '../service/supervisor-protocol.js';
import { Systemctl, firstLine } from '../service/systemctl.js';
import { UNIT_NAMES, unitPath, type Component } from '../service/units.js';
import { unitView } from '../service/drivers.js';
import type { CliContext } from './context.js';
import { StepLog, tilde } from './steps.js';

export interface UninstallOptions {
  purge?: boolean;
  yes?: boolean;
  graceful?: boolean;
}

export interface UninstallDeps {
  /** Asks a yes/no question on the terminal; null when not interactive. */
  ask: ((question: string) => Promise<boolean>) | null;
  /** SIGTERM -> SIGKILL delay for the daemon without --graceful (ms). */
  quickStopMs?: number;
  /** How long systemd may take to report the units inactive without --graceful (ms). */
  systemdQuickMs?: number;
}

/** How long the daemon may drain with --graceful: its 20 s drain plus margin (units.ts TimeoutStopSec). */
const GRACEFUL_DAEMON_MS = 30_000;
const EDGE_STOP_MS = 5000;

export async function runUninstall(ctx: CliContext, opts: UninstallOptions, deps: UninstallDeps): Promise<number> {
  const paths = ctx.config.paths;
  if (opts.purge && !opts.yes) {
    if (!deps.ask) {
      throw new MeterError(
        'bad_argument',
        'uninstall --purge deletes your captured data, config.toml and the CA, and needs --yes when not run from a terminal',
        'run: halton-meter uninstall --purge --yes (or without --purge to keep them)',
      );
    }
    ctx.out(purgeWarning(paths));
    if (!(await deps.ask('Delete them?'))) {
      ctx.out('uninstall: cancelled; nothing was changed');
      return 1;
    }
  }
  const steps = new StepLog(ctx);
  const mode = readInstallMode(paths.installMode);
  const graceful = opts.graceful === true;
  const quickMs = deps.quickStopMs ?? 3000;

  // ---- stop ----------------------------------------------------------------------------------------
  const hasSystemdUnits = (['daemon', 'edge'] as const).some((c) => existsSync(unitPath(paths, c)));
  if (mode === 'systemd' || hasSystemdUnits) await stopSystemd(ctx, steps, graceful, deps.systemdQuickMs ?? 5000);
  await stopProcesses(ctx, steps, graceful, quickMs);

  // ---- files init wrote ----------------------------------------------------------------------------
  removeInstalled(ctx, steps);

  // ---- data ----------------------------------------------------------------------------------------
  if (opts.purge) purge(paths, steps);
  else {
    const kept = [paths.db, paths.configFile].filter((p) => existsSync(p)).map((p) => tilde(p, paths.home));
    const ca = existsSync(caPaths(paths.caDir).key);
    if (kept.length || ca) {
      steps.ok('kept', `${[...kept, ...(ca ? [`the CA (${tilde(paths.caDir, paths.home)})`] : []), 'the logs'].join(', ')}; uninstall --purge removes them`);
    }
  }

  const envd = environmentDPath(paths);
  if (steps.failed) {
    ctx.out(`uninstall: finished with errors (see ✗ above)${steps.changes.length ? `; done: ${steps.changes.join(', ')}` : ''}`);
    return 1;
  }
  if (steps.changes.length === 0) {
    ctx.out('uninstall: nothing to do (halton-meter is not installed here)');
    return 0;
  }
  ctx.out(`uninstall: done (${steps.changes.join('; ')})`);
  if (steps.changes.includes('environment.d')) {
    ctx.out(`  apps that got HTTPS_PROXY from ${tilde(envd, paths.home)} keep it until they restart (your session: until the next login)`);
  }
  ctx.out('  npm uninstall -g halton-meter removes the program itself');
  return 0;
}

function purgeWarning(paths: Paths): string {
  const ca = caPaths(paths.caDir);
  return [
    'halton-meter uninstall --purge also deletes, for good:',
    `  ${tilde(paths.db, paths.home)} (every captured call and its cost)`,
    `  ${tilde(paths.configFile, paths.home)}`,
    `  the logs in ${tilde(paths.dataDir, paths.home)}`,
    `  the CA ${tilde(ca.key, paths.home)} and its certificate (mitmproxy uses the same files; clients that trust it stop working with a new one)`,
  ].join('\n');
}

// ---- stopping ------------------------------------------------------------------------------------------

async function stopSystemd(ctx: CliContext, steps: StepLog, graceful: boolean, quickMs: number): Promise<void> {
  const paths = ctx.config.paths;
  const sc = new Systemctl(ctx.env, 60_000);
  const s = await sc.show();
  const names = [UNIT_NAMES.daemon, UNIT_NAMES.edge];
  const did: string[] = [];
  if (!s.ok) {
    steps.warn('systemd', `cannot reach your systemd user manager (${s.error}); removing the unit files anyway: run systemctl --user daemon-reload once it answers`);
  } else {
    const loaded = (['daemon', 'edge'] as const).filter((c) => s[c].loadState !== '' && s[c].loadState !== 'not-found');
    const running = loaded.filter((c) => unitView(s[c]).running);
    if (running.length) {
      if (graceful) {
        // The daemon first, with its whole drain (TimeoutStopSec=30), then the edge.
        for (const c of ['daemon', 'edge'] as const) {
          if (!running.includes(c)) continue;
          const r = await sc.run('stop', UNIT_NAMES[c]);
          if (r.code !== 0) steps.fail('stop', `systemctl --user stop ${UNIT_NAMES[c]} failed: ${firstLine(r.stderr) || `exit ${r.code}`}`);
        }
      } else {
        await sc.run('stop', '--no-block', ...running.map((c) => UNIT_NAMES[c]));
        const inactive = async (): Promise<boolean> => {
          const now = await sc.show();
          return running.every((c) => !unitView(now[c]).running);
        };
        if (!(await waitUntil(inactive, quickMs, 200))) {
          await sc.run('kill', '--signal=SIGKILL', ...running.map((c) => UNIT_NAMES[c]));
          await sc.run('stop', ...running.map((c) => UNIT_NAMES[c]));
        }
      }
      did.push(`stopped ${running.map((c) => UNIT_NAMES[c]).join(' and ')}${graceful ? ' (graceful)' : ''}`);
      steps.change('stopped the units');
    }
    if ((['daemon', 'edge'] as const).some((c) => s[c].unitFileState === 'enabled' || s[c].unitFileState === 'enabled-runtime')) {
      const r = await sc.run('disable', ...names);
      if (r.code === 0) did.push('disabled them');
      else steps.warn('systemd', `systemctl --user disable failed: ${firstLine(r.stderr) || `exit ${r.code}`}`);
    }
  }
  const removed: string[] = [];
  for (const c of ['daemon', 'edge'] as const) if (removeFile(unitPath(paths, c))) removed.push(UNIT_NAMES[c]);
  if (removed.length) {
    did.push(`removed ${removed.join(', ')} from ${tilde(paths.unitDir, paths.home)}`);
    steps.change('systemd units');
  }
  if (s.ok && (removed.length || did.length)) {
    await sc.run('daemon-reload');
    const loaded = (['daemon', 'edge'] as const).filter((c) => s[c].loadState !== '' && s[c].loadState !== 'not-found');
    // Forget a failed state (start-limit-hit) so nothing of it lingers in systemctl --user --failed.
    if (loaded.length) await sc.run('reset-failed', ...loaded.map((c) => UNIT_NAMES[c]));
    did.push('daemon-reload');
  }
  if (did.length) steps.ok('systemd', did.join('; '));
  else steps.skip('systemd', 'no halton-meter units installed');
}

type StopOutcome = 'stopped' | 'killed' | 'gone';

async function stopPid(pid: number, role: MeterRole, graceMs: number): Promise<StopOutcome> {
  if (!isMeterProcess(pid, role)) return 'gone';
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return 'gone';
  }
  if (await waitUntil(() => !isMeterProcess(pid, role), graceMs, 50)) return 'stopped';
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return 'stopped';
  }
  await waitUntil(() => !isMeterProcess(pid, role), 2000, 50);
  return 'killed';
}

/** The meter's own edge or daemon: its pid file, else the process listening on its ports. */
function meterPids(ctx: CliContext, c: Component): number[] {
  const run = runPaths(ctx.config.paths);
  const ports = ctx.ports();
  const out = new Set<number>();
  const fromFile = readPid(run.pid(c));
  if (fromFile !== null && isMeterProcess(fromFile, c)) out.add(fromFile);
  for (const port of c === 'edge' ? [ports.edge] : [ports.api, ports.internal]) {
    const h = portHolder(port);
    if (h && h.role === c) out.add(h.pid);
  }
  return [...out];
}

/**
 * The process supervisor (if any) first, so nothing restarts what is stopped next; then the daemon
 * (draining), then the edge. Also catches an edge or daemon of ours running outside any supervisor.
 */
async function stopProcesses(ctx: CliContext, steps: StepLog, graceful: boolean, quickMs: number): Promise<void> {
  const paths = ctx.config.paths;
  const did: string[] = [];
  const snap = await supervisorHello(paths, 2000);
  if (snap) {
    if (graceful) {
      // Stops the daemon (SIGTERM, its drain) and then the edge, and exits.
      const r = await supervisorRequest(paths, { cmd: 'shutdown' }, GRACEFUL_DAEMON_MS + EDGE_STOP_MS + 10_000);
      if (!r || !r.ok) steps.warn('stop', `the process supervisor did not confirm the shutdown${r && !r.ok ? `: ${r.error}` : ''}; stopping the processes directly`);
    } else {
      await supervisorRequest(paths, { cmd: 'handover' }, 10_000);
    }
    if (!(await waitUntil(() => !isMeterProcess(snap.pid, 'supervise'), 5000, 50))) await stopPid(snap.pid, 'supervise', 2000);
    did.push(`stopped the process supervisor (pid ${snap.pid})`);
  } else {
    const pid = supervisorPid(paths);
    if (pid !== null) {
      await stopPid(pid, 'supervise', 5000);
      did.push(`stopped the process supervisor (pid ${pid}, not answering)`);
    }
  }
  for (const c of ['daemon', 'edge'] as const) {
    const grace = c === 'daemon' ? (graceful ? GRACEFUL_DAEMON_MS : quickMs) : EDGE_STOP_MS;
    for (const pid of meterPids(ctx, c)) {
      const r = await stopPid(pid, c, grace);
      if (r === 'gone') continue;
      did.push(`${r === 'killed' ? 'killed' : 'stopped'} the ${c} (pid ${pid})`);
      if (isMeterProcess(pid, c)) steps.fail('stop', `the ${c} (pid ${pid}) is still running`, `kill ${pid}`);
    }
  }
  if (did.length) {
    steps.change('stopped the meter');
    steps.ok('stop', did.join(', '));
  } else {
    steps.skip('stop', 'no edge, daemon or supervisor of ours is running');
  }
}

// ---- files ---------------------------------------------------------------------------------------------

function removeInstalled(ctx: CliContext, steps: StepLog): void {
  const paths = ctx.config.paths;
  const removed: string[] = [];
  const rmDir = (dir: string, label: string): void => {
    if (!existsSync(dir)) return;
    try {
      rmSync(dir, { recursive: true, force: true });
      removed.push(label);
    } catch (e) {
      steps.fail('files', `cannot remove ${dir}: ${errorMessage(e)}`);
    }
  };
  rmDir(processUnitsDir(paths), 'units/');
  rmDir(runPaths(paths).dir, 'run/');

  // environment.d: apps of the next session no longer get the proxy.
  const envd = environmentDPath(paths);
  if (removeFile(envd)) {
    steps.change('environment.d');
    steps.ok('environment.d', `removed ${tilde(envd, paths.home)} (takes effect at your next login)`);
  } else {
    steps.skip('environment.d', 'no environment.d file');
  }

  // certifi: our marker block out of every bundle init patched.
  const recordPath = certifiRecordPath(paths.dataDir);
  const record = parseCertifiRecord(readText(recordPath));
  const lines: string[] = [];
  let cleaned = 0;
  let problems = 0;
  for (const p of record.patched) {
    const r = removeCertifiPatch(p.bundle);
    const where = tilde(p.bundle, paths.home);
    if ('failed' in r) {
      problems++;
      lines.push(`    ! ${where}: ${r.failed}`);
    } else if (r.removed > 0) {
      cleaned++;
      lines.push(`    ✓ ${where}: marker removed`);
    } else {
      lines.push(`    - ${where}: no marker (already clean or gone)`);
    }
  }
  if (cleaned) steps.change('certifi patches');
  if (problems) steps.warn('certifi', `${problems} bundle(s) could not be cleaned; remove the "# halton-meter local CA" block by hand`, lines);
  else if (record.patched.length) steps.ok('certifi', `${cleaned} bundle(s) cleaned`, lines);
  else steps.skip('certifi', 'no certifi bundle was patched');
  if (problems === 0 && removeFile(recordPath)) removed.push('certifi.json');

  for (const [path, label] of [
    [paths.envFile, 'env'],
    [paths.caBundle, 'ca-bundle.pem'],
    [paths.effectivePorts, 'effective-ports.json'],
    [paths.installMode, 'install-mode'],
  ] as const) {
    if (removeFile(path)) removed.push(label);
  }
  if (removed.length) {
    steps.change(removed.join(', '));
    steps.ok('files', `removed ${removed.join(', ')} from ${tilde(paths.dataDir, paths.home)}`);
  } else {
    steps.skip('files', `nothing of init's left in ${tilde(paths.dataDir, paths.home)}`);
  }
}

/** What --purge deletes in the data directory: the database (and its WAL), config, logs. */
function isPurgeable(name: string): boolean {
  return /^db\.sqlite(-wal|-shm|-journal)?$/.test(name) || name === 'config.toml' || /\.log(\.\d+|\.old)?$/.test(name) || /^\..+\.tmp$/.test(name);
}

function purge(paths: Paths, steps: StepLog): void {
  const removed: string[] = [];
  const left: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(paths.dataDir);
  } catch {
    names = [];
  }
  for (const name of names) {
    if (!isPurgeable(name)) {
      left.push(name);
      continue;
    }
    try {
      rmSync(join(paths.dataDir, name), { force: true });
      removed.push(name);
    } catch (e) {
      steps.fail('purge', `cannot remove ${join(paths.dataDir, name)}: ${errorMessage(e)}`);
    }
  }
  if (names.length && left.length === 0) {
    try {
      rmdirSync(paths.dataDir);
      removed.push(`${tilde(paths.dataDir, paths.home)}/`);
    } catch {
      // Not empty after all (written meanwhile): left as it is.
    }
  }
  const ca = caPaths(paths.caDir);
  const caRemoved = [ca.key, ca.certPem, ca.certCer].filter((f) => removeFile(f));
  if (caRemoved.length) {
    removed.push(`the CA (${caRemoved.map((f) => tilde(f, paths.home)).join(', ')})`);
    try {
      if (readdirSync(paths.caDir).length === 0) rmdirSync(paths.caDir);
    } catch {
      // Other files of mitmproxy's: keep the directory.
    }
  }
  if (removed.length) {
    steps.change('data (purge)');
    steps.ok('purge', `removed ${removed.join(', ')}${left.length ? `; left in ${tilde(paths.dataDir, paths.home)} (not ours to delete): ${left.join(', ')}` : ''}`);
  } else {
    steps.skip('purge', 'no data, config or CA left');
  }
}
