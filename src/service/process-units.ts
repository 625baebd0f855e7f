// The process supervisor's equivalent of the systemd units: one JSON file per component under
// ~/.halton-meter/units/, named like the units, saying what to run and with which environment. init
// renders, diffs and writes them exactly as it does the systemd units; the supervisor reads a
// component's file each time it starts that component, so a new version's daemon is what comes up
// after an upgrade even under a supervisor started by the old version.
import { join } from 'node:path';
import type { Paths } from '../config/types.js';
import { readText } from './files.js';
import { UNIT_NAMES, UNSET_ENV, type Component, type RenderedUnit, type UnitInput } from './units.js';

export interface ProcessUnit {
  component: Component;
  /** halton-meter version that wrote the file. */
  written_by: string;
  /** Absolute argv: node, the CLI's bin, the component. */
  argv: string[];
  /** Set on top of the supervisor's environment. */
  env: Record<string, string>;
  /** Removed from the supervisor's environment. */
  unset_env: string[];
  /** Milliseconds between SIGTERM and SIGKILL on stop. */
  stop_timeout_ms: number;
}

export function processUnitsDir(paths: Paths): string {
  return join(paths.dataDir, 'units');
}

export function processUnitPath(paths: Paths, component: Component): string {
  return join(processUnitsDir(paths), UNIT_NAMES[component].replace(/\.service$/, '.json'));
}

export function renderProcessUnit(input: UnitInput, component: Component): string {
  const unit: ProcessUnit = {
    component,
    written_by: input.version,
    argv: [input.node, input.bin, component],
    env: Object.fromEntries(input.env),
    unset_env: [...UNSET_ENV],
    stop_timeout_ms: component === 'daemon' ? 30_000 : 5_000,
  };
  return JSON.stringify(unit, null, 2) + '\n';
}

export function renderProcessUnits(input: UnitInput): Record<Component, RenderedUnit> {
  return {
    edge: { component: 'edge', name: UNIT_NAMES.edge.replace(/\.service$/, '.json'), text: renderProcessUnit(input, 'edge') },
    daemon: { component: 'daemon', name: UNIT_NAMES.daemon.replace(/\.service$/, '.json'), text: renderProcessUnit(input, 'daemon') },
  };
}

/** The installed process unit, or a reason it cannot be used. */
export function readProcessUnit(paths: Paths, component: Component): ProcessUnit | { problem: string } {
  const path = processUnitPath(paths, component);
  const text = readText(path);
  if (text === null) return { problem: `${path} is missing (run halton-meter init)` };
  try {
    const u = JSON.parse(text) as Partial<ProcessUnit>;
    if (!Array.isArray(u.argv) || u.argv.length === 0 || !u.argv.every((a) => typeof a === 'string')) return { problem: `${path}: argv must be a list of strings` };
    return {
      component,
      written_by: typeof u.written_by === 'string' ? u.written_by : 'unknown',
      argv: u.argv,
      env: typeof u.env === 'object' && u.env !== null ? (u.env as Record<string, string>) : {},
      unset_env: Array.isArray(u.unset_env) ? u.unset_env.filter((x): x is string => typeof x === 'string') : [],
      stop_timeout_ms: typeof u.stop_timeout_ms === 'number' ? u.stop_timeout_ms : 30_000,
    };
  } catch {
    return { problem: `${path} is not valid JSON` };
  }
}
