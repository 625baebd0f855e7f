// `halton-meter status [--json]`: CLI and daemon versions, install mode, every component with state
// and detail (collected by ../status-report.ts). Exit 0 when the meter is live (edge answers, daemon
// healthy); 1 when it is installed (or partly running) but not live; 3 when init never ran and
// nothing answers. When not live, one line on stderr says why and what to run.
import type { CliContext } from '../context.js';
import { collectStatus, notInstalled, notLiveLine, renderStatus, statusExitCode, statusJson } from '../status-report.js';

export async function statusCommand(ctx: CliContext, opts: { json?: boolean }): Promise<number> {
  const r = await collectStatus(ctx);
  const line = notLiveLine(r);
  if (opts.json) {
    ctx.out(JSON.stringify(statusJson(r), null, 2));
  } else if (!notInstalled(r)) {
    ctx.out(renderStatus(r, ctx.style));
  }
  if (line) ctx.err(line);
  return statusExitCode(r);
}
