// The daemon's wiring root: CA, store, pricing, the intercepting listener, the API, and shutdown
// against a deadline. SIGTERM: stop accepting, let in-flight exchanges finish and write their rows,
// flush, log `daemon.exit`.
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import type { Config } from '../config/types.js';
import { updateEffectivePorts } from '../config/effective-ports.js';
import { createLogger, type Logger } from '../core/log.js';
import { MeterError, errorMessage } from '../core/errors.js';
import { interceptHostNames } from '../core/providers.js';
import { VERSION } from '../core/version.js';
import { ensureCa, LeafCache } from '../ca/index.js';
import { loadBundledTable } from '../pricing/index.js';
import { quoteExchange } from '../pricing/quote-exchange.js';
import { findRequestByProviderId, openDb, RowWriter } from '../store/index.js';
import { createApp } from './api/app.js';
import { serveDashboard } from './api/dashboard.js';
import { startQueryWorker } from './api/query-client.js';
import { resolveAttribution } from './attribution/index.js';
import { warmUpClientLookup } from './attribution/client-process.js';
import { meterExchange, type Pricer } from './meter.js';
import { BodyCapture } from './capture/index.js';
import { estimateInput, estimateUsage } from './estimate/index.js';
import { createInterceptServer } from './mitm/server.js';
import { upstreamCaList, upstreamTlsContext, UpstreamAgent } from './mitm/upstream-agent.js';
import { createSelftestServer } from './selftest.js';

/** How long a stopping daemon waits before closing idle keep-alive connections (see stop()). */
const IDLE_GRACE_MS = 1000;

export interface DaemonHandle {
  ports: { internal: number; api: number };
  stop(reason: string): Promise<void>;
}

