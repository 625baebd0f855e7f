// Forward one decrypted request upstream and stream the answer back through a tap (STYLE §2):
// pipeline(upstream, tap, client). The tap passes every chunk on unchanged and hands a copy to the
// bounded observer; pipeline carries aborts and back-pressure. Metering happens after the last byte.
import type { Agent } from 'node:https';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type Agent as HttpAgent, type IncomingMessage, type ServerResponse } from 'node:http';
import { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream';
import type { Exchange, Outcome } from '../../core/exchange.js';
import type { RequestKind } from '../../core/parsed.js';
import type { MeteredHost } from '../../core/providers.js';
import type { Adapter } from '../../adapters/types.js';
import type { Attribution } from '../attribution/index.js';
import type { FinishedExchange } from '../meter.js';
import { requestStreams } from '../meter.js';
import { flatten, forwardableRawHeaders, headerMap } from './headers.js';
import { isEventStream, ResponseObserver } from './observer.js';
import { InjectedUsageStripper, injectIncludeUsage, MAX_INJECT_BODY } from './usage-injection.js';
import { h1RequestRawHeaders, h2ResponseHeaders } from './h2-headers.js';

// HTTP/2 (h2.ts): an h2 stream arrives as Node's compatibility request/response, which mimic the
// HTTP/1.1 ones closely enough to share this path; the few differences are marked "HTTP/2" below.
type ClientRequestIn = IncomingMessage | Http2ServerRequest;
type ClientResponseOut = ServerResponse | Http2ServerResponse;

/** Request bodies are copied for the model name and stream flag only, up to this size. */
const MAX_REQUEST_CAPTURE = 2 * 1024 * 1024;

export interface ConnContext {
  host: string;
  port: number;
  metered: MeteredHost;
  attribution: Promise<Attribution>;
  /** Whether the attribution lookup has finished (the promise has settled). */
  attributionSettled: () => boolean;
  /** Answered in-process over loopback HTTP instead of the internet (the self-test host). */
  local: { port: number; agent: HttpAgent } | null;
}

export interface ForwardDeps {
  agent: Agent;
  /** True while the daemon drains for shutdown: answer, then close the connection. */
  draining: () => boolean;
  /** Meters the exchange; the daemon's drain waits for the returned promise (the row is queued by then). */
  onFinished: (f: FinishedExchange) => Promise<void>;
  onPassthroughRequest: () => void;
  inFlight: { add(p: Promise<void>): void };
  /** [metering] openai_stream_usage = "inject": ask OpenAI chat streams for usage (usage-injection.ts). */
  injectIncludeUsage: boolean;
}

export interface Match {
  adapter: Adapter;
  kind: RequestKind;
}

/**
 * How long the last byte of a response may wait for the client-process lookup of its connection.
 * Only the first exchange on a fresh connection can wait (later ones find the lookup done), and
 * only this long: it is what lets a client that exits right after its answer (curl) still be
 * attributed, because it cannot exit before it has the whole response.
 */
const ATTRIBUTION_GRACE_MS = 150;

class Tap extends Transform {
  firstByteAt: number | null = null;
  private seen = 0;
  private held: Buffer | null = null;
  constructor(
    private readonly observer: ResponseObserver | null,
    private readonly holdEnd: (() => Promise<void>) | null,
    /** Content-Length of the response: with it, the client has the whole body at its last byte, so that byte is the one held. */
    private readonly expectedLength: number | null,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.firstByteAt === null) this.firstByteAt = performance.now();
    if (this.observer) {
      try {
        this.observer.write(chunk);
      } catch {
        // The observer is best-effort; the client's bytes are not.
      }
    }
    this.seen += chunk.length;
    if (this.holdEnd && this.expectedLength !== null && this.seen >= this.expectedLength && chunk.length > 0) {
      this.held = chunk.subarray(chunk.length - 1);
      cb(null, chunk.length > 1 ? chunk.subarray(0, chunk.length - 1) : undefined);
      return;
    }
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    const release = (): void => cb(null, this.held ?? undefined);
    if (!this.holdEnd) return release();
    this.holdEnd().then(release, release);
  }
}

