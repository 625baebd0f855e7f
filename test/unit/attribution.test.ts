// src/daemon/attribution: the proxy URL's user name, the rule chain (SPEC §4: proxy user, then
// HALTON_PROJECT in the client's environment, then the default; a bad slug falls through), and
// finding the client process from a connection's source port (/proc/net/tcp{,6} -> socket inode ->
// /proc/PID/fd). The /proc lookup is run for real against this process and a child process, and on a
// synthetic proc tree for the tcp6 parsing path.
//
// findClientProcess runs in a worker thread. Every lookup here runs in a short-lived helper process,
// so a worker that keeps its process alive (a bug this file once hit: see the last test) fails one
// test instead of hanging the whole run.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { proxyUserFromHeader, resolveAttribution, type AttributionDeps } from '../../src/daemon/attribution/index.js';
import { findSocketInode, procNetKey, readProcess, type ClientAddress, type ClientProcess } from '../../src/daemon/attribution/client-process.js';
import type { Attribution } from '../../src/daemon/attribution/index.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

const cleanups: Array<() => void | Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('proxyUserFromHeader', () => {
  test('Basic user:pass gives the user', () => {
    assert.equal(proxyUserFromHeader(`Basic ${b64('billing:secret')}`), 'billing');
  });

  test('user with an empty password, or no colon at all', () => {
    assert.equal(proxyUserFromHeader(`Basic ${b64('billing:')}`), 'billing');
    assert.equal(proxyUserFromHeader(`Basic ${b64('billing')}`), 'billing');
  });

  test('the scheme is case-insensitive and surrounding spaces are tolerated', () => {
    assert.equal(proxyUserFromHeader(`basic ${b64('a:b')}`), 'a');
    assert.equal(proxyUserFromHeader(`  BASIC   ${b64('team:x')}  `), 'team');
  });

  test('a URL-encoded user name is decoded (HTTPS_PROXY=http://team%2Fapp@...)', () => {
    assert.equal(proxyUserFromHeader(`Basic ${b64('team%2Fapp:')}`), 'team/app');
    assert.equal(proxyUserFromHeader(`Basic ${b64('my%20proj:pw')}`), 'my proj');
  });

  test('a broken percent-escape keeps the raw user', () => {
    assert.equal(proxyUserFromHeader(`Basic ${b64('100%zz:pw')}`), '100%zz');
  });

  test('a password containing colons does not leak into the user', () => {
    assert.equal(proxyUserFromHeader(`Basic ${b64('u:p:a:ss')}`), 'u');
  });

  test('garbage is null', () => {
    for (const h of [undefined, '', 'Bearer abc', 'Basic', 'Basic !!!not-base64!!!', 'Digest username="x"', `Basic ${b64('a:b')} extra`]) {
      assert.equal(proxyUserFromHeader(h), null, JSON.stringify(h));
    }
    assert.equal(proxyUserFromHeader([`Basic ${b64('a:b')}`]), null);
  });
});

