// The two systemd user units, as text (STYLE §9: functions that build unit files are pure and return
// text). `halton-meter.service` runs the daemon, `halton-meter-edge.service` the edge. They are
// deliberately independent: no Requires=, BindsTo=, PartOf=, Wants= or After= between them, so
// stopping, restarting or replacing the daemon (an upgrade) never touches the edge, which keeps
// the port apps point at and passes traffic through while the daemon is away (SPEC §1, §10).
import { join } from 'node:path';
import { DEFAULT_PORTS, type Paths, type Ports } from '../config/types.js';

export const COMPONENTS = ['edge', 'daemon'] as const;
export type Component = (typeof COMPONENTS)[number];

export const UNIT_NAMES: Readonly<Record<Component, string>> = Object.freeze({
  daemon: 'halton-meter.service',
  edge: 'halton-meter-edge.service',
});

/** Variables the meter's own processes must not inherit (environment.d sets them for the user's apps). */
export const UNSET_ENV = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy'] as const;

/** The daemon's shutdown drain (src/daemon/main.ts drainMs) and the margin systemd gives it. */
export const DAEMON_DRAIN_S = 20;
export const DAEMON_STOP_TIMEOUT_S = 30;

export interface UnitInput {
  /** Absolute path of the node binary (process.execPath of the CLI that runs init). */
  node: string;
  /** Absolute path of the installed CLI's bin/halton-meter.js. */
  bin: string;
  version: string;
  /** The validated ports (init's ports step). */
  ports: Ports;
  /** Extra variables (HALTON_METER_HOME, HALTON_METER_CA_DIR when not the defaults): see unitEnvironment. */
  env: ReadonlyArray<readonly [string, string]>;
}

export interface RenderedUnit {
  component: Component;
  name: string;
  text: string;
}

const PORT_VARS: ReadonlyArray<{ key: keyof Ports; env: string }> = [
  { key: 'edge', env: 'HALTON_METER_EDGE_PORT' },
  { key: 'internal', env: 'HALTON_METER_INTERNAL_PORT' },
  { key: 'api', env: 'HALTON_METER_API_PORT' },
];

/**
 * What both units (and the process supervisor's children) need in their environment: a port only
 * when it is not the default (a fallback chosen by init, or one set in config.toml or the
 * environment), the data and CA directories only when they were moved. Both components get all of
 * them, so the edge knows the daemon's ports before the daemon has written effective-ports.json.
 */
export function unitEnvironment(ports: Ports, paths: Paths): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const { key, env } of PORT_VARS) if (ports[key] !== DEFAULT_PORTS[key]) out.push([env, String(ports[key])]);
  if (paths.dataDir !== join(paths.home, '.halton-meter')) out.push(['HALTON_METER_HOME', paths.dataDir]);
  if (paths.caDir !== join(paths.home, '.mitmproxy')) out.push(['HALTON_METER_CA_DIR', paths.caDir]);
  return out;
}

// systemd.service(5) / systemd.syntax(7): `%` starts a specifier everywhere and `$` an environment
// expansion in Exec lines; arguments with blanks or quotes are double-quoted with C escapes.
function execArg(arg: string): string {
  const escaped = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /[\s"'\\;]/.test(escaped) ? `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : escaped;
}

function envLine(key: string, value: string): string {
  const kv = `${key}=${value.replace(/%/g, '%%')}`;
  return /[\s"'\\]/.test(kv) ? `Environment="${kv.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : `Environment=${kv}`;
}

function header(what: string, version: string): string[] {
  return [
    `# ${what}`,
    `# Written by \`halton-meter init\` (halton-meter ${version}). init replaces this file: change`,
    '# ~/.halton-meter/config.toml and run `halton-meter init` again instead of editing it.',
  ];
}

function serviceCommon(input: UnitInput, component: Component): string[] {
  return [
    'Type=simple',
    `ExecStart=${[input.node, input.bin, component].map(execArg).join(' ')}`,
    // The meter never sends its own upstream traffic through a proxy taken from the environment:
    // environment.d gives the user's apps HTTPS_PROXY, and the user manager passes it to every unit.
    `UnsetEnvironment=${UNSET_ENV.join(' ')}`,
    ...input.env.map(([k, v]) => envLine(k, v)),
    'SyslogIdentifier=halton-meter' + (component === 'edge' ? '-edge' : ''),
  ];
}

export function renderDaemonUnit(input: UnitInput): string {
  const p = input.ports;
  return [
    ...header(`halton-meter daemon: intercepting proxy on 127.0.0.1:${p.internal}, local API on 127.0.0.1:${p.api}.`, input.version),
    '# Not tied to halton-meter-edge.service: the edge keeps serving (passthrough) while this unit',
    '# stops, restarts or is replaced by an upgrade.',
    '[Unit]',
    'Description=halton-meter daemon (meters LLM API calls)',
    // A daemon that keeps crashing is given up on after 10 starts in 5 minutes (start-limit-hit):
    // traffic still flows through the edge, and `systemctl --user reset-failed` + `halton-meter init
    // --clean` bring it back once fixed.
    '# Given up after 10 starts in 5 min (start-limit-hit); traffic still flows through the edge.',
    'StartLimitIntervalSec=300',
    'StartLimitBurst=10',
    '',
    '[Service]',
    ...serviceCommon(input, 'daemon'),
    'Restart=always',
    'RestartSec=2',
    `# SIGTERM starts the drain: stop accepting, finish in-flight exchanges (up to ${DAEMON_DRAIN_S} s), flush`,
    '# the rows, log daemon.exit. SIGKILL only if that overruns.',
    'KillSignal=SIGTERM',
    'KillMode=mixed',
    `TimeoutStopSec=${DAEMON_STOP_TIMEOUT_S}`,
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}

export function renderEdgeUnit(input: UnitInput): string {
  return [
    ...header(`halton-meter edge: the HTTPS_PROXY endpoint on 127.0.0.1:${input.ports.edge}.`, input.version),
    '# Independent of halton-meter.service: when the daemon is down the edge passes traffic through.',
    '[Unit]',
    'Description=halton-meter edge (HTTPS_PROXY endpoint; passes traffic through when the daemon is down)',
    // Apps that have HTTPS_PROXY set fail outright while the edge is down, so systemd never gives
    // up on it (no start limit); it retries every 2 s until the port is free again.
    '# No start limit: apps with HTTPS_PROXY set fail while the edge is down, so keep retrying.',
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    ...serviceCommon(input, 'edge'),
    'Restart=always',
    'RestartSec=2',
    'KillSignal=SIGTERM',
    'KillMode=mixed',
    'TimeoutStopSec=5',
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}

export function renderUnits(input: UnitInput): Record<Component, RenderedUnit> {
  return {
    edge: { component: 'edge', name: UNIT_NAMES.edge, text: renderEdgeUnit(input) },
    daemon: { component: 'daemon', name: UNIT_NAMES.daemon, text: renderDaemonUnit(input) },
  };
}

export function unitPath(paths: Paths, component: Component): string {
  return join(paths.unitDir, UNIT_NAMES[component]);
}
