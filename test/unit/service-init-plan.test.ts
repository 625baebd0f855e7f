// What init does to each component (SPEC §7), as a table.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planDaemon, planEdge } from '../../src/service/init-plan.js';
import { backoffMs } from '../../src/service/process-supervisor.js';
import { roleOf } from '../../src/service/procs.js';

const healthy = { running: true, healthy: true, version: '1.0.0', reason: null, unitChanged: false };

test('daemon: start when down; restart only for a changed unit, an unhealthy daemon or another version', () => {
  assert.equal(planDaemon({ ...healthy, running: false }, '1.0.0').kind, 'start');
  assert.equal(planDaemon(healthy, '1.0.0').kind, 'none');
  assert.deepEqual(planDaemon({ ...healthy, unitChanged: true }, '1.0.0'), { kind: 'restart', why: 'its unit changed' });
  assert.deepEqual(planDaemon({ ...healthy, healthy: false, reason: 'database not writable' }, '1.0.0'), { kind: 'restart', why: 'it is unhealthy (database not writable)' });
  assert.deepEqual(planDaemon(healthy, '1.1.0'), { kind: 'restart', why: 'it runs 1.0.0, this CLI is 1.1.0' });
});

test('edge: started when down, restarted only when it runs and does not answer, never for a changed unit', () => {
  const e = { running: true, healthy: true, unitChanged: false, port: 8081 };
  assert.equal(planEdge({ ...e, running: false }).kind, 'start');
  assert.equal(planEdge({ ...e, unitChanged: true }).kind, 'none');
  assert.equal(planEdge({ ...e, healthy: false }).kind, 'restart');
});

test('supervisor back-off doubles from 0.5 s to 30 s', () => {
  assert.deepEqual([0, 1, 2, 3, 6, 7, 20].map(backoffMs), [500, 1000, 2000, 4000, 30_000, 30_000, 30_000]);
});

test('our processes are told by their command line', () => {
  assert.equal(roleOf(['/usr/bin/node', '/usr/lib/node_modules/halton-meter/bin/halton-meter.js', 'edge']), 'edge');
  assert.equal(roleOf(['node', '/home/a/.npm/bin/halton-meter', 'daemon']), 'daemon');
  assert.equal(roleOf(['node', 'x/halton-meter.js', 'supervise']), 'supervise');
  assert.equal(roleOf(['node', 'x/halton-meter.js', 'report']), null);
  assert.equal(roleOf(['python3', 'edge']), null);
});
