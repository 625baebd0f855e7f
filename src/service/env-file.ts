// ~/.halton-meter/env: the proxy and CA variables as a file a shell can source (`. ~/.halton-meter/env`),
// for shells and scripts outside the systemd user session. Pure: returns text.
import { renderEnv } from './env.js';

export function renderEnvFile(vars: ReadonlyArray<readonly [string, string]>, version: string): string {
  return (
    `# halton-meter ${version}: proxy and CA variables for apps. Written by \`halton-meter init\`; source it:\n` +
    '#   . ~/.halton-meter/env\n' +
    renderEnv(vars.map(([k, v]) => [k, v] as [string, string]), 'bash')
  );
}