describe('resolveAttribution (injected process lookup)', () => {
  const client: ClientAddress = { address: '127.0.0.1', port: 50_000 };
  const proc = (env: Record<string, string>, pid = 4242, name = 'python3'): ClientProcess => ({
    pid,
    name,
    env: new Map(Object.entries(env)),
    cwd: '/home/u/proj',
    ppid: 1,
  });
  const deps = (found: ClientProcess | null | Error, seen: ClientAddress[] = []): AttributionDeps => ({
    defaultProject: 'misc',
    ownPid: 1,
    lookupProcess: async (c) => {
      seen.push(c);
      if (found instanceof Error) throw found;
      return found;
    },
  });

  test('the proxy user beats HALTON_PROJECT, and the row still names the client process', async () => {
    const seen: ClientAddress[] = [];
    const a = await resolveAttribution({ proxyUser: 'Billing', client }, deps(proc({ HALTON_PROJECT: 'from-env' }), seen));
    assert.deepEqual(a, { slug: 'billing', rule: 'proxy_user', clientPid: 4242, clientName: 'python3' });
    assert.deepEqual(seen, [client]);
  });

  test('HALTON_PROJECT is used (normalised) when there is no proxy user', async () => {
    const a = await resolveAttribution({ proxyUser: null, client }, deps(proc({ HALTON_PROJECT: ' Web-App ' })));
    assert.deepEqual(a, { slug: 'web-app', rule: 'env', clientPid: 4242, clientName: 'python3' });
  });

  test('an invalid proxy user falls through to HALTON_PROJECT', async () => {
    const a = await resolveAttribution({ proxyUser: 'not a slug!', client }, deps(proc({ HALTON_PROJECT: 'env-proj' })));
    assert.equal(a.slug, 'env-proj');
    assert.equal(a.rule, 'env');
  });

  test('an invalid HALTON_PROJECT falls through to the default project', async () => {
    for (const bad of ['has space', '', 'x'.repeat(65), 'emoji🙂']) {
      const a = await resolveAttribution({ proxyUser: null, client }, deps(proc({ HALTON_PROJECT: bad })));
      assert.deepEqual(a, { slug: 'misc', rule: 'default', clientPid: 4242, clientName: 'python3' }, JSON.stringify(bad));
    }
  });

  test('a found process without HALTON_PROJECT: default', async () => {
    const a = await resolveAttribution({ proxyUser: null, client }, deps(proc({ PATH: '/bin' })));
    assert.equal(a.rule, 'default');
    assert.equal(a.slug, 'misc');
  });

  test('no process found: the default project under rule unresolved', async () => {
    const a = await resolveAttribution({ proxyUser: null, client }, deps(null));
    assert.deepEqual(a, { slug: 'misc', rule: 'unresolved', clientPid: null, clientName: null });
  });

  test('a lookup that throws is treated as not found', async () => {
    const a = await resolveAttribution({ proxyUser: null, client }, deps(new Error('EACCES')));
    assert.deepEqual(a, { slug: 'misc', rule: 'unresolved', clientPid: null, clientName: null });
  });

  test('no client address: no lookup; a proxy user still wins', async () => {
    const seen: ClientAddress[] = [];
    assert.deepEqual(await resolveAttribution({ proxyUser: null, client: null }, deps(proc({}), seen)), {
      slug: 'misc',
      rule: 'unresolved',
      clientPid: null,
      clientName: null,
    });
    assert.deepEqual(await resolveAttribution({ proxyUser: 'ops', client: null }, deps(proc({}), seen)), {
      slug: 'ops',
      rule: 'proxy_user',
      clientPid: null,
      clientName: null,
    });
    assert.deepEqual(seen, []);
  });
});

describe('procNetKey', () => {
  test('IPv4: little-endian address and the port in upper-case hex, plus its tcp6 v4-mapped form', () => {
    assert.deepEqual(procNetKey('127.0.0.1', 54321), ['0100007F:D431', '0000000000000000FFFF00000100007F:D431']);
    assert.deepEqual(procNetKey('10.1.2.3', 80), ['0302010A:0050', '0000000000000000FFFF00000302010A:0050']);
  });

  test('a v4-mapped IPv6 address is looked up as the IPv4 one', () => {
    assert.deepEqual(procNetKey('::ffff:127.0.0.1', 443), procNetKey('127.0.0.1', 443));
  });

  test('IPv6: each 32-bit word in host (little-endian) order', () => {
    assert.deepEqual(procNetKey('::1', 443), ['00000000000000000000000001000000:01BB']);
    assert.deepEqual(procNetKey('2001:db8::1', 8081), ['B80D0120000000000000000001000000:1F91']);
    assert.deepEqual(procNetKey('fe80::a:b:c:d', 1), ['000080FE000000000B000A000D000C00:0001']);
  });
});

// ---------------------------------------------------------------------------------------------
// Lookups in a helper process (the real findClientProcess / resolveAttribution, compiled).

