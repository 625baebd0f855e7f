// `halton-meter selftest`: one request through the whole path; exits 0 and prints the path it proved.
import type { CliContext } from '../context.js';
import { runSelftest } from '../selftest-client.js';
import { CHECK } from '../output/style.js';

export async function selftestCommand(ctx: CliContext, opts: { json?: boolean }): Promise<number> {
  const r = await runSelftest(ctx);
  if (opts.json) ctx.out(JSON.stringify({ ok: true, row_id: r.rowId, request_id: r.requestId, ms: r.ms, path: r.path }));
  else ctx.out(`${ctx.style.ok(CHECK)} self-test passed in ${r.ms} ms: ${r.path}`);
  return 0;
}
