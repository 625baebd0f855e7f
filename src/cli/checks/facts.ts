// What the checks look at, gathered once per doctor run (and once more after --fix): the install
// mode, the ports in force and who listens on them, what the edge and the daemon answer, what the
// supervisor says, the CA. Gathering them once keeps the checks consistent with each other (the
// edge check and the ports check see the same listener) and the run fast (each probe once).
// Everything outside the files comes through DoctorDeps (InitDeps plus the daemon's status), so the
// unit tests can run the checks against a recording systemctl and canned probes.
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { loadCa, type LoadedCa, caPaths } from '../../ca/index.js';
import type { Ports } from '../../config/types.js';
import { errorMessage } from '../../core/errors.js';
import { ProcessDriver, SystemdDriver, type Driver, type DriverView } from '../../service/drivers.js';
import { environmentDPath } from '../../service/environment-d.js';
import { getJson, type DaemonProbe, type EdgeProbe } from '../../service/health.js';
import { readInstallMode, type InstallMode } from '../../service/install-mode.js';
import { occupant, type PortKey, type PortOccupant } from '../../service/ports.js';
import { Systemctl } from '../../service/systemctl.js';
import type { Component } from '../../service/units.js';
import type { CliContext } from '../context.js';
import { serviceEnv, supervisorArgv, type InitDeps } from '../init-flow.js';
import { manual, type Fix } from './types.js';

export interface DoctorDeps extends InitDeps {
  /** The daemon's /v1/daemon/status body, or null when it does not answer. */
  daemonStatus(apiPort: number): Promise<Record<string, unknown> | null>;
}

export async function realDaemonStatus(apiPort: number): Promise<Record<string, unknown> | null> {
  const a = await getJson(apiPort, '/v1/daemon/status', 1500);
  return a && a.status === 200 ? a.body : null;
}

export type CaState =
  | { kind: 'ok'; ca: LoadedCa }
  /** mitmproxy-ca.pem does not exist. */
  | { kind: 'missing' }
  /** It exists but cannot be used (unreadable, not a CA, expired...). */
  | { kind: 'unusable'; message: string; hint: string | undefined };

/** The certificate clients trust: from mitmproxy-ca.pem, else from mitmproxy-ca-cert.pem. */
export interface TrustedCert {
  pem: string;
  fingerprint: string;
}

export const PORT_OWNER: Readonly<Record<PortKey, Component>> = { edge: 'edge', internal: 'daemon', api: 'daemon' };
export const PORT_KEYS: readonly PortKey[] = ['edge', 'internal', 'api'];

/** The fix commands, spelled for this machine. */
export interface FixBook {
  /** init as an upgrade runs it; what --fix runs in-process for files, units and certifi. */
  init: Fix;
  /** Start what is down (the daemon, the edge, the process supervisor). */
  start: Fix;
  /** First install. */
  install: Fix;
  /** systemd gave up on a unit (start-limit-hit, failed). */
  resetFailed: Fix;
  /** mitmproxy-ca.pem is gone: only a new CA can replace it. */
  newCa: Fix;
  /** The database belongs to a newer version. */
  upgrade: Fix;
  logs(c: Component): Fix;
}

export interface Facts {
  ctx: CliContext;
  deps: DoctorDeps;
  /** What loadConfig warned about (unknown keys, ...). */
  configWarnings: readonly string[];
  mode: InstallMode | null;
  /** The ports in force: effective-ports.json over config (ctx.ports()). */
  ports: Ports;
  ca: CaState;
  trusted: TrustedCert | null;
  edge: EdgeProbe;
  daemon: DaemonProbe;
  daemonStatus: Record<string, unknown> | null;
  occupants: Record<PortKey, PortOccupant>;
  driver: Driver | null;
  /** What the supervisor says (null when init never ran). */
  view: DriverView | null;
  /** environment.d was written (init --apps): fix commands keep --apps. */
  envd: boolean;
  fixes: FixBook;
}

export function makeDriver(ctx: CliContext, mode: InstallMode, deps: Pick<InitDeps, 'node' | 'bin'>): Driver {
  return mode === 'systemd'
    ? new SystemdDriver(new Systemctl(ctx.env))
    : new ProcessDriver(ctx.config.paths, supervisorArgv(deps), serviceEnv(ctx.env));
}