type Op =
  | { kind: 'find'; client: ClientAddress; ownPid: number; procRoot?: string }
  | { kind: 'resolve'; proxyUser: string | null; client: ClientAddress; ownPid: number; defaultProject: string };

interface FoundProcess {
  pid: number;
  name: string | null;
  cwd: string | null;
  ppid: number | null;
  env: Map<string, string>;
}

const HELPER = `
const { findClientProcess } = await import(process.env.HM_CLIENT_PROCESS_URL);
const { resolveAttribution } = await import(process.env.HM_ATTRIBUTION_URL);
const out = [];
for (const op of JSON.parse(process.env.HM_OPS)) {
  if (op.kind === 'find') {
    const p = await findClientProcess(op.client, op.ownPid, op.procRoot);
    out.push(p && { pid: p.pid, name: p.name, cwd: p.cwd, ppid: p.ppid, env: [...p.env] });
  } else {
    out.push(await resolveAttribution({ proxyUser: op.proxyUser, client: op.client }, { defaultProject: op.defaultProject, ownPid: op.ownPid }));
  }
}
process.stdout.write(JSON.stringify(out));
if (process.env.HM_EXIT === '1') process.exit(0);
`;

// A file, not `node -e`: the lookup worker inherits execArgv, and --input-type would break it.
const helperDir = mkdtempSync(join(tmpdir(), 'halton-attr-helper-'));
const helperFile = join(helperDir, 'lookup.mjs');
writeFileSync(helperFile, HELPER);
cleanups.push(() => rmSync(helperDir, { recursive: true, force: true }));

/** Runs the ops in a fresh node process; with `exit: false` it must end on its own (or the timer says it hung). */
function inHelper(ops: Op[], opts: { exit?: boolean; hangMs?: number } = {}): Promise<{ results: unknown[]; hung: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [helperFile], {
      env: {
        ...process.env,
        HM_CLIENT_PROCESS_URL: new URL('../../src/daemon/attribution/client-process.js', import.meta.url).href,
        HM_ATTRIBUTION_URL: new URL('../../src/daemon/attribution/index.js', import.meta.url).href,
        HM_OPS: JSON.stringify(ops),
        HM_EXIT: opts.exit === false ? '0' : '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, opts.hangMs ?? 10_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (!hung && code !== 0) {
        reject(new Error(`helper exited ${code}: ${err}`));
        return;
      }
      try {
        resolve({ results: out ? (JSON.parse(out) as unknown[]) : [], hung });
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

async function find(client: ClientAddress, ownPid: number, procRoot?: string): Promise<FoundProcess | null> {
  const { results } = await inHelper([{ kind: 'find', client, ownPid, procRoot }]);
  const r = results[0] as (Omit<FoundProcess, 'env'> & { env: Array<[string, string]> }) | null;
  return r && { ...r, env: new Map(r.env) };
}

async function resolveIn(proxyUser: string | null, client: ClientAddress, ownPid: number): Promise<Attribution> {
  const { results } = await inHelper([{ kind: 'resolve', proxyUser, client, ownPid, defaultProject: 'misc' }]);
  return results[0] as Attribution;
}

// ---------------------------------------------------------------------------------------------
// Real /proc: this process and a child.

async function listenOn(host: string): Promise<{ server: Server; port: number; accepted: Promise<Socket> } | null> {
  const server = createServer();
  const conns = new Set<Socket>();
  server.on('connection', (s) => conns.add(s));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => resolve());
    });
  } catch {
    return null;
  }
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        // Accepted sockets nobody reads never see the peer's FIN: close them, or close() waits forever.
        for (const s of conns) s.destroy();
        server.close(() => r());
      }),
  );
  return { server, port: (server.address() as AddressInfo).port, accepted };
}

function dial(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port }, () => resolve(s));
    s.once('error', reject);
    cleanups.push(() => void s.destroy());
  });
}

