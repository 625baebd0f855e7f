// `halton-meter uninstall [--purge] [--yes] [--graceful]`: the flow is in ../uninstall-flow.ts; this
// file decides whether a question can be asked (a terminal on both ends) and asks it.
import { createInterface } from 'node:readline/promises';
import type { CliContext } from '../context.js';
import { runUninstall, type UninstallOptions } from '../uninstall-flow.js';

async function askYesNo(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

export async function uninstallCommand(ctx: CliContext, opts: UninstallOptions): Promise<number> {
  const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true;
  return runUninstall(ctx, opts, { ask: interactive ? askYesNo : null });
}
