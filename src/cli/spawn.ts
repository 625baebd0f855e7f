// Starting the meter's own processes from the CLI: the bin path, and a detached start for `run`.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** bin/halton-meter.js of this installation (dist/src/cli/spawn.js -> ../../../bin). */
export function binPath(): string {
  return fileURLToPath(new URL('../../../bin/halton-meter.js', import.meta.url));
}

export function spawnComponent(component: 'edge' | 'daemon', env: NodeJS.ProcessEnv, opts: { detached: boolean; stdio: StdioOptions }): ChildProcess {
  return spawn(process.execPath, [binPath(), component], { env, detached: opts.detached, stdio: opts.stdio });
}
