// `halton-meter stop [--edge]`: stops the daemon only. The edge stays up and passes traffic through,
// so apps with HTTPS_PROXY keep working; `--edge` stops it too (apps then fail to connect).
import { MeterError } from '../../core/errors.js';
import { probeDaemon, probeEdge, waitUntil } from '../../service/health.js';
import type { CliContext } from '../context.js';
import { CHECK } from '../output/style.js';
import { installedDriver } from '../service-control.js';

export async function stopCommand(ctx: CliContext, opts: { edge?: boolean }): Promise<number> {
  const driver = installedDriver(ctx);
  const p = ctx.ports();
  await driver.stop('daemon');
  const down = await waitUntil(async () => !(await probeDaemon(p.api)).reachable, 30_000);
  if (!down) throw new MeterError('internal', `the daemon still answers on 127.0.0.1:${p.api}`, 'see: halton-meter status');
  if (opts.edge) {
    await driver.stop('edge');
    await waitUntil(async () => !(await probeEdge(p.edge)).up, 10_000);
    ctx.out(`${ctx.style.ok(CHECK)} stopped the daemon and the edge: apps with HTTPS_PROXY=http://127.0.0.1:${p.edge} cannot connect until: halton-meter start`);
    return 0;
  }
  const edge = await probeEdge(p.edge);
  ctx.out(
    `${ctx.style.ok(CHECK)} stopped the daemon; ${edge.up ? `the edge stays up on 127.0.0.1:${p.edge} and passes traffic through unmetered` : 'the edge is not running either'} (halton-meter start brings metering back)`,
  );
  return 0;
}
