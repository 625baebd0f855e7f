// src/edge/health.ts: the edge's cached view of the daemon (SPEC §1): GET /health on the API port,
// cached 1000 ms when healthy and 200 ms when not, one probe in flight, dropped at once by markDown,
// and the daemon's intercept_hosts list followed. A real HTTP server plays the daemon's API; the
// clock is injected, so cache expiry is tested without waiting.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { interceptHostNames } from '../../src/core/providers.js';
import { DaemonHealth, type DaemonPorts } from '../../src/edge/health.js';

interface FakeApi {
  port: number;
  hits: number;
  paths: string[];
  hosts: string[];
  /** What the next requests get. */
  answer: { status: number; body: unknown };
  /** When set, requests wait until release() is called. */
  hold: boolean;
  release(): void;
  /** Resolves when a held request has arrived. */
  arrived(): Promise<void>;
}

const servers: Server[] = [];
after(async () => {
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
});

async function fakeApi(answer: FakeApi['answer'] = { status: 200, body: { status: 'ok', version: '9.9.9', intercept_hosts: interceptHostNames() } }): Promise<FakeApi> {
  const held: Array<() => void> = [];
  let onArrive: (() => void) | null = null;
  const api: FakeApi = {
    port: 0,
    hits: 0,
    paths: [],
    hosts: [],
    answer,
    hold: false,
    release() {
      for (const r of held.splice(0)) r();
    },
    arrived() {
      return new Promise((r) => (onArrive = r));
    },
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    api.hits++;
    api.paths.push(`${req.method} ${req.url}`);
    api.hosts.push(req.headers.host ?? '');
    const send = (): void => {
      const { status, body } = api.answer;
      res.writeHead(status, { 'content-type': 'application/json' }).end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (api.hold) {
      held.push(send);
      onArrive?.();
    } else send();
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  api.port = (server.address() as AddressInfo).port;
  return api;
}

async function refusedPort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A health checker on `api` with a clock the test moves by hand. */
function checker(apiPort: number, internal = 1): { health: DaemonHealth; clock: { t: number } } {
  const clock = { t: 1_000_000 };
  const health = new DaemonHealth((): DaemonPorts => ({ internal, api: apiPort }), () => clock.t);
  return { health, clock };
}

describe('DaemonHealth', () => {
  test('before any check: not healthy, nothing cached, the built-in host table', () => {
    const { health } = checker(1);
    assert.equal(health.cached(), null);
    const s = health.last();
    assert.equal(s.healthy, false);
    assert.deepEqual([...s.interceptHosts].sort(), interceptHostNames().sort());
    assert.equal(s.version, null);
  });

  test('asks GET /health on the API port with a loopback Host header', async () => {
    const api = await fakeApi();
    const { health } = checker(api.port, 8090);
    const s = await health.check();
    assert.deepEqual(api.paths, ['GET /health']);
    assert.equal(api.hosts[0], `127.0.0.1:${api.port}`);
    assert.equal(s.healthy, true);
    assert.equal(s.reason, null);
    assert.equal(s.version, '9.9.9');
    assert.deepEqual(s.ports, { internal: 8090, api: api.port });
  });

  test('a healthy answer is cached for 1000 ms, then asked again', async () => {
    const api = await fakeApi();
    const { health, clock } = checker(api.port);
    const first = await health.check();
    assert.equal(first.healthy, true);
    clock.t += 999;
    assert.equal(health.cached(), first);
    assert.equal(await health.check(), first);
    assert.equal(api.hits, 1);
    clock.t += 1;
    assert.equal(health.cached(), null);
    await health.check();
    assert.equal(api.hits, 2);
  });

  test('an unhealthy answer is cached for 200 ms only', async () => {
    const api = await fakeApi({ status: 503, body: { status: 'unhealthy', reason: 'shutting down' } });
    const { health, clock } = checker(api.port);
    const first = await health.check();
    assert.equal(first.healthy, false);
    clock.t += 199;
    assert.equal(health.cached(), first);
    await health.check();
    assert.equal(api.hits, 1);
    clock.t += 1;
    assert.equal(health.cached(), null);
    await health.check();
    assert.equal(api.hits, 2);
  });

  test('503 is unhealthy, with the status in the reason', async () => {
    const api = await fakeApi({ status: 503, body: { status: 'unhealthy' } });
    const s = await checker(api.port).health.check();
    assert.equal(s.healthy, false);
    assert.equal(s.reason, 'health answered 503');
  });

  test('200 without status "ok" (or not JSON) is unhealthy', async () => {
    for (const body of [{ status: 'starting' }, 'not json', {}]) {
      const api = await fakeApi({ status: 200, body });
      const s = await checker(api.port).health.check();
      assert.equal(s.healthy, false, JSON.stringify(body));
      assert.equal(s.reason, 'health answered 200');
    }
  });

  test('a refused API port is unhealthy, with the error in the reason', async () => {
    const port = await refusedPort();
    const s = await checker(port).health.check();
    assert.equal(s.healthy, false);
    assert.match(s.reason ?? '', /ECONNREFUSED/);
  });

  test('a daemon that accepts but never answers is unhealthy after the check timeout', async () => {
    const sockets: Socket[] = [];
    const silent = createNetServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    try {
      const s = await checker((silent.address() as AddressInfo).port).health.check();
      assert.equal(s.healthy, false);
      assert.match(s.reason ?? '', /timed out/);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  test('concurrent checks share one probe', async () => {
    const api = await fakeApi();
    api.hold = true;
    const { health } = checker(api.port);
    const arrived = api.arrived();
    const checks = Array.from({ length: 5 }, () => health.check());
    await arrived;
    checks.push(health.check());
    api.release();
    const states = await Promise.all(checks);
    // Every check resolved only after its own probe's answer, so any extra probe would have hit the server.
    assert.equal(api.hits, 1);
    for (const s of states) assert.equal(s, states[0]);
    assert.equal(states[0].healthy, true);
  });

  test('after a probe settles, the next due check starts a new one', async () => {
    const api = await fakeApi({ status: 503, body: {} });
    const { health, clock } = checker(api.port);
    await health.check();
    clock.t += 200;
    await Promise.all([health.check(), health.check()]);
    assert.equal(api.hits, 2);
  });

  test('markDown drops a healthy cache at once and keeps the reason', async () => {
    const api = await fakeApi();
    const { health } = checker(api.port);
    await health.check();
    assert.ok(health.cached()?.healthy);
    health.markDown('ECONNREFUSED');
    assert.equal(health.cached(), null);
    assert.equal(health.last().healthy, false);
    assert.equal(health.last().reason, 'ECONNREFUSED');
    const again = await health.check();
    assert.equal(api.hits, 2);
    assert.equal(again.healthy, true);
  });

  test("the daemon's intercept_hosts list replaces the built-in one (lower-cased)", async () => {
    const api = await fakeApi({ status: 200, body: { status: 'ok', version: '2.0.0', intercept_hosts: ['API.Anthropic.com', 'new-provider.test', 42] } });
    const s = await checker(api.port).health.check();
    assert.deepEqual([...s.interceptHosts].sort(), ['api.anthropic.com', 'new-provider.test']);
  });

  test('an unhealthy answer or an empty list keeps the last known hosts', async () => {
    const api = await fakeApi({ status: 200, body: { status: 'ok', intercept_hosts: ['only.test'] } });
    const { health, clock } = checker(api.port);
    await health.check();
    api.answer = { status: 503, body: { status: 'unhealthy', intercept_hosts: ['other.test'] } };
    clock.t += 1000;
    const down = await health.check();
    assert.deepEqual([...down.interceptHosts], ['only.test']);
    api.answer = { status: 200, body: { status: 'ok', intercept_hosts: [] } };
    clock.t += 200;
    const empty = await health.check();
    assert.equal(empty.healthy, true);
    assert.deepEqual([...empty.interceptHosts], ['only.test']);
  });

  test('ports are read again at each probe (effective-ports.json may change under a running edge)', async () => {
    const a = await fakeApi({ status: 200, body: { status: 'ok', version: 'a' } });
    const b = await fakeApi({ status: 200, body: { status: 'ok', version: 'b' } });
    const clock = { t: 0 };
    let ports: DaemonPorts = { internal: 1111, api: a.port };
    const health = new DaemonHealth(() => ports, () => clock.t);
    assert.equal((await health.check()).version, 'a');
    ports = { internal: 2222, api: b.port };
    clock.t += 1000;
    const s = await health.check();
    assert.equal(s.version, 'b');
    assert.deepEqual(s.ports, { internal: 2222, api: b.port });
  });
});
