// What `halton-meter status` reports (SPEC §7): the CLI's version and the running daemon's, the
// install mode, and every component with a state and one line of detail. Collecting only reads:
// loopback probes, /proc, the files init wrote, `systemctl --user show`; it never starts, stops or
// writes anything. Rendering is pure, so the unit tests check the text and the exit code from a
// report built by hand.
//
// States, the same for every component:
//   ok   as it should be        warn  works, but needs attention (the detail says what to run)
//   error broken or not running  n/a   does not apply here (linger under the process supervisor)
import { statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { loadCa } from '../ca/index.js';
import type { Paths, Ports } from '../config/types.js';
import { errorMessage } from '../core/errors.js';
import { VERSION } from '../core/version.js';
import { appliedMigrations, countRequests, LATEST_MIGRATION_ID, openDb } from '../store/index.js';
import { certifiRecordPath, inspectBundleText, parseCertifiRecord } from '../service/certifi.js';
import { childView, unitView, type ComponentView } from '../service/drivers.js';
import { environmentDPath } from '../service/environment-d.js';
import { readText } from '../service/files.js';
import { getJson, probeDaemon, probeEdge } from '../service/health.js';
import { readInstallMode, type InstallMode } from '../service/install-mode.js';
import { occupant, type PortKey } from '../service/ports.js';
import { readPid, isMeterProcess } from '../service/procs.js';
import { readProcessUnit } from '../service/process-units.js';
import { lastSnapshot, supervisorHello, supervisorPid } from '../service/supervisor-client.js';
import { runPaths, type SupervisorSnapshot } from '../service/supervisor-protocol.js';
import { lingerEnabled, Systemctl, type UnitState } from '../service/systemctl.js';
import { COMPONENTS, UNIT_NAMES, unitPath, type Component } from '../service/units.js';
import type { CliContext } from './context.js';
import { CHECK, CROSS, type Style } from './output/style.js';
import { binPath } from './spawn.js';
import { tilde } from './steps.js';

export const COMPONENT_STATES = ['ok', 'warn', 'error', 'n/a'] as const;
export type ComponentState = (typeof COMPONENT_STATES)[number];

export interface StatusComponent {
  name: 'edge' | 'daemon' | 'listeners' | 'units' | 'ca' | 'certifi' | 'linger' | 'database' | 'files';
  state: ComponentState;
  detail: string;
  /** Indented lines under the detail in the text output (one per unit, bundle, ...). */
  more?: string[];
  [field: string]: unknown;
}

export interface StatusReport {
  cli_version: string;
  /** What the daemon's GET /health says, or null when no daemon answers. */
  daemon_version: string | null;
  edge_version: string | null;
  /** ~/.halton-meter/install-mode; null when init has not run. */
  install_mode: InstallMode | null;
  /** The edge answers and the daemon is healthy: traffic is metered. */
  live: boolean;
  ports: Ports;
  components: StatusComponent[];
}

/** Exit codes of `status`: documented in docs/operations.md. */
export const STATUS_EXIT = { live: 0, notLive: 1, notInstalled: 3 } as const;

// ---- collecting ----------------------------------------------------------------------------------

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** `: disk_full 3, shutdown 1` from the daemon's rows_lost_by_reason; empty when nothing was lost. */
export function lostWords(byReason: unknown): string {
  if (typeof byReason !== 'object' || byReason === null) return '';
  const parts = Object.entries(byReason as Record<string, unknown>)
    .filter(([, n]) => typeof n === 'number' && n > 0)
    .map(([reason, n]) => `${reason} ${String(n)}`);
  return parts.length ? `: ${parts.join(', ')}` : '';
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

interface SupervisorFacts {
  mode: InstallMode | null;
  edge: ComponentView | null;
  daemon: ComponentView | null;
  component: StatusComponent;
}

export async function collectStatus(ctx: CliContext): Promise<StatusReport> {
  const paths = ctx.config.paths;
  const ports = ctx.ports();
  const mode = readInstallMode(paths.installMode);
  const home = paths.home;

  const [edgeProbe, daemonProbe, daemonStatus] = await Promise.all([
    probeEdge(ports.edge),
    probeDaemon(ports.api),
    getJson(ports.api, '/v1/daemon/status', 800),
  ]);
  const sup = await supervisorFacts(ctx, mode);

  // ---- edge
  const edgePid = edgeProbe.pid ?? sup.edge?.pid ?? null;
  const edge: StatusComponent = edgeProbe.up
    ? {
        name: 'edge',
        state: 'ok',
        detail: `serving on 127.0.0.1:${ports.edge} (pid ${edgePid ?? '?'}${edgeProbe.version ? `, version ${edgeProbe.version}` : ''})${daemonProbe.healthy ? '' : '; passing traffic through unmetered while the daemon is down'}`,
        pid: edgePid,
        port: ports.edge,
        healthy: true,
        version: edgeProbe.version,
      }
    : {
        name: 'edge',
        state: 'error',
        detail: `not answering on 127.0.0.1:${ports.edge}${sup.edge ? ` (${sup.edge.detail})` : ''}; apps with HTTPS_PROXY=http://127.0.0.1:${ports.edge} cannot connect`,
        pid: sup.edge?.running ? sup.edge.pid : null,
        port: ports.edge,
        healthy: false,
        version: null,
      };

  // ---- daemon
  const st = daemonStatus?.status === 200 ? daemonStatus.body : null;
  const daemonPid = num(st?.pid) ?? sup.daemon?.pid ?? null;
  const rows = { rows_written: num(st?.rows_written), rows_failed: num(st?.rows_failed), rows_queued: num(st?.rows_queued) };
  const uptime = num(st?.uptime_s);
  const daemonFields = {
    pid: daemonPid,
    ports: { internal: ports.internal, api: ports.api },
    healthy: daemonProbe.healthy,
    version: daemonProbe.version,
    started_at: daemonProbe.startedAt,
    uptime_s: uptime,
    ...rows,
    reason: daemonProbe.reason,
  };
  const rowWords =
    rows.rows_written === null
      ? ''
      : `; rows since start: ${rows.rows_written} written, ${rows.rows_failed ?? 0} failed (lost${lostWords(st?.rows_lost_by_reason)}), ${rows.rows_queued ?? 0} queued`;
  // The daemon stays healthy while writes fail for a while (a lock, a full disk): rows wait in memory.
  const writeWords = st?.write_failing === true ? `; database writes failing (${String(st.last_write_error ?? 'unknown')}): rows held in memory until they succeed` : '';
  const where = `API 127.0.0.1:${ports.api}, intercepting 127.0.0.1:${ports.internal}`;
  let daemon: StatusComponent;
  if (daemonProbe.healthy) {
    const other = daemonProbe.version !== null && daemonProbe.version !== VERSION;
    daemon = {
      name: 'daemon',
      state: other || (rows.rows_failed ?? 0) > 0 || writeWords ? 'warn' : 'ok',
      detail:
        `healthy, version ${daemonProbe.version ?? '?'}${uptime !== null ? `, up ${formatDuration(uptime)}` : ''} (pid ${daemonPid ?? '?'}); ${where}${rowWords}${writeWords}` +
        (other ? `; this CLI is ${VERSION}: run halton-meter init to switch the daemon to it` : ''),
      ...daemonFields,
    };
  } else if (daemonProbe.reachable) {
    daemon = {
      name: 'daemon',
      state: 'error',
      detail: `unhealthy: ${daemonProbe.reason}${daemonProbe.version ? ` (version ${daemonProbe.version})` : ''}; ${where}; traffic passes through the edge unmetered`,
      ...daemonFields,
    };
  } else {
    const why = sup.daemon?.held ? 'stopped (halton-meter start brings it back)' : sup.daemon ? sup.daemon.detail : 'not running';
    daemon = { name: 'daemon', state: 'error', detail: `not answering on 127.0.0.1:${ports.api}: ${why}; traffic passes through the edge unmetered`, ...daemonFields };
  }

  const components: StatusComponent[] = [
    edge,
    daemon,
    await listeners(ports),
    sup.component,
    await caComponent(paths),
    await certifiComponent(paths),
    await lingerComponent(ctx, mode),
    databaseComponent(paths),
    filesComponent(paths),
  ];
  return {
    cli_version: VERSION,
    daemon_version: daemonProbe.version,
    edge_version: edgeProbe.version,
    install_mode: mode,
    live: edgeProbe.up && daemonProbe.healthy,
    ports,
    components,
  };
}

const OWNER: Readonly<Record<PortKey, Component>> = { edge: 'edge', internal: 'daemon', api: 'daemon' };

async function listeners(ports: Ports): Promise<StatusComponent> {
  const list = await Promise.all(
    (['edge', 'internal', 'api'] as const).map(async (key) => {
      const o = await occupant(ports[key], key);
      return { key, port: ports[key], expected: OWNER[key], ...o };
    }),
  );
  const words = list.map((l) =>
    l.kind === 'ours' ? `${l.port} ${l.expected} (pid ${l.pid})` : l.kind === 'free' ? `${l.port} nothing listening` : `${l.port} held by ${l.name}${l.pid ? ` (pid ${l.pid})` : ''}`,
  );
  const other = list.some((l) => l.kind === 'other');
  const free = list.some((l) => l.kind === 'free');
  return {
    name: 'listeners',
    state: other || free ? 'error' : 'ok',
    detail: words.join(', ') + (other ? '; another process holds a meter port: halton-meter init picks a free one' : ''),
    listeners: list.map((l) => ({
      port: l.port,
      key: l.key,
      expected: l.expected,
      holder: l.kind,
      pid: l.kind === 'free' ? null : l.pid,
      name: l.kind === 'other' ? l.name : null,
    })),
  };
}

/** The first ExecStart= of a systemd unit file, and the version named in its header comment. */
export function unitFileFacts(text: string | null): { exec: string | null; writtenBy: string | null } {
  if (text === null) return { exec: null, writtenBy: null };
  const exec = /^ExecStart=(.*)$/m.exec(text)?.[1] ?? null;
  const writtenBy = /\(halton-meter ([^)\s]+)\)/.exec(text)?.[1] ?? null;
  return { exec, writtenBy };
}

async function supervisorFacts(ctx: CliContext, mode: InstallMode | null): Promise<SupervisorFacts> {
  const paths = ctx.config.paths;
  const bin = binPath();
  if (mode === 'systemd') {
    const systemctl = new Systemctl(ctx.env, 5000);
    const s = await systemctl.show();
    const units = COMPONENTS.map((c) => {
      const u: UnitState = s[c];
      const file = unitFileFacts(readText(unitPath(paths, c)));
      return {
        component: c,
        unit: UNIT_NAMES[c],
        load_state: u.loadState,
        active_state: u.activeState,
        sub_state: u.subState,
        result: u.result,
        main_pid: u.mainPid,
        n_restarts: u.nRestarts,
        unit_file_state: u.unitFileState,
        need_daemon_reload: u.needDaemonReload,
        start_limit_hit: u.result === 'start-limit-hit',
        path: unitPath(paths, c),
        exec_start: file.exec,
        written_by: file.writtenBy,
      };
    });
    const views = { edge: unitView(s.edge), daemon: unitView(s.daemon) };
    const more = units.map(
      (u) =>
        `${u.unit}: ${views[u.component].detail}${u.unit_file_state ? `, ${u.unit_file_state}` : ''}${u.need_daemon_reload ? ', changed on disk (daemon-reload needed)' : ''}${u.written_by ? `; written by ${u.written_by}` : ''}`,
    );
    let state: ComponentState = 'ok';
    let detail = `systemd user units (${tilde(paths.unitDir, paths.home)})`;
    const limit = units.filter((u) => u.start_limit_hit);
    const stale = units.filter((u) => u.written_by !== null && u.written_by !== VERSION);
    if (!s.ok) {
      state = 'error';
      detail = `cannot ask the systemd user manager: ${s.error}`;
    } else if (limit.length) {
      state = 'error';
      detail += `; ${limit.map((u) => u.unit).join(', ')} hit the start limit: systemctl --user reset-failed halton-meter.service halton-meter-edge.service && halton-meter init --apps --clean`;
    } else if (units.some((u) => u.load_state !== 'loaded')) {
      state = 'error';
      detail += '; a unit is not installed: run halton-meter init';
    } else if (!views.edge.running || !views.daemon.running) {
      state = 'error';
      detail += `; ${[!views.edge.running ? 'edge' : '', !views.daemon.running ? 'daemon' : ''].filter(Boolean).join(' and ')} not active`;
    } else if (stale.length || units.some((u) => u.need_daemon_reload)) {
      state = 'warn';
      detail += `; units written by halton-meter ${stale[0]?.written_by ?? '?'} (this CLI is ${VERSION}): run halton-meter init`;
    }
    return { mode, edge: views.edge, daemon: views.daemon, component: { name: 'units', state, detail, more, mode, units } };
  }

  if (mode === 'process') {
    const snap: SupervisorSnapshot | null = await supervisorHello(paths, 2000);
    const pidNow = snap?.pid ?? supervisorPid(paths);
    const last = snap ?? lastSnapshot(paths);
    const run = runPaths(paths);
    const views: Record<Component, ComponentView> = {
      edge: snap ? childView(snap, 'edge') : orphanView(run.pid('edge'), 'edge'),
      daemon: snap ? childView(snap, 'daemon') : orphanView(run.pid('daemon'), 'daemon'),
    };
    const files = COMPONENTS.map((c) => {
      const u = readProcessUnit(paths, c);
      return 'problem' in u
        ? { component: c, problem: u.problem, argv: null, written_by: null }
        : { component: c, problem: null, argv: u.argv, written_by: u.written_by };
    });
    const more = [
      ...COMPONENTS.map((c) => `${c}: ${views[c].detail}`),
      ...files.map((f) => `units/${UNIT_NAMES[f.component].replace(/\.service$/, '.json')}: ${f.problem ?? `${f.argv?.slice(1).join(' ')} (written by ${f.written_by})`}`),
    ];
    let state: ComponentState = 'ok';
    let detail = snap
      ? `process supervisor pid ${snap.pid} (version ${snap.version}, since ${snap.started_at})`
      : `process supervisor not running${pidNow ? ` (pid ${pidNow} does not answer)` : ''}`;
    const stale = files.filter((f) => f.problem === null && (f.written_by !== VERSION || f.argv?.[1] !== bin));
    if (files.some((f) => f.problem !== null)) {
      state = 'error';
      detail += '; unit files missing or unreadable: run halton-meter init';
    } else if (!snap) {
      state = views.edge.running || views.daemon.running ? 'warn' : 'error';
      detail += `; ${views.edge.running || views.daemon.running ? 'the edge and daemon run unsupervised (no restart on crash)' : 'nothing runs'}: halton-meter start`;
    } else if (!views.edge.running || !views.daemon.running) {
      state = 'error';
      detail += `; ${[!views.edge.running ? 'edge' : '', !views.daemon.running ? 'daemon' : ''].filter(Boolean).join(' and ')} not running`;
    } else if (stale.length || snap.version !== VERSION) {
      state = 'warn';
      detail += `; units or supervisor from halton-meter ${stale[0]?.written_by ?? snap.version} (this CLI is ${VERSION} at ${bin}): run halton-meter init`;
    }
    return {
      mode,
      edge: views.edge,
      daemon: views.daemon,
      component: {
        name: 'units',
        state,
        detail,
        more,
        mode,
        supervisor: snap
          ? { pid: snap.pid, version: snap.version, node: snap.node, bin: snap.bin, started_at: snap.started_at, answering: true }
          : { pid: pidNow, version: last?.version ?? null, node: last?.node ?? null, bin: last?.bin ?? null, started_at: last?.started_at ?? null, answering: false },
        children: COMPONENTS.map((c) => ({
          component: c,
          state: snap?.children[c].state ?? (views[c].running ? 'running' : 'stopped'),
          pid: views[c].pid,
          held: views[c].held,
          adopted: snap?.children[c].adopted ?? null,
          restarts: snap?.children[c].restarts ?? null,
          detail: views[c].detail,
        })),
        files,
      },
    };
  }

  return {
    mode: null,
    edge: null,
    daemon: null,
    component: { name: 'units', state: 'n/a', detail: 'not installed as a service (halton-meter init --apps installs it)', mode: null },
  };
}

function orphanView(pidFile: string, c: Component): ComponentView {
  const pid = readPid(pidFile);
  const alive = pid !== null && isMeterProcess(pid, c);
  return { running: alive, pid: alive ? pid : null, detail: alive ? `running (pid ${pid}), unsupervised` : 'not running', startLimitHit: false, held: false };
}

async function caComponent(paths: Paths): Promise<StatusComponent> {
  try {
    const ca = await loadCa(paths.caDir);
    const days = Math.floor((ca.notAfter.getTime() - Date.now()) / 86_400_000);
    const expires = ca.notAfter.toISOString().slice(0, 10);
    return {
      name: 'ca',
      state: days < 0 ? 'error' : days < 30 ? 'warn' : 'ok',
      detail: `${tilde(ca.paths.certPem, paths.home)}, SHA-256 ${ca.fingerprintSha256}, ${days < 0 ? `expired on ${expires}` : `expires ${expires} (${days} days)`}`,
      path: ca.paths.certPem,
      fingerprint_sha256: ca.fingerprintSha256,
      not_after: ca.notAfter.toISOString(),
      days_left: days,
    };
  } catch (e) {
    return { name: 'ca', state: 'error', detail: errorMessage(e), path: null, fingerprint_sha256: null, not_after: null, days_left: null };
  }
}

export type BundleState = 'marker' | 'missing' | 'duplicated' | 'stale' | 'unreadable';

/** What one patched certifi bundle looks like now, against the CA fingerprint it should carry. */
export function bundleState(text: string | null, fingerprint: string): BundleState {
  if (text === null) return 'unreadable';
  const i = inspectBundleText(text, fingerprint);
  if (i.stale.length > 0) return 'stale';
  if (i.current === 0) return 'missing';
  if (i.current > 1) return 'duplicated';
  return 'marker';
}

async function certifiComponent(paths: Paths): Promise<StatusComponent> {
  const record = parseCertifiRecord(readText(certifiRecordPath(paths.dataDir)));
  if (record.patched.length === 0) {
    return {
      name: 'certifi',
      state: 'n/a',
      detail: 'no certifi bundle patched (init patches those of python3 on PATH, pipx and uv tool venvs, and --python PATH)',
      bundles: [],
    };
  }
  let fingerprint: string | null = null;
  try {
    fingerprint = (await loadCa(paths.caDir)).fingerprintSha256;
  } catch {
    fingerprint = null;
  }
  const bundles = record.patched.map((p) => {
    const state = bundleState(readText(p.bundle), fingerprint ?? p.fingerprint);
    return { python: p.python, bundle: p.bundle, state };
  });
  const words: Record<BundleState, string> = {
    marker: 'has the marker',
    missing: 'marker missing (venv rebuilt or certifi upgraded): halton-meter init re-applies it',
    duplicated: 'more than one marker block: halton-meter init collapses them',
    stale: 'carries an older CA: halton-meter init replaces it',
    unreadable: 'cannot be read (venv removed?)',
  };
  const good = bundles.filter((b) => b.state === 'marker').length;
  return {
    name: 'certifi',
    state: good === bundles.length ? 'ok' : 'warn',
    detail: `${good} of ${bundles.length} patched certifi bundle(s) carry the meter CA`,
    more: bundles.map((b) => `${tilde(b.bundle, paths.home)} (${tilde(b.python, paths.home)}): ${words[b.state]}`),
    bundles,
  };
}

async function lingerComponent(ctx: CliContext, mode: InstallMode | null): Promise<StatusComponent> {
  if (mode !== 'systemd') {
    return {
      name: 'linger',
      state: 'n/a',
      detail: mode === 'process' ? 'not needed: the process supervisor does not depend on a login session' : 'not installed under systemd',
      linger: null,
    };
  }
  const user = ctx.env.USER || userInfo().username;
  const l = await lingerEnabled(user, ctx.env);
  if (l.linger === true) return { name: 'linger', state: 'ok', detail: `enabled for ${user}: the meter runs from boot, without a login session`, linger: true };
  return {
    name: 'linger',
    state: 'warn',
    detail:
      l.linger === false
        ? `off for ${user}: the units stop when your last session ends; enable: loginctl enable-linger ${user}`
        : `cannot tell (${l.detail}); to run without a login session: loginctl enable-linger ${user}`,
    linger: l.linger,
  };
}

function databaseComponent(paths: Paths): StatusComponent {
  let size: number;
  try {
    size = statSync(paths.db).size;
  } catch {
    return { name: 'database', state: 'n/a', detail: `${tilde(paths.db, paths.home)} not created yet (the daemon creates it)`, path: paths.db, rows: null };
  }
  try {
    const db = openDb(paths.db, { readonly: true });
    try {
      const rows = countRequests(db);
      const applied = appliedMigrations(db);
      const newer = applied.filter((m) => m.id > LATEST_MIGRATION_ID);
      const blocking = db.newerThanCode;
      const schema = `schema ${applied.length ? applied[applied.length - 1].id : 0}${newer.length && !blocking ? ` (${newer.length} additive migration(s) from a newer version; still writable)` : ''}`;
      return {
        name: 'database',
        state: blocking ? 'warn' : 'ok',
        detail: `${tilde(paths.db, paths.home)}, ${formatBytes(size)}, ${rows} rows, ${schema}${blocking ? `; ${db.notice}` : ''}`,
        path: paths.db,
        size_bytes: size,
        rows,
        migrations: applied.map((m) => ({ id: m.id, name: m.name })),
        known_migrations: LATEST_MIGRATION_ID,
        newer_than_code: blocking,
      };
    } finally {
      db.close();
    }
  } catch (e) {
    return { name: 'database', state: 'error', detail: `${tilde(paths.db, paths.home)}: ${errorMessage(e)}`, path: paths.db, size_bytes: size, rows: null };
  }
}

function filesComponent(paths: Paths): StatusComponent {
  const envd = environmentDPath(paths);
  const has = (p: string): boolean => readText(p) !== null;
  const files = { env: has(paths.envFile), ca_bundle: has(paths.caBundle), environment_d: has(envd) };
  const missing = [!files.env ? tilde(paths.envFile, paths.home) : '', !files.ca_bundle ? tilde(paths.caBundle, paths.home) : ''].filter(Boolean);
  return {
    name: 'files',
    state: missing.length ? 'warn' : 'ok',
    detail:
      `${missing.length ? `missing ${missing.join(', ')} (halton-meter init writes them)` : `${tilde(paths.envFile, paths.home)}, ${tilde(paths.caBundle, paths.home)}`}; ` +
      (files.environment_d ? `apps: ${tilde(envd, paths.home)} (from the next login)` : 'apps: no environment.d file (init --apps writes it)'),
    ...files,
  };
}

// ---- rendering -----------------------------------------------------------------------------------

const LABEL: Readonly<Record<StatusComponent['name'], string>> = {
  edge: 'edge',
  daemon: 'daemon',
  listeners: 'listeners',
  units: 'units',
  ca: 'CA',
  certifi: 'certifi',
  linger: 'linger',
  database: 'database',
  files: 'files',
};

export function mark(state: ComponentState, style: Style): string {
  switch (state) {
    case 'ok':
      return style.ok(CHECK);
    case 'warn':
      return style.bad('!');
    case 'error':
      return style.bad(CROSS);
    default:
      return style.dim('-');
  }
}

/** Nothing installed and nothing answering: status says so in one line. */
export function notInstalled(r: StatusReport): boolean {
  const edge = r.components.find((c) => c.name === 'edge');
  return r.install_mode === null && edge?.healthy !== true && r.daemon_version === null && !r.live;
}

export function statusExitCode(r: StatusReport): number {
  if (r.live) return STATUS_EXIT.live;
  return notInstalled(r) ? STATUS_EXIT.notInstalled : STATUS_EXIT.notLive;
}

/** The one line `status` prints on stderr when the meter is not live, or null. */
export function notLiveLine(r: StatusReport): string | null {
  if (r.live) return null;
  if (notInstalled(r)) return 'halton-meter: not installed and not running on this machine (run: halton-meter init --apps)';
  const edge = r.components.find((c) => c.name === 'edge');
  const daemon = r.components.find((c) => c.name === 'daemon');
  if (edge?.state === 'error' && daemon?.state === 'error') return 'halton-meter: not running: neither the edge nor the daemon answers (run: halton-meter start)';
  if (edge?.state === 'error') return `halton-meter: not running: the edge does not answer on 127.0.0.1:${r.ports.edge} (run: halton-meter start)`;
  return `halton-meter: not metering: the daemon is ${daemon?.healthy === false && r.daemon_version !== null ? `unhealthy (${String(daemon.reason)})` : 'not running'}; traffic passes through unmetered (run: halton-meter start, or see: halton-meter logs --component daemon)`;
}

export function renderStatus(r: StatusReport, style: Style): string {
  const head =
    `halton-meter ${r.cli_version} (this CLI); daemon ${r.daemon_version ?? 'not answering'}; ` +
    `install mode: ${r.install_mode ?? 'not installed'}`;
  const width = Math.max(...r.components.map((c) => LABEL[c.name].length));
  const lines = [style.bold(head)];
  for (const c of r.components) {
    lines.push(`${mark(c.state, style)} ${LABEL[c.name].padEnd(width)}  ${c.detail}`);
    for (const m of c.more ?? []) lines.push(`${' '.repeat(width + 4)}${style.dim(m)}`);
  }
  lines.push(
    r.live
      ? style.ok(`live: edge 127.0.0.1:${r.ports.edge} -> daemon ${r.daemon_version} -> SQLite`)
      : style.bad('not live: calls through the edge are not metered'),
  );
  return lines.join('\n');
}

/** The JSON document of `status --json` (documented in docs/operations.md). */
export function statusJson(r: StatusReport): Record<string, unknown> {
  return {
    cli_version: r.cli_version,
    daemon_version: r.daemon_version,
    edge_version: r.edge_version,
    install_mode: r.install_mode,
    live: r.live,
    ports: r.ports,
    components: r.components.map(({ more: _more, ...c }) => c),
  };
}
