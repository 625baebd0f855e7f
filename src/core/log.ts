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

/** How long a log file that failed (ENOSPC, EIO, removed directory) is left alone before reopening it. */
const REOPEN_MS = 5000;

// A stderr whose reader is gone (the terminal or parent process that started us exited: EPIPE)
// reports each failed write as an 'error' event; unhandled, that is an uncaught exception, which the
// process-level handler logs, to stderr again: a loop that starved the event loop (nothing served)
// and wrote the log file at full speed, 17 GB in an hour (issue 6). After the first failure, lines
// go to the log file only.
let stderrBroken = false;
let stderrWatched = false;
function watchStderr(): void {
  if (stderrWatched) return;
  stderrWatched = true;
  process.stderr.on('error', () => {
    stderrBroken = true;
  });
}

export function createLogger(opts: LoggerOptions): Logger {
  const threshold = LOG_LEVELS.indexOf(opts.level);
  const toStderr = opts.stderr ?? true;
  if (toStderr) watchStderr();
  let stream: WriteStream | null = null;
  let reopenAt = 0;
  const open = (file: string): void => {
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      const s = createWriteStream(file, { flags: 'a', mode: 0o600 });
      // A log file that cannot be written must never take the process down: keep logging to stderr,
      // and try the file again a little later (a full disk gets space back; the lines in between are
      // on stderr only).
      s.on('error', () => {
        if (stream === s) stream = null;
        reopenAt = Date.now() + REOPEN_MS;
        s.destroy();
      });
      stream = s;
    } catch {
      stream = null;
      reopenAt = Date.now() + REOPEN_MS;
    }
  };
  if (opts.file) open(opts.file);
  const log = (level: LogLevel, event: string, fields?: LogFields): void => {
    if (LOG_LEVELS.indexOf(level) < threshold) return;
    const line =
      JSON.stringify({ ts: new Date().toISOString(), level, event, component: opts.component, pid: process.pid, ...fields }) +
      '\n';
    if (toStderr && !stderrBroken) process.stderr.write(line);
    if (!stream && opts.file && Date.now() >= reopenAt) open(opts.file);
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
