// `halton-meter restart [--edge]`: restarts the daemon (the edge passes traffic through meanwhile);
// `--edge` restarts the edge too, which drops the connections open through it.
import { MeterError } from '../../core/errors.js';
import type { CliContext } from '../context.js';
import { CHECK } from '../output/style.js';
import { awaitHealth, installedDriver } from '../service-control.js';

export async function restartCommand(ctx: CliContext, opts: { edge?: boolean }): Promise<number> {
  const driver = installedDriver(ctx);
  if (opts.edge) await driver.restart('edge');
  await driver.restart('daemon');
  const h = await awaitHealth(ctx, { edge: true, daemon: true });
  const p = ctx.ports();
  if (!h.edge) throw new MeterError('daemon_unreachable', `the edge is not up on 127.0.0.1:${p.edge}`, 'see: halton-meter logs --component edge');
  if (!h.daemon.healthy) throw new MeterError('daemon_unreachable', `the daemon is not healthy after the restart: ${h.daemon.reason}`, 'see: halton-meter logs --component daemon');
  ctx.out(`${ctx.style.ok(CHECK)} restarted the daemon${opts.edge ? ' and the edge' : ''} (${driver.mode}); halton-meter ${h.daemon.version} healthy on 127.0.0.1:${p.api}`);
  return 0;
}
