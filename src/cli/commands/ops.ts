// The operations commands (SPEC §7): init, start, stop, restart and the internal supervise, wired
// onto the program by one call from main.ts: registerOpsCommands(program). Errors thrown here reach
// main's handler, which prints one line (and the hint) and sets a non-zero exit code.
import type { Command } from 'commander';
import { makeContext, type CliContext } from '../context.js';
import type { InitOptions } from '../init-flow.js';

let ctxCache: CliContext | null = null;
function ctx(): CliContext {
  if (!ctxCache) ctxCache = makeContext(process.env);
  return ctxCache;
}

function run(fn: () => Promise<number>): () => Promise<void> {
  return async () => {
    process.exitCode = await fn();
  };
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

export function registerOpsCommands(program: Command): void {
  program
    .command('init')
    .description('install and start the meter as a service (idempotent: run it again after every upgrade)')
    .option('--apps', 'also write ~/.config/environment.d/60-halton-meter.conf so apps of your session use the meter')
    .option('--non-interactive', 'never ask (linger stays as it is)')
    .option('--clean', 'discard the units and run state (not data, config or the CA) and rebuild them')
    .option('--supervisor <kind>', 'auto (default: as installed, else systemd when available), systemd or process')
    .option('--python <path>', 'also patch the certifi bundle of this Python interpreter (repeatable; remembered)', collect)
    .option('--no-selftest', 'skip the self-test at the end')
    .action(async (o: InitOptions) => {
      const { initCommand } = await import('./init.js');
      process.exitCode = await initCommand(ctx(), o);
    });

  program
    .command('start')
    .description('start the edge and the daemon (whatever is down) under the installed supervisor')
    .action(run(async () => (await import('./start.js')).startCommand(ctx())));

  program
    .command('stop')
    .description('stop the daemon; the edge stays up and passes traffic through unmetered')
    .option('--edge', 'stop the edge too (apps using the proxy then cannot connect)')
    .action(async (o: { edge?: boolean }) => {
      process.exitCode = await (await import('./stop.js')).stopCommand(ctx(), o);
    });

  program
    .command('restart')
    .description('restart the daemon (the edge passes traffic through meanwhile)')
    .option('--edge', 'restart the edge too (drops connections open through it)')
    .action(async (o: { edge?: boolean }) => {
      process.exitCode = await (await import('./restart.js')).restartCommand(ctx(), o);
    });

  program
    .command('supervise', { hidden: true })
    .description('run the process supervisor in the foreground (internal: what init starts)')
    .action(run(async () => (await import('./supervise.js')).superviseCommand(ctx())));
}
