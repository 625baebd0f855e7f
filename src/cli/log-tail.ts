// Reading the meter's JSON-lines logs (SPEC §9) for `halton-meter logs`: the last N lines of each
// file, merged by timestamp; a follower that keeps reading as the file grows and copes with the file
// being truncated in place or renamed away and recreated (logrotate's copytruncate and create modes);
// and the one-line pretty form of an event for a terminal.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Paths } from '../config/types.js';
import { MeterError } from '../core/errors.js';
import type { Style } from './output/style.js';

export const LOG_COMPONENTS = ['daemon', 'edge', 'supervisor'] as const;
export type LogComponent = (typeof LOG_COMPONENTS)[number];

export function logFile(paths: Paths, c: LogComponent): string {
  return c === 'daemon' ? paths.daemonLog : c === 'edge' ? paths.edgeLog : join(paths.dataDir, 'supervisor.log');
}

/** `--component daemon,edge` (repeatable or comma-separated); all three when absent. */
export function parseComponents(values: readonly string[] | string | undefined): LogComponent[] {
  if (values === undefined) return [...LOG_COMPONENTS];
  const list = (Array.isArray(values) ? values : [values]).flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter(Boolean);
  if (list.length === 0) throw new MeterError('bad_argument', '--component needs a value', 'use --component daemon, edge or supervisor');
  for (const v of list) {
    if (!(LOG_COMPONENTS as readonly string[]).includes(v)) {
      throw new MeterError('bad_argument', `unknown component "${v}"`, 'use --component daemon, edge or supervisor');
    }
  }
  return [...new Set(list)] as LogComponent[];
}

export const DEFAULT_LINES = 50;

export function parseLineCount(value: string | undefined): number {
  if (value === undefined) return DEFAULT_LINES;
  if (!/^\d+$/.test(value.trim()) || Number(value) > 1_000_000) {
    throw new MeterError('bad_argument', `-n ${value}: expected a number of lines (0 to 1000000)`, 'e.g. halton-meter logs -n 200');
  }
  return Number(value);
}

export interface LogLine {
  component: LogComponent;
  text: string;
  /** The event's ts, for merging files; '' when the line is not JSON or has none. */
  ts: string;
}

function tsOf(text: string): string {
  // Every line starts {"ts":"..." (core/log.ts); fall back to parsing for hand-written lines.
  const m = /^\{"ts":"([^"]+)"/.exec(text);
  if (m) return m[1];
  try {
    const v = JSON.parse(text) as { ts?: unknown };
    return typeof v.ts === 'string' ? v.ts : '';
  } catch {
    return '';
  }
}

export function toLogLine(component: LogComponent, text: string): LogLine {
  return { component, text, ts: tsOf(text) };
}

/** Lines from several files in time order (stable: a file's own order is kept for equal ts). */
export function mergeByTime(lines: readonly LogLine[]): LogLine[] {
  return lines
    .map((l, i) => ({ l, i }))
    .sort((a, b) => (a.l.ts && b.l.ts && a.l.ts !== b.l.ts ? (a.l.ts < b.l.ts ? -1 : 1) : a.i - b.i))
    .map((x) => x.l);
}

export interface Tail {
  lines: string[];
  /** Byte offset just after the last complete line: where following starts. */
  end: number;
  ino: number;
}

/** The last `n` complete lines of a file (a line still being written is left for the follower). */
export function tailFile(path: string, n: number, chunk = 64 * 1024): Tail | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    let pos = st.size;
    let text = '';
    let end = -1;
    // Read backwards until n+1 newlines (n full lines before the last newline) or the start.
    while (pos > 0) {
      const len = Math.min(chunk, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, pos);
      text = buf.toString('latin1') + text;
      if (end < 0) {
        const nl = text.lastIndexOf('\n');
        if (nl >= 0) end = pos + nl + 1;
      }
      if (end >= 0 && countNewlines(text) > n) break;
    }
    if (end < 0) return { lines: [], end: 0, ino: st.ino };
    const complete = Buffer.from(text.slice(0, end - pos), 'latin1').toString('utf8');
    const all = complete.split('\n').slice(0, -1);
    // The first element may be a partial line when we stopped reading mid-file.
    const lines = n === 0 ? [] : all.slice(pos > 0 ? Math.max(1, all.length - n) : Math.max(0, all.length - n));
    return { lines, end, ino: st.ino };
  } finally {
    closeSync(fd);
  }
}

function countNewlines(s: string): number {
  let c = 0;
  for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) c++;
  return c;
}

