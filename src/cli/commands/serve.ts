// `halton-meter serve`: edge and daemon in the foreground on the embedded defaults (what `npm start`
// runs). Two child processes, as in production, so the edge keeps serving while the daemon restarts;
// a crashed child is restarted with back-off; Ctrl-C stops both.
import type { ChildProcess } from 'node:child_process';
import { VERSION } from '../../core/version.js';
import { ensureCa } from '../../ca/index.js';
import { writeCaBundle } from '../../service/ca-bundle.js';
import type { CliContext } from '../context.js';
import { daemonHealthy, edgeUp, waitFor } from '../http.js';
import { runSelftest } from '../selftest-client.js';
import { spawnComponent } from '../spawn.js';
import { CHECK, CROSS } from '../output/style.js';
import { MeterError, errorMessage } from '../../core/errors.js';

export interface ServeOptions {
  logs?: boolean;
  selftest?: boolean;
}

export async function serveCommand(ctx: CliContext, opts: ServeOptions): Promise<number> {
  const { ca } = await ensureCa(ctx.config.paths.caDir);
  writeCaBundle(ctx.config.paths.caBundle, ca.certPem);
  const children = new Map<'edge' | 'daemon', ChildProcess>();
  const tails = new Map<'edge' | 'daemon', string[]>();
  let stopping = false;
  const restarts = { edge: 0, daemon: 0 };

  const start = (component: 'edge' | 'daemon'): void => {
    const child = spawnComponent(component, { ...ctx.env } as NodeJS.ProcessEnv, { detached: false, stdio: ['ignore', 'ignore', 'pipe'] });
    children.set(component, child);
    const tail: string[] = [];
    tails.set(component, tail);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      if (opts.logs) process.stderr.write(d);
      for (const line of d.split('\n')) if (line) tail.push(line);
      while (tail.length > 20) tail.shift();
    });
    child.on('exit', (code, signal) => {
      if (stopping) return;
      const delay = Math.min(30_000, 500 * 2 ** restarts[component]);
      restarts[component]++;
      const last = tail.filter((l) => !l.startsWith('{')).slice(-3).join(' / ') || tail.slice(-1)[0] || '';
      ctx.err(`${ctx.style.bad(CROSS)} ${component} exited (${signal ?? code}); restarting in ${delay} ms${last ? `: ${last}` : ''}`);
      setTimeout(() => {
        if (!stopping) start(component);
      }, delay).unref();
    });
  };

  start('edge');
  start('daemon');
  const ports = ctx.ports;
  const up = await waitFor(async () => (await edgeUp(ports().edge)) && (await daemonHealthy(ports().api)), 30_000, 100);
  if (!up) {
    stopping = true;
    for (const c of children.values()) c.kill('SIGTERM');
    const why = [...tails.entries()].map(([k, v]) => `${k}: ${v.filter((l) => !l.startsWith('{')).slice(-2).join(' / ') || v.slice(-1)[0] || 'no output'}`).join('; ');
    throw new MeterError('daemon_unreachable', `the meter did not become healthy within 30 s (${why})`, 'see ~/.halton-meter/daemon.log and edge.log');
  }
  const p = ports();
  ctx.out(`halton-meter ${VERSION} serving`);
  ctx.out(`  edge    http://127.0.0.1:${p.edge}   (set HTTPS_PROXY to this)`);
  ctx.out(`  daemon  127.0.0.1:${p.internal} (intercepting), API http://127.0.0.1:${p.api}`);
  ctx.out(`  data    ${ctx.config.paths.db}`);
  if (opts.selftest !== false) {
    try {
      const r = await runSelftest(ctx);
      ctx.out(`${ctx.style.ok(CHECK)} self-test: row ${r.rowId} written in ${r.ms} ms`);
    } catch (e) {
      ctx.err(`${ctx.style.bad(CROSS)} self-test failed: ${errorMessage(e)}`);
    }
  }
  ctx.out(`Point a shell at it:  eval "$(halton-meter env)"   (Ctrl-C stops the meter)`);

  return new Promise<number>((resolve) => {
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      ctx.out('stopping…');
      const waits = [...children.values()].map(
        (c) =>
          new Promise<void>((r) => {
            if (c.exitCode !== null || c.signalCode !== null) return r();
            c.once('exit', () => r());
            c.kill('SIGTERM');
          }),
      );
      const force = setTimeout(() => {
        for (const c of children.values()) c.kill('SIGKILL');
      }, 25_000);
      void Promise.all(waits).then(() => {
        clearTimeout(force);
        resolve(0);
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
