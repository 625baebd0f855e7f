// What every command gets: the validated config, the effective ports and output streams. Built once
// in main.ts; commands never read process.env themselves.
import { loadConfig } from '../config/load.js';
import { mergeEffective, readEffectivePorts } from '../config/effective-ports.js';
import type { Config, Ports } from '../config/types.js';
import { makeStyle, type Style } from './output/style.js';

export interface CliContext {
  config: Config;
  /** Ports actually bound (effective-ports.json), falling back to the configured ones. */
  ports: () => Ports;
  env: Readonly<Record<string, string | undefined>>;
  out: (text: string) => void;
  err: (text: string) => void;
  style: Style;
}

export function makeContext(env: NodeJS.ProcessEnv): CliContext {
  const { config, warnings } = loadConfig({ env });
  const err = (t: string): void => {
    process.stderr.write(t.endsWith('\n') ? t : t + '\n');
  };
  for (const w of warnings) err(`halton-meter: warning: ${w}`);
  return {
    config,
    ports: () => mergeEffective(config, readEffectivePorts(config.paths.effectivePorts)),
    env,
    out: (t) => {
      process.stdout.write(t.endsWith('\n') ? t : t + '\n');
    },
    err,
    style: makeStyle(process.stdout.isTTY === true, env),
  };
}
