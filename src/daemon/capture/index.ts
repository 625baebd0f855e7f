// Opt-in body capture (SPEC §5, docs/body-capture.md). Off unless the request's project turns it on:
// the `.haltonrc` that named the project says `body_capture = "on"` (or `true`), or the project has
// the `project_settings` row `body_capture = on`. Captured bodies are redacted (src/core/redact.ts)
// before anything is written, then capped, then written into request_bodies by this module's own
// short batches, after the request row (which the RowWriter writes) exists: the foreign key needs it.
//
// Nothing here runs on the proxy's hot path: offer() only queues references; the decision, the
// redaction and the write happen on an unref'd timer. Nothing here throws into the caller.
import { redactBody, redactValue, type RedactOptions } from '../../core/redact.js';
import type { Exchange, ObservedResponse } from '../../core/exchange.js';
import type { Logger } from '../../core/log.js';
import { errorMessage } from '../../core/errors.js';
import { getProjectSetting, insertBodies, type BodyRecord, type Db } from '../../store/index.js';

/** The project_settings key (and the .haltonrc key) that turns capture on. */
export const CAPTURE_SETTING = 'body_capture';
/** project_settings key: also redact e-mail addresses in this project's bodies. */
export const EMAILS_SETTING = 'body_capture_emails';
/** Default cap per side (request, response), in UTF-8 bytes, applied after redaction. */
export const MAX_BODY_BYTES = 256 * 1024;

/** project_settings values that mean on; anything else is off. */
export function settingOn(value: string | null): boolean {
  return value !== null && ['on', 'true', 'yes', '1'].includes(value.trim().toLowerCase());
}

/** Capture is on when the .haltonrc naming the project says so, or the project's setting does. */
export function shouldCapture(haltonrcCapture: boolean | undefined, projectSetting: string | null): boolean {
  return haltonrcCapture === true || settingOn(projectSetting);
}

export const TRUNCATION_MARK = '[TRUNCATED by halton-meter]';

/** Cuts `text` to at most `maxBytes` UTF-8 bytes (marker included) on a character boundary. */
export function capText(text: string, maxBytes: number): { text: string; truncated: boolean } {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return { text, truncated: false };
  const mark = `\n${TRUNCATION_MARK}`;
  const room = Math.max(0, maxBytes - Buffer.byteLength(mark, 'utf8'));
  let cut = Buffer.from(text, 'utf8').subarray(0, room).toString('utf8');
  // A cut inside a multi-byte character decodes to U+FFFD: drop it.
  if (cut.endsWith('\uFFFD')) cut = cut.slice(0, -1);
  return { text: cut + mark, truncated: true };
}

/** The response as text: the decoded body, or the SSE events written back as an event stream. */
function redactedResponse(res: ObservedResponse, opts: RedactOptions): { text: string | null; count: number } {
  if (res.events) {
    let count = 0;
    const parts = res.events.map((e) => {
      const r = redactBody(e.data, opts);
      count += r.count;
      const data = r.value
        .split('\n')
        .map((l) => `data: ${l}`)
        .join('\n');
      return e.event ? `event: ${e.event}\n${data}\n` : `${data}\n`;
    });
    return { text: parts.join('\n'), count };
  }
  if (res.bodyText === null) return { text: null, count: 0 };
  const r = redactBody(res.bodyText, opts);
  return { text: r.value, count: r.count };
}

export interface PrepareOptions extends RedactOptions {
  maxBytes?: number;
}

/** Redacts, then caps, one exchange's bodies. Pure. */
export function prepareBodies(requestId: string, exchange: Pick<Exchange, 'requestJson' | 'response'>, opts: PrepareOptions = {}): BodyRecord {
  const max = opts.maxBytes ?? MAX_BODY_BYTES;
  let redactions = 0;
  let requestBody: string | null = null;
  if (exchange.requestJson !== null && exchange.requestJson !== undefined) {
    const r = redactValue(exchange.requestJson, opts);
    redactions += r.count;
    requestBody = capText(JSON.stringify(r.value), max).text;
  }
  const res = redactedResponse(exchange.response, opts);
  redactions += res.count;
  let responseBody = res.text === null ? null : capText(res.text, max).text;
  if (responseBody !== null && exchange.response.truncated && !responseBody.endsWith(TRUNCATION_MARK)) responseBody += `\n${TRUNCATION_MARK}`;
  const bytes = (requestBody === null ? 0 : Buffer.byteLength(requestBody, 'utf8')) + (responseBody === null ? 0 : Buffer.byteLength(responseBody, 'utf8'));
  return { requestId, requestBody, responseBody, redactions, bytes };
}