class RequestCopy extends Transform {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  overflow = false;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (!this.overflow) {
      if (this.size + chunk.length > MAX_REQUEST_CAPTURE) {
        this.overflow = true;
        this.chunks.length = 0;
      } else {
        this.chunks.push(chunk);
        this.size += chunk.length;
      }
    }
    cb(null, chunk);
  }
  json(): unknown {
    if (this.overflow || this.size === 0) return null;
    try {
      return JSON.parse(Buffer.concat(this.chunks, this.size).toString('utf8'));
    } catch {
      return null;
    }
  }
}

/** Body rewrites prepared before the request goes upstream. */
interface Prepared {
  /** The whole request body, already read (null: stream it from the client as it comes). */
  body: Buffer | null;
  /** The body sent upstream differs from the client's: include_usage was added. */
  injected: boolean;
}

export function forwardRequest(req: ClientRequestIn, res: ClientResponseOut, ctx: ConnContext, match: Match | null, deps: ForwardDeps): void {
  const length = Number(req.headers['content-length'] ?? NaN);
  const candidate =
    deps.injectIncludeUsage &&
    match?.adapter.id === 'openai-chat' &&
    req.method === 'POST' &&
    Number.isFinite(length) &&
    length > 0 &&
    length <= MAX_INJECT_BODY;
  if (!candidate) {
    send(req, res, ctx, match, deps, { body: null, injected: false });
    return;
  }
  // Only bodies with a known, bounded length are read whole: the rewrite needs the complete JSON.
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.once('end', () => {
    const body = Buffer.concat(chunks);
    const rewritten = injectIncludeUsage(body);
    send(req, res, ctx, match, deps, rewritten ? { body: rewritten, injected: true, original: body } : { body, injected: false });
  });
  req.once('error', () => res.destroy());
}

