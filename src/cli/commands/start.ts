// `halton-meter start`: start what is down (edge and daemon) under the installed supervisor.
import { MeterError } from '../../core/errors.js';
import type { CliContext } from '../context.js';
import { CHECK } from '../output/style.js';
import { awaitHealth, installedDriver } from '../service-control.js';

export async function startCommand(ctx: CliContext): Promise<number> {
  const driver = installedDriver(ctx);
  await driver.start(['edge', 'daemon']);
  const h = await awaitHealth(ctx, { edge: true, daemon: true });
  const p = ctx.ports();
  if (!h.edge) throw new MeterError('daemon_unreachable', `the edge did not come up on 127.0.0.1:${p.edge}`, 'see: halton-meter logs --component edge');
  if (!h.daemon.healthy) {
    throw new MeterError('daemon_unreachable', `the daemon is not healthy: ${h.daemon.reason}; traffic passes through unmetered`, 'see: halton-meter logs --component daemon');
  }
  ctx.out(`${ctx.style.ok(CHECK)} halton-meter ${h.daemon.version} running (${driver.mode}): edge 127.0.0.1:${p.edge}, daemon API 127.0.0.1:${p.api}`);
  return 0;
}
