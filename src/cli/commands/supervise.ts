// `halton-meter supervise` (internal): the process supervisor, started detached by init/start when
// install-mode is "process". The loop is src/service/process-supervisor.ts.
import { join } from 'node:path';
import { createLogger } from '../../core/log.js';
import { VERSION } from '../../core/version.js';
import { runSupervisor } from '../../service/process-supervisor.js';
import type { CliContext } from '../context.js';
import { binPath } from '../spawn.js';

export async function superviseCommand(ctx: CliContext): Promise<number> {
  const log = createLogger({ component: 'supervisor', level: ctx.config.logLevel, file: join(ctx.config.paths.dataDir, 'supervisor.log') });
  const code = await runSupervisor({
    paths: ctx.config.paths,
    ports: ctx.config.ports,
    version: VERSION,
    node: process.execPath,
    bin: binPath(),
    env: ctx.env,
    log,
  });
  await log.close();
  // Children are detached and keep running; nothing else should keep this process alive.
  process.exit(code);
}
