// The real InitDeps: this installation's node and bin, loopback probes, the self-test, a TTY prompt.
import { userInfo } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { VERSION } from '../core/version.js';
import { daemonPid, probeDaemon, probeEdge } from '../service/health.js';
import { systemPortProbe } from '../service/ports.js';
import type { CliContext } from './context.js';
import type { InitDeps } from './init-flow.js';
import { runSelftest } from './selftest-client.js';
import { binPath } from './spawn.js';

export function realDeps(ctx: CliContext, interactive: boolean): InitDeps {
  return {
    node: process.execPath,
    bin: binPath(),
    version: VERSION,
    user: ctx.env.USER || userInfo().username,
    probeEdge,
    probeDaemon,
    daemonPid,
    selftest: runSelftest,
    portProbe: systemPortProbe,
    healthTimeoutMs: 30_000,
    ask: interactive ? askYesNo : null,
  };
}

async function askYesNo(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const a = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(a.trim());
  } finally {
    rl.close();
  }
}
