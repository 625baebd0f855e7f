// init's ports step: effective-ports.json re-validated against what listens. A port held by our own
// edge/daemon is fine, one held by anything else gets a fallback (said), one set explicitly by env is
// never moved. The probe is a table here; the real one binds and reads /proc (checked at the end).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import type { EffectivePorts } from '../../src/config/effective-ports.js';
import { isMeterError } from '../../src/core/errors.js';
import { describePorts, occupant, validatePorts, type PortProbe } from '../../src/service/ports.js';
import type { MeterRole } from '../../src/service/procs.js';

function probe(held: Record<number, MeterRole | 'other'>): PortProbe {
  return {
    canBind: async (p) => !(p in held),
    holder: (p) => {
      const h = held[p];
      if (h === undefined) return null;
      return { pid: 4242, argv: h === 'other' ? ['nginx'] : ['node', '/x/bin/halton-meter.js', h], role: h === 'other' ? null : h };
    },
  };
}

const rec = (edge: number, internal: number, api: number): EffectivePorts => ({ edge_port: edge, internal_port: internal, api_port: api, written_by: 'daemon', pid: 1, written_at: null });
const config = (env: Record<string, string> = {}) => loadConfig({ env: { HOME: '/nonexistent-home', ...env } }).config;

describe('validatePorts', () => {
  test('free or held by our own processes: kept, nothing to write when recorded the same', async () => {
    const r = await validatePorts(config(), rec(8081, 8090, 8765), probe({ 8081: 'edge', 8090: 'daemon', 8765: 'daemon' }));
    assert.deepEqual(r.ports, { edge: 8081, internal: 8090, api: 8765 });
    assert.equal(r.changed, false);
    assert.match(describePorts(r).join(', '), /edge 8081 \(held by our edge \(pid 4242\)\)/);
  });

  test('a port held by something else gets the next free one, and says who holds it', async () => {
    const r = await validatePorts(config(), null, probe({ 8765: 'other', 8766: 'other' }));
    assert.deepEqual(r.ports, { edge: 8081, internal: 8090, api: 8767 });
    assert.equal(r.changed, true);
    assert.equal(r.decisions.api.movedFrom?.port, 8765);
    assert.match(describePorts(r)[2], /api 8767 \(free; 8765 is held by .*\(pid 4242\), so 8767 is used instead\)/);
  });

  test('our edge on the daemon\'s port is still someone else', async () => {
    const r = await validatePorts(config(), null, probe({ 8090: 'edge' }));
    assert.equal(r.ports.internal, 8091);
  });

  test('an earlier fallback is reused while the wanted port is still taken, and dropped once it is free', async () => {
    const taken = await validatePorts(config(), rec(8081, 8090, 8767), probe({ 8765: 'other', 8767: 'daemon' }));
    assert.equal(taken.ports.api, 8767);
    assert.equal(taken.changed, false);
    const freed = await validatePorts(config(), rec(8081, 8090, 8767), probe({ 8767: 'daemon' }));
    assert.equal(freed.ports.api, 8765);
    assert.equal(freed.changed, true);
  });

  test('a running edge keeps its port even when config now wants another (apps point at it)', async () => {
    const r = await validatePorts(config({}), rec(9000, 8090, 8765), probe({ 9000: 'edge' }));
    assert.equal(r.ports.edge, 9000);
  });

  test('a port set by environment variable and held by something else is an error, not a silent move', async () => {
    await assert.rejects(
      validatePorts(config({ HALTON_METER_API_PORT: '18765' }), null, probe({ 18765: 'other' })),
      (e: unknown) => isMeterError(e) && e.code === 'port_in_use' && /HALTON_METER_API_PORT/.test(e.message),
    );
  });

  test('the real probe: a listener of another program is "other", a free port is free', async () => {
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const o = await occupant(port, 'api');
      assert.equal(o.kind, 'other');
      assert.equal(o.kind === 'other' ? o.pid : 0, process.pid, 'found through /proc');
    } finally {
      server.close();
    }
    assert.deepEqual(await occupant(port, 'api'), { kind: 'free' });
  });
});