describe('findClientProcess on the real /proc', () => {
  test('a connection from this process resolves to this pid, its name, env, cwd and parent', async () => {
    const l = await listenOn('127.0.0.1');
    assert.ok(l);
    const sock = await dial('127.0.0.1', l.port);
    const p = await find({ address: '127.0.0.1', port: sock.localPort ?? 0 }, -1);
    assert.ok(p, 'process found');
    assert.equal(p.pid, process.pid, 'pid');
    assert.equal(p.name, readFileSync('/proc/self/comm', 'utf8').trim(), 'name');
    assert.equal(p.cwd, process.cwd(), 'cwd');
    assert.equal(p.ppid, process.ppid, 'ppid');
    // environ is the environment the process started with: PATH is there unless someone changed it.
    if (process.env.PATH !== undefined) assert.equal(p.env.get('PATH'), process.env.PATH, 'PATH');
    assert.ok(p.env.size > 0);
  });

  test('the daemon never attributes a connection to itself', async () => {
    const l = await listenOn('127.0.0.1');
    assert.ok(l);
    const sock = await dial('127.0.0.1', l.port);
    assert.equal(await find({ address: '127.0.0.1', port: sock.localPort ?? 0 }, process.pid), null);
  });

  test('a connection that has closed no longer resolves (TIME_WAIT entries carry inode 0)', async () => {
    const l = await listenOn('127.0.0.1');
    assert.ok(l);
    const sock = await dial('127.0.0.1', l.port);
    const port = sock.localPort ?? 0;
    await new Promise<void>((r) => {
      sock.once('close', () => r());
      sock.destroy();
    });
    (await l.accepted).destroy();
    assert.equal(await find({ address: '127.0.0.1', port }, -1), null);
  });

  test('a child process with HALTON_PROJECT is found and attributed by the whole chain', async () => {
    const l = await listenOn('127.0.0.1');
    assert.ok(l);
    const child = spawn(
      process.execPath,
      ['-e', `const s=require('net').connect(${l.port},'127.0.0.1',()=>process.stdout.write('up\\n'));process.stdin.on('end',()=>s.destroy()).resume();`],
      { env: { ...process.env, HALTON_PROJECT: 'Child-Project' }, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    cleanups.push(async () => {
      child.stdin?.end();
      await exited;
    });
    const sock = await l.accepted;
    await new Promise<void>((r) => child.stdout?.once('data', () => r()));
    const client = { address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 };

    const a = await resolveIn(null, client, process.pid);
    assert.deepEqual(a, { slug: 'child-project', rule: 'env', clientPid: child.pid, clientName: 'node' });

    const b = await resolveIn('billing', client, process.pid);
    assert.deepEqual(b, { slug: 'billing', rule: 'proxy_user', clientPid: child.pid, clientName: 'node' });
    child.stdin?.end();
    await exited;
  });

  test('an IPv6 loopback connection is found through /proc/net/tcp6', async (t) => {
    const l = await listenOn('::1');
    if (!l) {
      t.skip('no IPv6 loopback here');
      return;
    }
    const sock = await dial('::1', l.port);
    const p = await find({ address: '::1', port: sock.localPort ?? 0 }, -1);
    assert.equal(p?.pid, process.pid);
  });
});

// ---------------------------------------------------------------------------------------------
// A synthetic proc tree: exact tcp6 lines, fd links, and a comm with spaces and parentheses.

describe('findClientProcess on a synthetic proc tree', () => {
  const root = mkdtempSync(join(tmpdir(), 'halton-proc-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));

  const HEADER = '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
  const line = (n: number, local: string, remote: string, inode: number): string =>
    `   ${n}: ${local} ${remote} 01 00000000:00000000 00:00000000 00000000  1000        0 ${inode} 1 0000000000000000 20 4 30 10 -1\n`;
  const V4_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
  const v4line = (n: number, local: string, remote: string, inode: number): string =>
    `   ${n}: ${local} ${remote} 01 00000000:00000000 00:00000000 00000000  1000        0 ${inode} 1 0000000000000000 20 4 30 10 -1\n`;

  function addProcess(pid: number, opts: { fds: Record<string, string>; comm: string; environ: string; cwd: string; stat: string }): void {
    const dir = join(root, String(pid));
    mkdirSync(join(dir, 'fd'), { recursive: true });
    for (const [fd, target] of Object.entries(opts.fds)) symlinkSync(target, join(dir, 'fd', fd));
    writeFileSync(join(dir, 'comm'), opts.comm);
    writeFileSync(join(dir, 'environ'), opts.environ);
    writeFileSync(join(dir, 'stat'), opts.stat);
    symlinkSync(opts.cwd, join(dir, 'cwd'));
  }

  mkdirSync(join(root, 'net'));
  writeFileSync(
    join(root, 'net', 'tcp'),
    V4_HEADER +
      v4line(0, '0100007F:1F91', '00000000:0000', 11111) + // a listener
      v4line(1, '0100007F:C350', '0100007F:1F91', 0), // TIME_WAIT-like: inode 0
  );
  writeFileSync(
    join(root, 'net', 'tcp6'),
    HEADER +
      line(0, '00000000000000000000000001000000:D431', '00000000000000000000000001000000:1F91', 424242) + // [::1]:54321
      line(1, '0000000000000000FFFF00000100007F:C351', '0000000000000000FFFF00000100007F:1F91', 515151) + // 127.0.0.1:50001 via a v6 socket
      line(2, 'B80D0120000000000000000001000000:0050', '00000000000000000000000000000000:0000', 616161),
  );
  addProcess(4242, {
    fds: { '0': '/dev/null', '1': 'pipe:[999]', '7': 'socket:[424242]' },
    comm: 'fake client\n',
    environ: 'PATH=/usr/bin\0HALTON_PROJECT=Synthetic\0EMPTY=\0WITH=EQUALS=SIGN\0',
    cwd: '/srv/app',
    stat: '4242 (fake (client) x) S 77 4242 4242 0 -1 4194304 1 0 0 0\n',
  });
  addProcess(100, {
    fds: { '3': 'socket:[515151]' },
    comm: 'curl\n',
    environ: '',
    cwd: '/',
    stat: '100 (curl) S 1 100 100 0 -1 0\n',
  });
  // An older pid holding the same inode (an inherited socket): the newest pid is reported.
  addProcess(50, { fds: { '9': 'socket:[424242]' }, comm: 'parent\n', environ: '', cwd: '/', stat: '50 (parent) S 1 50 50 0\n' });

  test('an IPv6 client is found in tcp6, with comm, env, cwd and ppid read from its pid', async () => {
    const p = await find({ address: '::1', port: 54321 }, 1, root);
    assert.ok(p);
    assert.equal(p.pid, 4242);
    assert.equal(p.name, 'fake client');
    assert.equal(p.cwd, '/srv/app');
    assert.equal(p.ppid, 77);
    assert.equal(p.env.get('HALTON_PROJECT'), 'Synthetic');
    assert.equal(p.env.get('EMPTY'), '');
    assert.equal(p.env.get('WITH'), 'EQUALS=SIGN');
    assert.equal(p.env.get('PATH'), '/usr/bin');
  });

  test('an IPv4 client seen through a v6 socket is found by its v4-mapped key', async () => {
    assert.equal(await findSocketInode({ address: '127.0.0.1', port: 50001 }, root), 515151);
    const p = await find({ address: '::ffff:127.0.0.1', port: 50001 }, 1, root);
    assert.equal(p?.pid, 100);
    assert.equal(p?.name, 'curl');
    assert.equal(p?.env.size, 0);
  });

  test('a full IPv6 address is matched in tcp6', async () => {
    assert.equal(await findSocketInode({ address: '2001:db8::1', port: 80 }, root), 616161);
  });

  test('an entry with inode 0 and an unknown port are not found', async () => {
    assert.equal(await findSocketInode({ address: '127.0.0.1', port: 50000 }, root), null);
    assert.equal(await find({ address: '::1', port: 1 }, 1, root), null);
  });

  test('an inode no process holds resolves to null', async () => {
    assert.equal(await find({ address: '2001:db8::1', port: 80 }, 1, root), null);
  });

  test('the owning pid being our own pid resolves to null', async () => {
    assert.equal(await find({ address: '::1', port: 54321 }, 4242, root), null);
  });

  test('readProcess of a pid that does not exist is null', async () => {
    assert.equal(await readProcess(999_999, root), null);
  });

  test('the whole chain on the synthetic tree: HALTON_PROJECT from the found process', async () => {
    const found = await find({ address: '::1', port: 54321 }, 1, root);
    assert.ok(found);
    const a = await resolveAttribution(
      { proxyUser: null, client: { address: '::1', port: 54321 } },
      { defaultProject: 'misc', ownPid: 1, lookupProcess: async () => ({ ...found, env: found.env }) },
    );
    assert.deepEqual(a, { slug: 'synthetic', rule: 'env', clientPid: 4242, clientName: 'fake client' });
  });
});

describe('the lookup worker', () => {
  // Regression: the worker was unref()ed before its 'message' listener was added, which refs it
  // again, so a process that had done one lookup never exited by itself.
  test('a process that has looked up a client can still exit on its own', async () => {
    // One lookup, then nothing left to do: a healthy helper exits within milliseconds; the timer only detects a hang.
    const { results, hung } = await inHelper([{ kind: 'find', client: { address: '127.0.0.1', port: 1 }, ownPid: -1 }], { exit: false, hangMs: 3000 });
    assert.equal(hung, false, 'the process did not exit by itself');
    assert.deepEqual(results, [null]);
  });

  test('a pending lookup keeps its process alive until it answers', async () => {
    const { results, hung } = await inHelper([{ kind: 'find', client: { address: '127.0.0.1', port: 1 }, ownPid: -1 }, { kind: 'find', client: { address: '::1', port: 1 }, ownPid: -1 }], { exit: false, hangMs: 3000 });
    assert.equal(hung, false);
    assert.deepEqual(results, [null, null]);
  });
});

describe('the client socket among others with the same local port', () => {
  // 127.0.0.1:53248 is the client's port, and also the port another process listens and accepts on
  // (ephemeral ports are shared between clients and servers that asked for port 0).
  const root = mkdtempSync(join(tmpdir(), 'halton-proc-same-port-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const row = (n: number, local: string, remote: string, st: string, inode: number): string =>
    `   ${n}: ${local} ${remote} ${st} 00000000:00000000 00:00000000 00000000  1000        0 ${inode} 1 0000000000000000 20 4 30 10 -1\n`;
  mkdirSync(join(root, 'net'));
  writeFileSync(
    join(root, 'net', 'tcp'),
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n' +
      row(0, '0100007F:D000', '00000000:0000', '0A', 1001) + // another process listening on 53248
      row(1, '0100007F:D000', '0100007F:AAAA', '01', 1002) + // ... and a connection it accepted
      row(2, '0100007F:D000', '0100007F:1F91', '01', 1003), // the client, connected to the edge (8081)
  );
  writeFileSync(join(root, 'net', 'tcp6'), '');

  test('the socket connected to the edge is the client; a listener never is', async () => {
    assert.equal(await findSocketInode({ address: '127.0.0.1', port: 0xd000, peerPort: 8081 }, root), 1003);
    // Without the peer's port: the first socket that is not listening.
    assert.equal(await findSocketInode({ address: '127.0.0.1', port: 0xd000 }, root), 1002);
    // A peer port no socket has: still the best guess rather than nothing.
    assert.equal(await findSocketInode({ address: '127.0.0.1', port: 0xd000, peerPort: 9999 }, root), 1002);
  });
});