export function fixBook(envd: boolean): FixBook {
  const init = `halton-meter init${envd ? ' --apps' : ''} --non-interactive`;
  return {
    init: { command: init, automatic: true, action: 'init' },
    start: { command: 'halton-meter start', automatic: true, action: 'start' },
    install: manual('halton-meter init --apps'),
    resetFailed: manual('systemctl --user reset-failed halton-meter.service halton-meter-edge.service && halton-meter init --apps --clean'),
    newCa: manual(`${init}  # creates a NEW CA: every client must trust it again`),
    upgrade: manual(`npm install -g halton-meter@latest && ${init}`),
    logs: (c) => manual(`halton-meter logs --component ${c}`),
  };
}

async function caState(caDir: string): Promise<CaState> {
  try {
    return { kind: 'ok', ca: await loadCa(caDir) };
  } catch (e) {
    if (!existsSync(caPaths(caDir).key)) return { kind: 'missing' };
    return { kind: 'unusable', message: errorMessage(e), hint: (e as { hint?: string }).hint };
  }
}

function trustedCert(ca: CaState, caDir: string): TrustedCert | null {
  if (ca.kind === 'ok') return { pem: ca.ca.certPem, fingerprint: ca.ca.fingerprintSha256 };
  try {
    const pem = readFileSync(caPaths(caDir).certPem, 'utf8');
    return { pem, fingerprint: new X509Certificate(pem).fingerprint256 };
  } catch {
    return null;
  }
}

export async function gatherFacts(ctx: CliContext, deps: DoctorDeps, configWarnings: readonly string[]): Promise<Facts> {
  const paths = ctx.config.paths;
  const mode = readInstallMode(paths.installMode);
  const ports = ctx.ports();
  const driver = mode === null ? null : makeDriver(ctx, mode, deps);
  const [ca, edge, daemon, daemonStatus, view] = await Promise.all([
    caState(paths.caDir),
    deps.probeEdge(ports.edge),
    deps.probeDaemon(ports.api),
    deps.daemonStatus(ports.api),
    driver
      ? driver.view().catch(
          (e: unknown): DriverView => ({
            problem: errorMessage(e),
            edge: { running: false, pid: null, detail: 'unknown', startLimitHit: false, held: false },
            daemon: { running: false, pid: null, detail: 'unknown', startLimitHit: false, held: false },
          }),
        )
      : Promise.resolve(null),
  ]);
  const occupants = {} as Record<PortKey, PortOccupant>;
  for (const key of PORT_KEYS) occupants[key] = await occupant(ports[key], key, deps.portProbe);
  const envd = existsSync(environmentDPath(paths));
  return {
    ctx,
    deps,
    configWarnings,
    mode,
    ports,
    ca,
    trusted: trustedCert(ca, paths.caDir),
    edge,
    daemon,
    daemonStatus,
    occupants,
    driver,
    view,
    envd,
    fixes: fixBook(envd),
  };
}

/** Ports of `component` held by a process that is not ours. */
export function foreignPorts(f: Facts, component: Component): Array<{ key: PortKey; port: number; pid: number | null; name: string }> {
  const out: Array<{ key: PortKey; port: number; pid: number | null; name: string }> = [];
  for (const key of PORT_KEYS) {
    const o = f.occupants[key];
    if (PORT_OWNER[key] === component && o.kind === 'other') out.push({ key, port: f.ports[key], pid: o.pid, name: o.name });
  }
  return out;
}

/**
 * The fix for ports held by other processes: the kill command for the ones /proc shows, `ss` to find
 * the others. Never automatic: doctor does not kill what it did not start.
 */
export function freePortsFix(f: Facts): Fix | null {
  const held = [...foreignPorts(f, 'edge'), ...foreignPorts(f, 'daemon')];
  if (held.length === 0) return null;
  const pids = [...new Set(held.map((h) => h.pid).filter((p): p is number => p !== null))];
  const why = held.map((h) => `${h.name}${h.pid ? '' : ' (not visible here)'} holds 127.0.0.1:${h.port}`).join('; ');
  const unseen = held.filter((h) => h.pid === null);
  if (pids.length) return manual(`kill ${pids.join(' ')} && ${f.fixes.start.command}  # ${why}`);
  const find = `sudo ss -ltnp '( ${unseen.map((h) => `sport = :${h.port}`).join(' or ')} )'`;
  return manual(`${find}  # ${why}: stop it, then run ${f.fixes.start.command}`);
}

/**
 * The init fix when it is safe to run: with mitmproxy-ca.pem gone, init would create a new CA, so the
 * CA check's own (manual) fix stands in for it.
 */
export function initFix(f: Facts): Fix | null {
  if (f.ca.kind === 'ok') return f.fixes.init;
  return f.ca.kind === 'missing' && f.mode !== null ? f.fixes.newCa : null;
}