export interface DaemonOptions {
  /** Milliseconds in-flight exchanges get to finish on shutdown. */
  drainMs?: number;
  log?: Logger;
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        err.code === 'EADDRINUSE'
          ? new MeterError('port_in_use', `port ${port} on 127.0.0.1 is already in use`, 'stop what holds it, or set another port in config.toml [daemon], then retry')
          : err,
      );
    };
    server.once('error', onError);
    server.listen(port, '127.0.0.1', () => {
      server.removeListener('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function startDaemon(config: Config, opts: DaemonOptions = {}): Promise<DaemonHandle> {
  const log = opts.log ?? createLogger({ component: 'daemon', level: config.logLevel, file: config.paths.daemonLog });
  const startedAt = new Date().toISOString();
  const started = Date.now();

  const { ca, created } = await ensureCa(config.paths.caDir);
  if (created) log.info('ca.created', { dir: config.paths.caDir });
  const leaves = new LeafCache(ca);
  warmUpClientLookup();

  const db = openDb(config.paths.db);
  if (db.newerThanCode) log.warn('store.newer_schema', { path: config.paths.db, hint: 'upgrade halton-meter: this database was written by a newer version' });
  const writer = new RowWriter(db, {
    onEvent: (event, fields) => log.log(event === 'store.write_failed' ? 'warn' : 'debug', event, fields as Record<string, string | number | null>),
  });

  // Opt-in, per project; off unless .haltonrc or project_settings turn it on (docs/body-capture.md).
  const capture = new BodyCapture(db, { log });

  const table = loadBundledTable();
  const price: Pricer = (x) => quoteExchange(table, config.pricing.overrides, x);

  const extraCa = config.upstream.caFile ? readFileSync(config.upstream.caFile, 'utf8') : null;
  const upstreamCa = upstreamCaList(extraCa);
  const route = { resolve: config.upstream.resolve, proxy: config.upstream.proxy };
  const upstreamTls = upstreamTlsContext(upstreamCa);
  const agent = new UpstreamAgent(route, upstreamTls);

  const inFlight = new Set<Promise<void>>();
  // Batch ids metered by this process, before their rows reach the database.
  const batchesSeen = new Map<string, string>();
  const stats = { intercepted: 0, passthrough: 0, tlsFailures: 0 };
  let passthroughRequests = 0;
  let lastSeenAt: string | null = null;
  const recent: number[] = [];
  let draining = false;

  const selftest = createSelftestServer();
  const selftestPort = await listen(selftest, 0);

  const { server: intercept, inner } = createInterceptServer({
    agent,
    injectIncludeUsage: config.metering.openaiStreamUsage === 'inject',
    draining: () => draining,
    inFlight: {
      add(p) {
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
      },
    },
    onPassthroughRequest: () => {
      passthroughRequests++;
    },
    onFinished: (f) => {
      lastSeenAt = new Date().toISOString();
      recent.push(Date.now());
      return meterExchange(f, {
        price,
        enqueue: (row) => {
          if (row.requestKind === 'batch_results' && row.providerRequestId && !batchesSeen.has(row.providerRequestId)) batchesSeen.set(row.providerRequestId, row.id);
          writer.enqueue(row);
        },
        log,
        attributionTimeoutMs: 2000,
        earlierBatchRow: (id) => {
          return batchesSeen.get(id) ?? findRequestByProviderId(db, id, 'batch_results');
        },

        estimate: (exchange, model) => estimateUsage(estimateInput(exchange.requestJson, exchange.response.events ?? [], model)),
        defaultProject: config.tagging.defaultProject,
        captureBodies: (offer) => capture.offer(offer),
      }).then(
        () => undefined,
        (err) => log.error('meter.failed', { error: errorMessage(err) }),
      );
    },
    secureContext: (host) => leaves.getSecureContext(host),
    upstream: route,
    upstreamTls,
    log,
    attribute: (proxyUser, client) =>
      resolveAttribution({ proxyUser, client }, { defaultProject: config.tagging.defaultProject, ownPid: process.pid }),
    selftestPort: () => selftestPort,
    stats,
    edgePort: config.ports.edge,
  });

  const interceptHosts = interceptHostNames();
  const query = startQueryWorker({ dbPath: config.paths.db, overrides: config.pricing.overrides });
  const api = createHttpServer(
    createApp({
      version: VERSION,
      startedAt,
      interceptHosts,
      query,
      corsOrigins: config.cors.allowOrigins,
      dashboard: serveDashboard,
      health: () => {
        if (draining) return { ok: false, reason: 'shutting down' };
        if (!intercept.listening) return { ok: false, reason: 'intercepting listener not bound' };
        if (db.newerThanCode) return { ok: false, reason: 'database written by a newer halton-meter (read-only)' };
        // Only a database that refuses every row stops the daemon. A lock held by another process or a
        // full disk is ridden out with the rows held in memory (bounded, overflow counted): going
        // unhealthy then would send new connections through the edge unmetered and uncounted.
        // status() shows the failing writes (write_failing, last_write_error).
        if (writer.refusing) return { ok: false, reason: `database not writable: ${writer.lastError ?? 'unknown'}` };
        return { ok: true, reason: null };
      },
      status: () => {
        const hourAgo = Date.now() - 3_600_000;
        while (recent.length && recent[0] < hourAgo) recent.shift();
        return {
          last_seen_at: lastSeenAt,
          request_count_last_hour: recent.length,
          uptime_s: Math.round((Date.now() - started) / 1000),
          version: VERSION,
          rows_written: writer.rowsWritten,
          rows_failed: writer.rowsFailed,
          rows_lost_by_reason: writer.rowsLostByReason,
          rows_queued: writer.queued,
          write_failing: writer.failing,
          last_write_error: writer.lastError,
          passthrough_connections: stats.passthrough,
          intercepted_connections: stats.intercepted,
          passthrough_requests: passthroughRequests,
          tls_failures: stats.tlsFailures,
          in_flight: inFlight.size,
          pid: process.pid,
        };
      },
    }),
  );
  api.keepAliveTimeout = 5000;

  let internalPort: number;
  let apiPort: number;
  try {
    internalPort = await listen(intercept, config.ports.internal);
    apiPort = await listen(api, config.ports.api);
  } catch (err) {
    intercept.close();
    void query.close();
    selftest.close();
    writer.close();
    capture.close();
    db.close();
    throw err;
  }
  try {
    updateEffectivePorts(config.paths.effectivePorts, { internal_port: internalPort, api_port: apiPort }, 'daemon');
  } catch (err) {
    // A full disk (or a read-only data dir) must not keep the daemon down: the file only tells the
    // edge where we listen, and it usually says so already. Down, nothing is metered; up, rows wait
    // in memory until the disk has room, and what cannot wait is counted (issue 6: a daemon restarted
    // on a full disk crash-looped here).
    log.warn('daemon.effective_ports_failed', { path: config.paths.effectivePorts, error: errorMessage(err) });
  }

  const heartbeat = setInterval(() => {
    log.info('daemon.heartbeat', {
      rows_written: writer.rowsWritten,
      rows_failed: writer.rowsFailed,
      rows_lost_by_reason: JSON.stringify(writer.rowsLostByReason),
      intercepted_connections: stats.intercepted,
      passthrough_connections: stats.passthrough,
      in_flight: inFlight.size,
      rss_mb: Math.round(process.memoryUsage().rss / 1048576),
    });
  }, 60_000);
  heartbeat.unref();

  log.info('daemon.startup.ready', { version: VERSION, internal_port: internalPort, api_port: apiPort, pid: process.pid, db: config.paths.db });

  let stopping: Promise<void> | null = null;
  const stop = (reason: string): Promise<void> => {
    if (stopping) return stopping;
    stopping = (async () => {
      draining = true;
      log.info('daemon.stopping', { reason, in_flight: inFlight.size });
      clearInterval(heartbeat);
      // Refuse new connections first: the edge then sends new traffic straight through. Open
      // keep-alive connections keep being served (each answer says Connection: close) until the
      // in-flight exchanges are done; closing them earlier would race requests already on the wire.
      intercept.close();
      const deadline = Date.now() + (opts.drainMs ?? 20_000);
      const settle = async (until = deadline): Promise<void> => {
        while (inFlight.size > 0 && Date.now() < until) {
          await Promise.race([Promise.allSettled([...inFlight]), new Promise((r) => setTimeout(r, 100))]);
        }
      };
      await settle();
      // A keep-alive client that had an answer just before the drain (so without Connection: close)
      // sends its next request within moments; closing its idle connection now would race that
      // request, and the client would see "other side closed" on a POST it cannot retry (issue 6,
      // restart loop under load). A moment of grace lets the request arrive, be answered with
      // Connection: close, and the client leave by itself.
      const grace = Math.min(IDLE_GRACE_MS, deadline - Date.now());
      if (grace > 0) await new Promise((r) => setTimeout(r, grace));
      await settle();
      inner.closeIdleConnections();
      await new Promise((r) => setTimeout(r, 50));
      await settle();
      const unfinished = inFlight.size;
      inner.closeAllConnections();
      intercept.closeAllConnections();
      // Exchanges cut here still end as one (aborted) row each: let their metering queue it before the
      // writer's last flush, instead of losing it uncounted after daemon.exit.
      await settle(Date.now() + 3000);
      api.closeAllConnections();
      api.close();
      await query.close();
      selftest.close();
      agent.destroy();
      writer.close();
      capture.close();
      db.close();
      log.info('daemon.exit', {
        reason,
        rows_written: writer.rowsWritten,
        rows_failed: writer.rowsFailed,
        rows_lost_by_reason: JSON.stringify(writer.rowsLostByReason),
        unfinished,
      });
      await log.close();
    })();
    return stopping;
  };

  return { ports: { internal: internalPort, api: apiPort }, stop };
}
