// ~/.config/environment.d/60-halton-meter.conf (init --apps): the same variables for everything the
// systemd user manager starts, and for graphical sessions, from the next login on. Pure: returns text.
// Format (environment.d(5)): KEY=VALUE lines; `$` would start an expansion and quotes are parsed, so
// plain values are written bare and anything else double-quoted with `\`, `"` and `$` escaped.
import { join } from 'node:path';
import type { Paths } from '../config/types.js';
import { MeterError } from '../core/errors.js';

export const ENVIRONMENT_D_FILE = '60-halton-meter.conf';

export function environmentDPath(paths: Paths): string {
  return join(paths.environmentDir, ENVIRONMENT_D_FILE);
}

function value(v: string): string {
  if (/[\n\r]/.test(v)) throw new MeterError('bad_config', `cannot write a value with a line break to environment.d: ${JSON.stringify(v)}`);
  return /^[A-Za-z0-9_@%+=:,./-]*$/.test(v) ? v : `"${v.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}

export function renderEnvironmentD(vars: ReadonlyArray<readonly [string, string]>, version: string): string {
  return (
    `# halton-meter ${version}: apps started by your user session go through the meter (HTTPS_PROXY) and\n` +
    '# trust its CA. Written by `halton-meter init --apps`; removed by `halton-meter uninstall`.\n' +
    vars.map(([k, v]) => `${k}=${value(v)}`).join('\n') +
    '\n'
  );
}