export interface CaptureOffer {
  requestId: string;
  projectSlug: string;
  /** From attribution: the .haltonrc that named the project turns capture on. */
  haltonrcCapture?: boolean;
  exchange: Pick<Exchange, 'requestJson' | 'response'>;
}

export interface BodyCaptureOptions extends PrepareOptions {
  log?: Logger;
  /** Delay before queued offers are processed (ms); the request row is written within ~50 ms. */
  flushMs?: number;
  /** How long a project's setting is cached (ms). */
  settingTtlMs?: number;
  /** Ticks a body waits for its request row before it is dropped. */
  maxAttempts?: number;
  /** Offers held at most; beyond it new ones are dropped (capture is best effort). */
  maxQueue?: number;
  busyTimeoutMs?: number;
}

interface Pending {
  offer: CaptureOffer | null;
  body: BodyRecord | null;
  attempts: number;
}

export class BodyCapture {
  private readonly db: Db;
  private readonly opts: BodyCaptureOptions;
  private queue: Pending[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly settings = new Map<string, { value: string | null; at: number }>();
  private closed = false;
  written = 0;
  dropped = 0;

  constructor(db: Db, opts: BodyCaptureOptions = {}) {
    this.db = db;
    this.opts = opts;
  }

  /** O(1): queues references only. */
  offer(o: CaptureOffer): void {
    if (this.closed || this.db.readonly) return;
    // Known off (a fresh cached setting, no .haltonrc flag): the exchange is not even held.
    if (o.haltonrcCapture !== true) {
      const hit = this.settings.get(`${o.projectSlug}\0${CAPTURE_SETTING}`);
      if (hit && Date.now() - hit.at < (this.opts.settingTtlMs ?? 5000) && !settingOn(hit.value)) return;
    }
    if (this.queue.length >= (this.opts.maxQueue ?? 1000)) {
      this.dropped++;
      return;
    }
    this.queue.push({ offer: o, body: null, attempts: 0 });
    this.schedule();
  }

  /** Processes and writes what is queued now (shutdown: after the RowWriter has flushed). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.tick(true);
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.dropped += this.queue.length;
    this.queue = [];
  }

  private schedule(): void {
    if (this.timer || this.closed || this.queue.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.tick(false);
      this.schedule();
    }, this.opts.flushMs ?? 100);
    this.timer.unref();
  }

  private setting(slug: string, key = CAPTURE_SETTING): string | null {
    const now = Date.now();
    const id = `${slug}\0${key}`;
    const hit = this.settings.get(id);
    if (hit && now - hit.at < (this.opts.settingTtlMs ?? 5000)) return hit.value;
    const value = getProjectSetting(this.db, slug, key);
    this.settings.set(id, { value, at: now });
    if (this.settings.size > 10_000) this.settings.clear();
    return value;
  }

  private tick(final: boolean): void {
    const ready: Pending[] = [];
    try {
      if (!this.db.open) return;
      const work = this.queue;
      this.queue = [];
      for (const p of work) {
        if (p.offer) {
          const o = p.offer;
          p.offer = null; // the exchange is released whatever the decision
          if (!shouldCapture(o.haltonrcCapture, this.setting(o.projectSlug))) continue;
          const emails = this.opts.emails === true || settingOn(this.setting(o.projectSlug, EMAILS_SETTING));
          p.body = prepareBodies(o.requestId, o.exchange, { ...this.opts, emails });
        }
        if (p.body) ready.push(p);
      }
      if (ready.length === 0) return;
      const done = new Set(
        this.db.withBusyTimeout(final ? 5000 : (this.opts.busyTimeoutMs ?? 10), () => insertBodies(this.db, ready.map((p) => p.body as BodyRecord))),
      );
      for (const p of ready) {
        if (done.has(p.body!.requestId)) {
          this.written++;
          continue;
        }
        p.attempts++;
        if (p.attempts >= (this.opts.maxAttempts ?? 50)) {
          this.dropped++;
          this.opts.log?.warn('capture.dropped', { request_id: p.body!.requestId, reason: 'request row not written' });
        } else this.queue.push(p);
      }
    } catch (e) {
      // Busy or failing database: the prepared (already redacted) bodies are retried, a few times.
      this.opts.log?.warn('capture.write_failed', { error: errorMessage(e) });
      for (const p of ready) if (++p.attempts < (this.opts.maxAttempts ?? 50)) this.queue.push(p);
      else this.dropped++;
    }
  }
}