function send(req: ClientRequestIn, res: ClientResponseOut, ctx: ConnContext, match: Match | null, deps: ForwardDeps, prep: Prepared & { original?: Buffer }): void {
  const started = performance.now();
  const requestedAt = new Date();
  const method = req.method ?? 'GET';
  const path = req.url ?? '/';
  res.sendDate = false;
  // HTTP/2 drains with GOAWAY instead (h2.ts).
  if (deps.draining() && !(res instanceof Http2ServerResponse)) res.shouldKeepAlive = false;
  if (!match) deps.onPassthroughRequest();

  // HTTP/2: pseudo-headers become the request line and Host (h2-headers.ts).
  const rawIn = req instanceof Http2ServerRequest ? h1RequestRawHeaders(req.rawHeaders) : req.rawHeaders;
  let pairs = forwardableRawHeaders(rawIn, { meteredAcceptEncoding: match !== null });
  if (prep.body) {
    // The stripper reads plain SSE, so an injected request asks for an uncompressed answer.
    pairs = pairs.filter(([k]) => k.toLowerCase() !== 'content-length' && !(prep.injected && k.toLowerCase() === 'accept-encoding'));
    pairs.push(['Content-Length', String(prep.body.length)]);
  }
  const headers = flatten(pairs);
  const upReq = ctx.local
    ? httpRequest({ host: '127.0.0.1', port: ctx.local.port, method, path, headers, agent: ctx.local.agent, setHost: false })
    : httpsRequest({ host: ctx.host, port: ctx.port, method, path, headers, agent: deps.agent, servername: ctx.host, setHost: false });
  const copy = match && !prep.body ? new RequestCopy() : null;

  let settle!: () => void;
  const done = new Promise<void>((resolve) => (settle = resolve));
  deps.inFlight.add(done);
  let finished = false;
  const finish = (outcome: Outcome, failure: string | null, status: number, resHeaders: Record<string, string>, observer: ResponseObserver | null, tap: Tap | null): void => {
    if (finished) return;
    finished = true;
    if (!match) {
      settle();
      return;
    }
    const latencyMs = Math.round(performance.now() - started);
    const ttfbMs = tap?.firstByteAt != null ? Math.round(tap.firstByteAt - started) : null;
    void (async () => {
      const obs = observer ? await observer.finish() : null;
      const requestJson = prep.body ? parseJson(prep.original ?? prep.body) : (copy?.json() ?? null);
      const exchange: Exchange = {
        host: ctx.host,
        method,
        path,
        requestJson,
        response: {
          status,
          headers: resHeaders,
          bodyText: obs?.bodyText ?? null,
          events: obs?.events ?? null,
          truncated: obs?.truncated ?? false,
          outcome,
        },
      };
      await deps.onFinished({
        exchange,
        metered: ctx.metered,
        adapter: match.adapter,
        kind: match.kind,
        outcome,
        failure,
        // SSE, a request that asked to stream, or Gemini's streamed JSON array (no SSE, no flag).
        stream: obs?.events != null || requestStreams(requestJson) || path.includes(':streamGenerateContent'),
        requestedAt,
        latencyMs,
        ttfbMs,
        attribution: ctx.attribution,
        undecodable: obs?.undecodable ?? null,
      });
    })().finally(settle);
  };

  upReq.on('response', (ures: IncomingMessage) => {
    const status = ures.statusCode ?? 0;
    const resHeaders = headerMap(ures.rawHeaders);
    const outPairs = forwardableRawHeaders(ures.rawHeaders, { meteredAcceptEncoding: false });
    try {
      // HTTP/2 has no reason phrase, and its response takes headers as an object.
      if (res instanceof Http2ServerResponse) res.writeHead(status, h2ResponseHeaders(outPairs));
      else res.writeHead(status, ures.statusMessage, flatten(outPairs));
    } catch {
      // Headers the client side refuses (invalid characters): nothing sane to forward.
      res.destroy();
      ures.destroy();
      finish('failed', 'bad_upstream_headers', status, resHeaders, null, null);
      return;
    }
    const observer = match
      ? new ResponseObserver({ contentType: resHeaders['content-type'] ?? '', contentEncoding: resHeaders['content-encoding'] ?? '' })
      : null;
    const holdEnd =
      match && !ctx.attributionSettled()
        ? () =>
            new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, ATTRIBUTION_GRACE_MS);
              void ctx.attribution.finally(() => {
                clearTimeout(timer);
                resolve();
              });
            })
        : null;
    const declared = Number(resHeaders['content-length'] ?? NaN);
    const tap = new Tap(observer, holdEnd, Number.isFinite(declared) && declared > 0 ? declared : null);
    let clientGone = false;
    res.once('close', () => {
      // HTTP/2: a reset stream reads writableFinished; the client left if the upstream had not
      // ended or failed first (an upstream failure destroys ures before the stream closes).
      if (res instanceof Http2ServerResponse) {
        if (!ures.complete && !ures.destroyed) clientGone = true;
      } else if (!res.writableFinished) clientGone = true;
    });
    const done = (err: Error | null | undefined): void => {
      if (!err && ures.complete) finish('completed', null, status, resHeaders, observer, tap);
      else finish('aborted', clientGone ? 'client_aborted' : 'upstream_aborted', status, resHeaders, observer, tap);
    };
    const stripping = prep.injected && isEventStream(resHeaders['content-type'] ?? '') && !resHeaders['content-encoding'];
    if (stripping) pipeline(ures, tap, new InjectedUsageStripper(), res, done);
    else pipeline(ures, tap, res, done);
  });

  // Set when the client goes away before the answer has started (see the 'close' listener below):
  // the upstream error that follows is our own destroy(), not the upstream's failure.
  let leftBeforeAnswer = false;
  upReq.on('error', (err: NodeJS.ErrnoException) => {
    if (res.headersSent) return; // pipeline reports mid-body failures.
    const clientGone = leftBeforeAnswer || (req.destroyed && !req.complete);
    if (!clientGone && !res.destroyed) {
      const body = JSON.stringify({
        error: { type: 'upstream_unreachable', message: `halton-meter: cannot reach ${ctx.host}:${ctx.port} (${err.code ?? err.message})` },
      });
      if (!(res instanceof Http2ServerResponse)) res.shouldKeepAlive = false;
      res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-halton-meter-error': 'upstream_unreachable' });
      res.end(body);
    }
    finish(clientGone ? 'aborted' : 'failed', clientGone ? 'client_aborted' : 'upstream_unreachable', 0, {}, null, null);
  });

  // The client leaving before the response started: stop the upstream request too.
  res.once('close', () => {
    if (res.headersSent) return;
    leftBeforeAnswer = true;
    upReq.destroy();
  });

  // Not pipeline(): it would destroy the client's socket when the upstream fails, and the client is
  // owed a 502 on that socket.
  req.on('error', () => upReq.destroy());
  upReq.on('error', () => req.unpipe());
  if (prep.body) upReq.end(prep.body);
  else if (copy) req.pipe(copy).pipe(upReq);
  else req.pipe(upReq);
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
}

export function eventStreamHeaders(contentType: string): boolean {
  return isEventStream(contentType);
}
