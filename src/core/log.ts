// JSON-lines logs (SPEC §9): one event per line, to stderr (for the journal) and to a log file.
// Token counts and event names only: callers never pass prompt or response content.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Record<string, string | number | boolean | null | undefined | readonly string[]>;

export interface Logger {
  log(level: LogLevel, event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  debug(event: string, fields?: LogFields): void;
  close(): Promise<void>;
}

export interface LoggerOptions {
  component: string;
  level: LogLevel;
  /** Append JSON lines here too; null = stderr only. */
  file: string | null;
  /** Write to stderr as well (default true). */
  stderr?: boolean;
}

export function createLogger(opts: LoggerOptions): Logger {
  const threshold = LOG_LEVELS.indexOf(opts.level);
  const toStderr = opts.stderr ?? true;
  let stream: WriteStream | null = null;
  if (opts.file) {
    try {
      mkdirSync(dirname(opts.file), { recursive: true, mode: 0o700 });
      stream = createWriteStream(opts.file, { flags: 'a', mode: 0o600 });
      // A log file that cannot be written must never take the process down: keep logging to stderr.
      stream.on('error', () => {
        stream = null;
      });
    } catch {
      stream = null;
    }
  }
  const log = (level: LogLevel, event: string, fields?: LogFields): void => {
    if (LOG_LEVELS.indexOf(level) < threshold) return;
    const line =
      JSON.stringify({ ts: new Date().toISOString(), level, event, component: opts.component, pid: process.pid, ...fields }) +
      '\n';
    if (toStderr) process.stderr.write(line);
    stream?.write(line);
  };
  return {
    log,
    info: (e, f) => log('info', e, f),
    warn: (e, f) => log('warn', e, f),
    error: (e, f) => log('error', e, f),
    debug: (e, f) => log('debug', e, f),
    close: () =>
      new Promise<void>((resolve) => {
        if (!stream) return resolve();
        stream.end(() => resolve());
      }),
  };
}
