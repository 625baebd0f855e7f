// `halton-meter init [--apps] [--non-interactive] [--clean] [--supervisor auto|systemd|process]`.
// The flow is in ../init-flow.ts; this file turns flags into options.
import type { CliContext } from '../context.js';
import { runInit, type InitOptions } from '../init-flow.js';
import { realDeps } from '../service-deps.js';

export async function initCommand(ctx: CliContext, opts: InitOptions): Promise<number> {
  const interactive = !opts.nonInteractive && process.stdin.isTTY === true && process.stdout.isTTY === true;
  const r = await runInit(ctx, opts, realDeps(ctx, interactive));
  return r.code;
}