export type FollowNote = 'truncated' | 'rotated' | 'appeared' | 'removed';

/**
 * Follows one file: complete lines appended since the last poll. Truncation (size below what was
 * read) restarts from the beginning; a rename or delete-and-recreate (another inode at the path)
 * drains the old file, then reads the new one from its start.
 */
export class LogFollower {
  private fd: number | null = null;
  private ino = -1;
  private pos = 0;
  private partial = Buffer.alloc(0);

  constructor(
    readonly path: string,
    start: { end: number; ino: number } | null,
  ) {
    if (start) {
      try {
        const fd = openSync(path, 'r');
        if (fstatSync(fd).ino === start.ino) {
          this.fd = fd;
          this.ino = start.ino;
          this.pos = start.end;
        } else {
          closeSync(fd);
        }
      } catch {
        // Gone since the tail: poll() picks up whatever appears.
      }
    }
  }

  poll(): { lines: string[]; notes: FollowNote[] } {
    const lines: string[] = [];
    const notes: FollowNote[] = [];
    if (this.fd === null) {
      const before = this.ino;
      if (!this.open()) return { lines, notes };
      // -1: missing when following began (not worth a note); 0: removed while followed.
      if (before === 0) notes.push('appeared');
    }
    this.drain(lines, notes);
    let current: number | null;
    try {
      current = statSync(this.path).ino;
    } catch {
      current = null;
    }
    if (current !== this.ino) {
      // Renamed away (or deleted): whatever was written to the old file before that is read above.
      this.close();
      this.partial = Buffer.alloc(0);
      if (current === null) {
        notes.push('removed');
        this.ino = 0;
      } else if (this.open()) {
        notes.push('rotated');
        this.drain(lines, notes);
      }
    }
    return { lines, notes };
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private open(): boolean {
    try {
      this.fd = openSync(this.path, 'r');
      this.ino = fstatSync(this.fd).ino;
      this.pos = 0;
      return true;
    } catch {
      this.fd = null;
      return false;
    }
  }

  private drain(lines: string[], notes: FollowNote[]): void {
    if (this.fd === null) return;
    const size = fstatSync(this.fd).size;
    if (size < this.pos) {
      notes.push('truncated');
      this.pos = 0;
      this.partial = Buffer.alloc(0);
    }
    while (this.pos < size) {
      const len = Math.min(256 * 1024, size - this.pos);
      const buf = Buffer.alloc(len);
      const got = readSync(this.fd, buf, 0, len, this.pos);
      if (got <= 0) break;
      this.pos += got;
      let data = Buffer.concat([this.partial, buf.subarray(0, got)]);
      let nl = data.indexOf(0x0a);
      while (nl >= 0) {
        lines.push(data.subarray(0, nl).toString('utf8'));
        data = data.subarray(nl + 1);
        nl = data.indexOf(0x0a);
      }
      this.partial = Buffer.from(data);
    }
  }
}

// ---- pretty -----------------------------------------------------------------------------------------

const BASE_KEYS = new Set(['ts', 'level', 'event', 'component', 'pid']);

function fieldValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/**
 * One line per event: `2026-05-11 10:02:03.123 daemon[1234] info  daemon.startup.ready version=0.1.1 …`
 * (time in UTC, as in the file). A line that is not a JSON object is printed as it is.
 */
export function formatEvent(text: string, source: LogComponent, style: Style): string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return text;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return text;
  const e = v as Record<string, unknown>;
  const ts = typeof e.ts === 'string' ? e.ts.replace('T', ' ').replace(/Z$/, '') : '-';
  const level = typeof e.level === 'string' ? e.level : 'info';
  // The file says whose line it is: the supervisor's events about a child carry its name as `component`
  // (and that child's pid as `pid`), so then both stay fields.
  const aboutOther = typeof e.component === 'string' && e.component !== source;
  const who = `${source}${typeof e.pid === 'number' && !aboutOther ? `[${e.pid}]` : ''}`;
  const lvl = level.padEnd(5);
  const styledLevel = level === 'error' || level === 'warn' ? style.bad(lvl) : level === 'debug' ? style.dim(lvl) : lvl;
  const fields = Object.entries(e)
    .filter(([k, val]) => val !== undefined && (!BASE_KEYS.has(k) || (aboutOther && (k === 'component' || k === 'pid'))))
    .map(([k, val]) => `${k}=${fieldValue(val)}`)
    .join(' ');
  return `${style.dim(ts)} ${who} ${styledLevel} ${style.bold(String(e.event ?? '-'))}${fields ? ` ${fields}` : ''}`;
}
