// The daemon: /health on the API port, its version against this CLI's, and what it counted. Down or
// unhealthy means traffic passes through the edge unmetered (fail). A daemon of another version
// (an upgrade without init) or one that lost rows since it started works, but is off (warn).
import { foreignPorts, freePortsFix, initFix } from './facts.js';
import { fail, ok, warn, type Check } from './types.js';
import { lostWords } from '../status-report.js';

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

export const daemonCheck: Check = {
  id: 'daemon',
  title: 'daemon',
  run(f) {
    const api = f.ports.api;
    const unmetered = 'traffic passes through the edge unmetered';
    const foreign = foreignPorts(f, 'daemon');
    const d = f.daemon;
    if (!d.healthy && foreign.length) {
      const h = foreign[0];
      return fail(`cannot listen: ${h.name}${h.pid ? ` (pid ${h.pid})` : ''} holds 127.0.0.1:${h.port} (${h.key}); ${unmetered}`, freePortsFix(f));
    }
    if (!d.reachable) {
      const where = `not answering on 127.0.0.1:${api}`;
      if (f.mode === null || !f.view) return fail(`${where}; ${unmetered}`, f.fixes.install);
      const v = f.view.daemon;
      if (v.startLimitHit) return fail(`${where}: systemd gave up restarting it (start-limit-hit); ${unmetered}`, f.fixes.resetFailed);
      if (f.ca.kind !== 'ok') return fail(`${where}; ${unmetered}; not started by --fix: it would create a NEW CA (see CA)`, initFix(f));
      if (v.detail.startsWith('crashed')) return fail(`${where}: it keeps crashing (${v.detail}); ${unmetered}`, f.fixes.logs('daemon'));
      const why = v.held ? ' (stopped with halton-meter stop)' : '';
      return fail(`${where}${why}; ${unmetered} (supervisor: ${v.detail})`, f.fixes.start);
    }
    if (!d.healthy) {
      const reason = d.reason ?? 'unhealthy';
      if (/newer halton-meter/.test(reason)) return fail(`unhealthy: ${reason}: nothing is recorded`, f.fixes.upgrade);
      return fail(`unhealthy: ${reason}; ${unmetered}`, f.fixes.logs('daemon'));
    }
    const s = f.daemonStatus ?? {};
    const pid = typeof s.pid === 'number' ? `pid ${s.pid}, ` : '';
    const counts = `${num(s.rows_written)} rows written, ${num(s.rows_failed)} failed since it started`;
    const base = `healthy, version ${d.version ?? 'unknown'} (${pid}API 127.0.0.1:${api}, intercepting 127.0.0.1:${f.ports.internal}); ${counts}`;
    if (d.version !== f.deps.version) {
      return warn(`${base}; this CLI is ${f.deps.version}: init restarts the daemon on this version`, initFix(f));
    }
    // Healthy while writes fail for a while (a lock, a full disk): the rows wait in memory.
    if (s.write_failing === true) {
      return warn(`${base}; database writes failing (${String(s.last_write_error ?? 'unknown')}): rows held in memory until they succeed`, f.fixes.logs('daemon'));
    }
    if (num(s.rows_failed) > 0) {
      return warn(`${base}: those calls were not recorded${lostWords(s.rows_lost_by_reason)}`, f.fixes.logs('daemon'));
    }
    return ok(base);
  },
};
