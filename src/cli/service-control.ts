// What start, stop and restart share: the driver for the recorded install mode, and waiting for the
// components to answer afterwards.
import { MeterError } from '../core/errors.js';
import { ProcessDriver, SystemdDriver, type Driver } from '../service/drivers.js';
import { probeDaemon, probeEdge, waitUntil } from '../service/health.js';
import { readInstallMode } from '../service/install-mode.js';
import { Systemctl } from '../service/systemctl.js';
import type { CliContext } from './context.js';
import { serviceEnv, supervisorArgv } from './init-flow.js';
import { binPath } from './spawn.js';

/** The driver of the supervisor init installed the meter under; a clear error when init never ran. */
export function installedDriver(ctx: CliContext): Driver {
  const mode = readInstallMode(ctx.config.paths.installMode);
  if (mode === null) {
    throw new MeterError('not_found', 'halton-meter is not installed as a service on this machine', 'run: halton-meter init --apps');
  }
  return mode === 'systemd'
    ? new SystemdDriver(new Systemctl(ctx.env))
    : new ProcessDriver(ctx.config.paths, supervisorArgv({ node: process.execPath, bin: binPath() }), serviceEnv(ctx.env));
}

export interface Awaited {
  edge: boolean;
  daemon: { healthy: boolean; version: string | null; reason: string | null };
}

export async function awaitHealth(ctx: CliContext, want: { edge: boolean; daemon: boolean }, timeoutMs = 30_000): Promise<Awaited> {
  const ports = ctx.ports();
  let edge = !want.edge || (await probeEdge(ports.edge)).up;
  if (!edge) edge = await waitUntil(async () => (await probeEdge(ports.edge)).up, timeoutMs);
  let d = await probeDaemon(ports.api);
  if (want.daemon && !d.healthy) await waitUntil(async () => (d = await probeDaemon(ports.api)).healthy, timeoutMs);
  return { edge, daemon: { healthy: d.healthy, version: d.version, reason: d.reason } };
}
