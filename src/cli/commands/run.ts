// `halton-meter run [--project S] -- CMD ...`: one command with the proxy and CA variables set. The
// meter is started first (detached edge and daemon) when it is not running. The project goes in the
// proxy URL's user name, the first attribution rule, so it wins without any process lookup.
import { spawn } from 'node:child_process';
import { accessSync, constants, openSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { ensureCa } from '../../ca/index.js';
import { MeterError } from '../../core/errors.js';
import { writeCaBundle } from '../../service/ca-bundle.js';
import { clientEnv } from '../../service/env.js';
import type { CliContext } from '../context.js';
import { daemonHealthy, edgeUp, waitFor } from '../http.js';
import { spawnComponent } from '../spawn.js';
import { parseProject } from './env.js';

async function ensureRunning(ctx: CliContext): Promise<void> {
  const ports = ctx.ports;
  const edgeOk = await edgeUp(ports().edge);
  const daemonOk = await daemonHealthy(ports().api);
  if (edgeOk && daemonOk) return;
  const logFd = (file: string): number => openSync(file, 'a', 0o600);
  if (!edgeOk) {
    spawnComponent('edge', { ...ctx.env } as NodeJS.ProcessEnv, { detached: true, stdio: ['ignore', 'ignore', logFd(ctx.config.paths.edgeLog)] }).unref();
  }
  if (!daemonOk) {
    spawnComponent('daemon', { ...ctx.env } as NodeJS.ProcessEnv, { detached: true, stdio: ['ignore', 'ignore', logFd(ctx.config.paths.daemonLog)] }).unref();
  }
  const ok = await waitFor(async () => (await edgeUp(ports().edge)) && (await daemonHealthy(ports().api)), 20_000);
  // A daemon that does not come up is not fatal: the edge passes traffic through unmetered.
  if (!(await edgeUp(ports().edge))) throw new MeterError('daemon_unreachable', `the edge did not start on 127.0.0.1:${ports().edge}`, 'see ~/.halton-meter/edge.log');
  if (!ok) ctx.err('halton-meter: warning: the daemon is not healthy; traffic passes through unmetered (see ~/.halton-meter/daemon.log)');
}

/** Whether `cmd` can be executed, looked up on PATH like the shell does. */
export function findExecutable(cmd: string, pathVar: string | undefined): boolean {
  const canRun = (p: string): boolean => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (cmd.includes('/')) return canRun(isAbsolute(cmd) ? cmd : join(process.cwd(), cmd));
  return (pathVar ?? '').split(delimiter).some((dir) => dir !== '' && canRun(join(dir, cmd)));
}

export async function runCommand(ctx: CliContext, argv: string[], opts: { project?: string }): Promise<number> {
  if (argv.length === 0) throw new MeterError('bad_argument', 'run needs a command', 'usage: halton-meter run [--project S] -- CMD [ARGS...]');
  const project = parseProject(opts.project);
  // Checked before the meter is started, so a typo does not leave processes behind.
  if (!findExecutable(argv[0], ctx.env.PATH)) {
    throw new MeterError('bad_argument', `cannot run ${argv[0]}: command not found`, 'check the command name and PATH');
  }
  const { ca } = await ensureCa(ctx.config.paths.caDir);
  writeCaBundle(ctx.config.paths.caBundle, ca.certPem);
  await ensureRunning(ctx);
  const env: NodeJS.ProcessEnv = { ...ctx.env };
  for (const [k, v] of clientEnv(ctx.config, ctx.ports().edge, project)) env[k] = v;
  if (project) env.HALTON_PROJECT = project;
  return new Promise<number>((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit', env });
    const forward = (sig: NodeJS.Signals): void => {
      child.kill(sig);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(new MeterError('bad_argument', `cannot run ${argv[0]}: ${e.code === 'ENOENT' ? 'command not found' : e.message}`, 'check the command name and PATH')),
    );
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 1 : 1)));
  });
}
