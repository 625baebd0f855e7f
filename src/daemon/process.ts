// `halton-meter daemon`: the intercepting daemon in the foreground (what the units run).
import { loadConfig } from '../config/load.js';
import { errorMessage, isMeterError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { startDaemon } from './main.js';

const args = process.argv.slice(3);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write('Usage: halton-meter daemon\n\nRuns the intercepting daemon in the foreground (what the units run).\n');
  process.exit(0);
}

function fail(e: unknown): never {
  const msg = isMeterError(e) ? `${e.message}${e.hint ? `\n  ${e.hint}` : ''}` : errorMessage(e);
  process.stderr.write(`halton-meter daemon: ${msg}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  const { config } = loadConfig({ env: process.env });
  const log = createLogger({ component: 'daemon', level: config.logLevel, file: config.paths.daemonLog });
  process.on('uncaughtException', (err) => {
    // One bad exchange must not take every other client's metering down with it.
    log.error('daemon.uncaught', { error: errorMessage(err), stack: err instanceof Error ? (err.stack ?? '').split('\n').slice(0, 4).join(' | ') : null });
  });
  process.on('unhandledRejection', (err) => {
    log.error('daemon.unhandled_rejection', { error: errorMessage(err) });
  });
  let handle;
  try {
    handle = await startDaemon(config, { log });
  } catch (e) {
    log.error('daemon.startup.failed', { error: errorMessage(e) });
    await log.close();
    fail(e);
  }
  const h = handle;
  const onSignal = (signal: string): void => {
    void h.stop(signal).then(() => process.exit(0));
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}

main().catch(fail);
