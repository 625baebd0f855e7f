// The bounded observer behind the tap (STYLE §2): it sees a copy of every response chunk, decodes
// the copy when the body is compressed, and keeps either SSE events or the JSON text up to a cap.
// Nothing here can slow or alter what the client receives: errors only mark the observation as
// incomplete.
import { constants, createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Transform } from 'node:stream';
import type { SseEvent } from '../../core/exchange.js';
import { SseSplitter } from '../../adapters/sse.js';

type Decoder = Transform;

export interface ObserverOptions {
  contentType: string;
  contentEncoding: string;
  /** Bytes of decoded JSON text kept (default 8 MiB). */
  maxBodyBytes?: number;
  /** Bytes of SSE event data kept before only usage/error events are (default 16 MiB). */
  maxEventBytes?: number;
}

export interface Observation {
  bodyText: string | null;
  events: SseEvent[] | null;
  truncated: boolean;
  /** Decoding failed (corrupt gzip, unknown encoding): nothing trustworthy to parse. */
  undecodable: string | null;
}

export function isEventStream(contentType: string): boolean {
  return contentType.toLowerCase().includes('text/event-stream');
}

export class ResponseObserver {
  private readonly sse: SseSplitter | null;
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private truncated = false;
  private undecodable: string | null = null;
  private readonly decoder: Decoder | null;
  private readonly maxBody: number;
  private decoderDone: Promise<void> = Promise.resolve();

  constructor(opts: ObserverOptions) {
    this.maxBody = opts.maxBodyBytes ?? 8 * 1024 * 1024;
    this.sse = isEventStream(opts.contentType) ? new SseSplitter(opts.maxEventBytes ?? 16 * 1024 * 1024) : null;
    const decoder = makeDecoder(opts.contentEncoding);
    if (decoder === undefined) this.undecodable = `unsupported content-encoding ${opts.contentEncoding}`;
    this.decoder = decoder ?? null;
    const dec = this.decoder;
    if (dec) {
      this.decoderDone = new Promise<void>((resolve) => {
        dec.on('data', (d: Buffer) => this.sink(d));
        dec.on('end', () => resolve());
        dec.on('error', (err) => {
          this.undecodable = `could not decode body: ${err.message}`;
          resolve();
        });
      });
    }
  }

  /** Called by the tap for every chunk, synchronously; must stay cheap. */
  write(chunk: Buffer): void {
    if (this.undecodable) return;
    if (this.decoder) this.decoder.write(chunk);
    else this.sink(chunk);
  }

  /** The body is over (or cut short): flush decoders and return what was seen. */
  async finish(): Promise<Observation> {
    if (this.decoder && !this.undecodable) {
      this.decoder.end();
      await this.decoderDone;
    }
    if (this.undecodable) {
      // What was decoded before the error depends on where the chunks were cut: none of it is kept.
      return { bodyText: null, events: this.sse ? [] : null, truncated: false, undecodable: this.undecodable };
    }
    if (this.sse) {
      this.sse.end();
      return { bodyText: null, events: this.sse.events, truncated: this.sse.truncated || this.truncated, undecodable: null };
    }
    return { bodyText: Buffer.concat(this.chunks, this.size).toString('utf8'), events: null, truncated: this.truncated, undecodable: null };
  }

  private sink(decoded: Buffer): void {
    if (this.sse) {
      this.sse.feed(decoded);
      return;
    }
    // Once over the cap nothing more is kept: what is kept stays a prefix of the body, exactly
    // maxBody bytes of it, so it does not depend on how the body happened to be chunked.
    if (this.truncated) return;
    const room = this.maxBody - this.size;
    if (decoded.length > room) {
      if (room > 0) this.chunks.push(decoded.subarray(0, room));
      this.size += Math.max(0, room);
      this.truncated = true;
      return;
    }
    this.chunks.push(decoded);
    this.size += decoded.length;
  }
}

/** null = identity; undefined = an encoding we cannot decode. */
function makeDecoder(encoding: string): Decoder | null | undefined {
  const e = encoding.trim().toLowerCase();
  if (e === '' || e === 'identity') return null;
  // Stream-friendly flushing so a cut-off body still yields what arrived.
  if (e === 'gzip' || e === 'x-gzip') return createGunzip({ finishFlush: constants.Z_SYNC_FLUSH });
  if (e === 'deflate') return createInflate({ finishFlush: constants.Z_SYNC_FLUSH });
  if (e === 'br') return createBrotliDecompress({ finishFlush: constants.BROTLI_OPERATION_FLUSH });
  return undefined;
}
