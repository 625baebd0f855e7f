// The operations commands (SPEC §7): init, start, stop, restart, status, logs, uninstall and the
// internal supervise, wired onto the program by one call from main.ts: registerOpsCommands(program).
// Errors thrown here reach main's handler, which prints one line (and the hint) and sets a non-zero
// exit code.
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
    .command('status')
    .description('CLI and daemon versions, install mode, and every component (edge, daemon, listeners, units, CA, certifi, linger) with its state')
    .option('--json', 'print the status as JSON (the shape is in docs/operations.md)')
    .addHelpText('after', '\nExit status: 0 when the meter is live (the edge answers and the daemon is healthy), 1 when it is\ninstalled or partly running but not live, 3 when it is not installed and nothing runs.')
    .action(async (o: { json?: boolean }) => {
      process.exitCode = await (await import('./status.js')).statusCommand(ctx(), o);
    });

  program
    .command('logs')
    .description('show the last events of the daemon, edge and supervisor logs (~/.halton-meter/*.log)')
    .option('-f, --follow', 'keep printing new events as they are written (through truncation and rotation) until Ctrl-C')
    .option('--component <name>', 'only daemon, edge or supervisor (repeatable, or comma-separated)', collect)
    .option('-n, --lines <N>', 'how many of the last events to show (default 50; 0 with -f shows only new ones)')
    .option('--json', 'print the raw JSON lines even on a terminal (they are printed raw whenever stdout is not one)')
    .addHelpText(
      'after',
      '\nOn a terminal each event is one line: time (UTC), component[pid], level, event, fields. Piped, the\n' +
        'lines are the JSON objects as written (SPEC §9).\n' +
        'Under systemd the same events are also in the journal:\n' +
        '  journalctl --user -u halton-meter.service -f        (daemon)\n' +
        '  journalctl --user -u halton-meter-edge.service -f   (edge)',
    )
    .action(async (o: { follow?: boolean; component?: string[]; lines?: string; json?: boolean }) => {
      process.exitCode = await (await import('./logs.js')).logsCommand(ctx(), o);
    });

  program
    .command('uninstall')
    .description('stop the meter and remove what init installed (units, environment.d, certifi patches, env files); keeps data, config and the CA')
    .option('--purge', 'also delete db.sqlite, config.toml, the logs and the CA (asks first)')
    .option('--yes', 'do not ask before --purge (needed when not on a terminal)')
    .option('--graceful', 'let in-flight calls finish and get their rows (daemon drain, up to 20 s) before stopping')
    .action(async (o: { purge?: boolean; yes?: boolean; graceful?: boolean }) => {
      process.exitCode = await (await import('./uninstall.js')).uninstallCommand(ctx(), o);
    });

  program
    .command('supervise', { hidden: true })
    .description('run the process supervisor in the foreground (internal: what init starts)')
    .action(run(async () => (await import('./supervise.js')).superviseCommand(ctx())));
}
