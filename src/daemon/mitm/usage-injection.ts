// The opt-in alternative to estimates ([metering] openai_stream_usage = "inject"): an OpenAI chat
// stream request without include_usage gets `stream_options.include_usage = true` on its way up,
// and the one extra chunk that this makes the provider send (choices: [], usage: {...}) is removed
// before the client sees it. Other chunks pass unchanged; they carry `"usage": null`, which clients
// of this API already tolerate.
import { Transform, type TransformCallback } from 'node:stream';

/** Requests larger than this are sent as they are (never held in memory to be rewritten). */
export const MAX_INJECT_BODY = 4 * 1024 * 1024;

/** The rewritten body when the request is a chat stream without include_usage; else null. */
export function injectIncludeUsage(body: Buffer): Buffer | null {
  let req: unknown;
  try {
    req = JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
  if (!req || typeof req !== 'object' || Array.isArray(req)) return null;
  const r = req as Record<string, unknown>;
  if (r.stream !== true) return null;
  const opts = r.stream_options && typeof r.stream_options === 'object' ? (r.stream_options as Record<string, unknown>) : {};
  if (opts.include_usage === true) return null;
  return Buffer.from(JSON.stringify({ ...r, stream_options: { ...opts, include_usage: true } }));
}

/** Whether one SSE event is the usage-only chunk that injection added. */
export function isInjectedUsageEvent(event: string): boolean {
  const data = event
    .split(/\r?\n/)
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).trimStart())
    .join('\n');
  if (!data.includes('"usage"')) return false;
  try {
    const chunk = JSON.parse(data) as { choices?: unknown; usage?: unknown };
    return Array.isArray(chunk.choices) && chunk.choices.length === 0 && !!chunk.usage && typeof chunk.usage === 'object';
  } catch {
    return false;
  }
}

/**
 * Passes SSE events through, event by event, minus the injected usage chunk. Works on bytes: the
 * events it keeps leave exactly as they came (a split multi-byte character is never re-encoded).
 */
export class InjectedUsageStripper extends Transform {
  private pending: Buffer = Buffer.alloc(0);

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const keep: Buffer[] = [];
    let start = 0;
    for (;;) {
      const end = eventEnd(this.pending, start);
      if (end < 0) break;
      const event = this.pending.subarray(start, end);
      if (!isInjectedUsageEvent(event.toString('utf8'))) keep.push(event);
      start = end;
    }
    this.pending = this.pending.subarray(start);
    cb(null, keep.length ? Buffer.concat(keep) : undefined);
  }

  override _flush(cb: TransformCallback): void {
    const rest = this.pending;
    this.pending = Buffer.alloc(0);
    cb(null, rest.length && !isInjectedUsageEvent(rest.toString('utf8')) ? rest : undefined);
  }
}

/** Offset just past the blank line ending the next event (LF or CRLF framing), or -1. */
function eventEnd(buf: Buffer, from: number): number {
  for (let i = from; i < buf.length - 1; i++) {
    if (buf[i] !== 0x0a) continue;
    if (buf[i + 1] === 0x0a) return i + 2;
    if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return i + 3;
  }
  return -1;
}
