// `halton-meter logs [-f] [--component daemon|edge|supervisor] [-n N] [--json]`: the last N events of
// ~/.halton-meter/{daemon,edge,supervisor}.log (JSON lines, SPEC §9), merged in time order; one
// pretty line per event on a terminal, the raw JSON lines when piped (or with --json). `-f` keeps
// following, through truncation and rotation, until Ctrl-C.
import { existsSync } from 'node:fs';
import { MeterError } from '../../core/errors.js';
import type { CliContext } from '../context.js';
import { formatEvent, logFile, LogFollower, mergeByTime, parseComponents, parseLineCount, tailFile, toLogLine, type LogComponent, type LogLine } from '../log-tail.js';
import { tilde } from '../steps.js';

export interface LogsOptions {
  follow?: boolean;
  component?: string[] | string;
  lines?: string;
  json?: boolean;
  /** Poll interval while following (ms); tests shorten it. */
  pollMs?: number;
  /** Pretty lines even when not a TTY (tests). */
  pretty?: boolean;
}

export async function logsCommand(ctx: CliContext, opts: LogsOptions, signal?: AbortSignal): Promise<number> {
  const components = parseComponents(opts.component);
  const n = parseLineCount(opts.lines);
  const paths = ctx.config.paths;
  const pretty = opts.pretty ?? (!opts.json && process.stdout.isTTY === true);
  const show = (l: LogLine): void => ctx.out(pretty ? formatEvent(l.text, l.component, ctx.style) : l.text);

  const files = components.map((c) => ({ c, path: logFile(paths, c) }));
  const present = files.filter((f) => existsSync(f.path));
  if (present.length === 0 && !opts.follow) {
    const list = files.map((f) => tilde(f.path, paths.home)).join(', ');
    throw new MeterError('not_found', `no log yet: ${list} ${files.length === 1 ? 'does' : 'do'} not exist`, 'the meter has not run under this HOME; start it with: halton-meter init --apps');
  }

  const starts = new Map<LogComponent, { end: number; ino: number } | null>();
  const initial: LogLine[] = [];
  for (const f of files) {
    const t = tailFile(f.path, n);
    starts.set(f.c, t ? { end: t.end, ino: t.ino } : null);
    if (t) for (const text of t.lines) initial.push(toLogLine(f.c, text));
  }
  const merged = mergeByTime(initial);
  for (const l of merged.slice(Math.max(0, merged.length - n))) show(l);
  if (!opts.follow) return 0;

  const followers = files.map((f) => ({ c: f.c, follower: new LogFollower(f.path, starts.get(f.c) ?? null) }));
  const tick = (): void => {
    const batch: LogLine[] = [];
    for (const { c, follower } of followers) {
      const r = follower.poll();
      for (const note of r.notes) ctx.err(`halton-meter logs: ${tilde(follower.path, paths.home)} ${note}${note === 'removed' ? '; waiting for it to come back' : ''}`);
      for (const text of r.lines) batch.push(toLogLine(c, text));
    }
    for (const l of mergeByTime(batch)) show(l);
  };
  await new Promise<void>((resolve) => {
    const timer = setInterval(tick, opts.pollMs ?? 250);
    const stop = (): void => {
      clearInterval(timer);
      tick();
      for (const f of followers) f.follower.close();
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    signal?.addEventListener('abort', stop, { once: true });
  });
  return 0;
}
