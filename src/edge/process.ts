// `halton-meter edge`: the process systemd (or the process supervisor) keeps on the edge port.
// Everything it needs is imported statically here, so an `npm install -g` that replaces files on
// disk cannot break a running edge.
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../config/load.js';
import { mergeEffective, readEffectivePorts, updateEffectivePorts } from '../config/effective-ports.js';
import { isMeterError, errorMessage } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { VERSION } from '../core/version.js';
import { createEdge } from './server.js';

const args = process.argv.slice(3);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write('Usage: halton-meter edge\n\nRuns the edge proxy in the foreground (what the units run). Ports come from\n~/.halton-meter/config.toml and effective-ports.json.\n');
  process.exit(0);
}

function fail(e: unknown): never {
  const msg = isMeterError(e) ? `${e.message}${e.hint ? `\n  ${e.hint}` : ''}` : errorMessage(e);
  process.stderr.write(`halton-meter edge: ${msg}\n`);
  process.exit(1);
}

let config;
try {
  config = loadConfig({ env: process.env }).config;
} catch (e) {
  fail(e);
}
const cfg = config;
const log = createLogger({ component: 'edge', level: cfg.logLevel, file: cfg.paths.edgeLog });
const daemonPorts = (): { internal: number; api: number } => {
  const p = mergeEffective(cfg, readEffectivePorts(cfg.paths.effectivePorts));
  return { internal: p.internal, api: p.api };
};
const edge = createEdge({ upstream: { resolve: cfg.upstream.resolve, proxy: cfg.upstream.proxy }, daemonPorts, log, version: VERSION });

process.on('uncaughtException', (err) => {
  // The edge must keep serving: a bug in one connection's handling is logged, not fatal.
  log.error('edge.uncaught', { error: errorMessage(err) });
});

edge.server.once('error', (err: NodeJS.ErrnoException) => {
  log.error('edge.listen_failed', { port: cfg.ports.edge, error: err.code ?? err.message });
  fail(
    err.code === 'EADDRINUSE'
      ? new Error(`port ${cfg.ports.edge} on 127.0.0.1 is already in use; stop what holds it or set [daemon] edge_port in config.toml`)
      : err,
  );
});
edge.server.listen(cfg.ports.edge, '127.0.0.1', () => {
  const port = (edge.server.address() as AddressInfo).port;
  updateEffectivePorts(cfg.paths.effectivePorts, { edge_port: port }, 'edge');
  log.info('edge.startup.ready', { version: VERSION, port, pid: process.pid });
});

let stopping = false;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  log.info('edge.exit', { signal, stats: JSON.stringify(edge.stats) });
  edge.server.close();
  edge.server.closeAllConnections();
  void log.close().then(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
