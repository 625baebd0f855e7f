// What init does to each running component, decided from facts (SPEC §7): start what is down;
// restart the daemon only when its unit changed, its running version differs from this CLI's, or it
// is unhealthy; never restart a healthy edge (not even when its unit changed: the new unit applies
// at its next start). Pure.

export type Action = { kind: 'none' | 'start' | 'restart'; why: string };

export interface EdgeFacts {
  running: boolean;
  /** It answered /health on the edge port. */
  healthy: boolean;
  unitChanged: boolean;
  port: number;
}

export interface DaemonFacts {
  running: boolean;
  healthy: boolean;
  /** Version from /health, null when it did not answer. */
  version: string | null;
  /** Why it is unhealthy, from /health or "no answer". */
  reason: string | null;
  unitChanged: boolean;
}

export function planEdge(f: EdgeFacts): Action {
  if (!f.running) return { kind: 'start', why: 'it was not running' };
  if (!f.healthy) return { kind: 'restart', why: `it runs but does not answer on 127.0.0.1:${f.port}` };
  return { kind: 'none', why: f.unitChanged ? 'healthy (its updated unit applies at its next start)' : 'healthy' };
}

export function planDaemon(f: DaemonFacts, cliVersion: string): Action {
  if (!f.running) return { kind: 'start', why: 'it was not running' };
  if (f.unitChanged) return { kind: 'restart', why: 'its unit changed' };
  if (!f.healthy) return { kind: 'restart', why: `it is unhealthy (${f.reason ?? 'no answer'})` };
  if (f.version !== cliVersion) return { kind: 'restart', why: `it runs ${f.version ?? 'an unknown version'}, this CLI is ${cliVersion}` };
  return { kind: 'none', why: `healthy, version ${cliVersion}` };
}
