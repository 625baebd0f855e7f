// One request through the edge to the self-test host, when the edge and the daemon both answer:
// proves the whole path (edge -> daemon -> TLS with the meter's CA -> adapter -> SQLite) and leaves
// one row in the self-test project, as `halton-meter selftest` does.
import { existsSync } from 'node:fs';
import { caPaths } from '../../ca/index.js';
import { errorMessage } from '../../core/errors.js';
import { fail, ok, type Check } from './types.js';

export const selftestCheck: Check = {
  id: 'selftest',
  title: 'self-test',
  async run(f) {
    if (!f.edge.up || !f.daemon.healthy || !existsSync(caPaths(f.ctx.config.paths.caDir).certPem)) return null;
    try {
      const r = await f.deps.selftest(f.ctx);
      return ok(`row ${r.rowId} written in ${r.ms} ms (edge 127.0.0.1:${f.ports.edge} -> daemon -> SQLite)`);
    } catch (e) {
      const hint = (e as { hint?: string }).hint;
      return fail(`${errorMessage(e)}${hint ? ` (${hint})` : ''}: calls are not metered`, f.fixes.logs('daemon'));
    }
  },
};
