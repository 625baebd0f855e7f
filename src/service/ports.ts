// init's ports step (SPEC §1): effective-ports.json re-validated against what is listening. A port
// held by the meter's own edge (edge port) or daemon (internal/API ports) is fine; one held by
// anything else gets a free fallback, said out loud, which the units / process units then carry.
// A port set explicitly by environment variable is never moved: that is strict setup (STYLE §7).
import { createServer } from 'node:net';
import { DEFAULT_PORTS, FORBIDDEN_PORT, type Config, type Ports } from '../config/types.js';
import type { EffectivePorts } from '../config/effective-ports.js';
import { MeterError } from '../core/errors.js';
import { portHolder, processName, type PortHolder } from './procs.js';

export type PortKey = keyof Ports;
const KEYS: readonly PortKey[] = ['edge', 'internal', 'api'];
const JSON_KEY: Readonly<Record<PortKey, 'edge_port' | 'internal_port' | 'api_port'>> = { edge: 'edge_port', internal: 'internal_port', api: 'api_port' };
const OWNER: Readonly<Record<PortKey, 'edge' | 'daemon'>> = { edge: 'edge', internal: 'daemon', api: 'daemon' };

export type PortOccupant =
  | { kind: 'free' }
  | { kind: 'ours'; pid: number }
  | { kind: 'other'; pid: number | null; name: string };

/** Whether 127.0.0.1:port can be bound right now. */
export function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

export interface PortProbe {
  canBind(port: number): Promise<boolean>;
  holder(port: number): PortHolder | null;
}

export const systemPortProbe: PortProbe = { canBind, holder: portHolder };

export async function occupant(port: number, key: PortKey, probe: PortProbe = systemPortProbe): Promise<PortOccupant> {
  if (await probe.canBind(port)) return { kind: 'free' };
  const h = probe.holder(port);
  if (h && h.role === OWNER[key]) return { kind: 'ours', pid: h.pid };
  return { kind: 'other', pid: h?.pid ?? null, name: h ? processName(h.pid) : 'another user\'s process or one /proc does not show' };
}

export interface PortDecision {
  key: PortKey;
  port: number;
  /** What holds the chosen port now: free, or our own process. */
  occupant: PortOccupant;
  /** Set when a fallback replaced the wanted port: what held it. */
  movedFrom: { port: number; by: string } | null;
}

export interface PortsResult {
  ports: Ports;
  decisions: Record<PortKey, PortDecision>;
  /** The ports differ from effective-ports.json (or it is missing): write it. */
  changed: boolean;
}

const describe = (o: PortOccupant): string => (o.kind === 'other' ? `${o.name}${o.pid ? ` (pid ${o.pid})` : ''}` : o.kind === 'ours' ? `our own process (pid ${o.pid})` : 'free');

/**
 * Chooses the three ports. For each: the wanted port (config/env) when it is free or ours; else the
 * port effective-ports.json recorded, when free or ours; else the first free port above the wanted
 * one. The edge is special: if our edge is serving on the recorded port, that port is kept even when
 * config now wants another, because apps point at it (it moves at the edge's next start, when the
 * units say so).
 */
export async function validatePorts(config: Config, recorded: EffectivePorts | null, probe: PortProbe = systemPortProbe): Promise<PortsResult> {
  const chosen: Partial<Ports> = {};
  const decisions = {} as Record<PortKey, PortDecision>;
  const taken = new Set<number>();
  for (const key of KEYS) {
    const wanted = config.ports[key];
    const explicit = config.portSources?.[key] === 'env' || config.portSources?.[key] === 'flag';
    const rec = recorded?.[JSON_KEY[key]];
    const candidates: number[] = [];
    if (key === 'edge' && rec !== undefined && !explicit && rec !== wanted) {
      const o = await occupant(rec, key, probe);
      if (o.kind === 'ours') candidates.push(rec);
    }
    candidates.push(wanted);
    if (rec !== undefined && rec !== wanted && !explicit) candidates.push(rec);
    let decision: PortDecision | null = null;
    let blocked: { port: number; by: string } | null = null;
    for (const port of candidates) {
      if (taken.has(port)) continue;
      const o = await occupant(port, key, probe);
      if (o.kind !== 'other') {
        decision = { key, port, occupant: o, movedFrom: port === wanted ? null : blocked };
        break;
      }
      if (port === wanted) {
        blocked = { port, by: describe(o) };
        if (explicit) {
          throw new MeterError(
            'port_in_use',
            `port ${port} (${key}, set by ${config.portSources?.[key] === 'flag' ? 'a flag' : `HALTON_METER_${key.toUpperCase()}_PORT`}) is held by ${describe(o)}`,
            'free it, or choose another port',
          );
        }
      }
    }
    if (!decision) {
      const port = await fallback(wanted, taken, probe);
      decision = { key, port, occupant: { kind: 'free' }, movedFrom: blocked ?? { port: wanted, by: 'another process' } };
    }
    decisions[key] = decision;
    chosen[key] = decision.port;
    taken.add(decision.port);
  }
  const ports = chosen as Ports;
  const changed = !recorded || KEYS.some((k) => recorded[JSON_KEY[k]] !== ports[k]);
  return { ports, decisions, changed };
}

async function fallback(from: number, taken: ReadonlySet<number>, probe: PortProbe): Promise<number> {
  for (let port = from + 1; port <= Math.min(65535, from + 200); port++) {
    if (port === FORBIDDEN_PORT || taken.has(port) || Object.values(DEFAULT_PORTS).includes(port)) continue;
    if (await probe.canBind(port)) return port;
  }
  throw new MeterError('port_in_use', `no free port found near ${from} on 127.0.0.1`, 'set free ports in ~/.halton-meter/config.toml [daemon]');
}

/** One line per port for init's output. */
export function describePorts(r: PortsResult): string[] {
  return KEYS.map((k) => {
    const d = r.decisions[k];
    const what = d.occupant.kind === 'ours' ? `held by our ${OWNER[k]} (pid ${d.occupant.pid})` : 'free';
    const moved = d.movedFrom ? `; ${d.movedFrom.port} is held by ${d.movedFrom.by}, so ${d.port} is used instead` : '';
    return `${k} ${d.port} (${what}${moved})`;
  });
}
