// The files that send apps through the meter: ~/.halton-meter/env (sourceable) and, after
// `init --apps`, ~/.config/environment.d/60-halton-meter.conf. Each is compared with what init
// would write now. One that names another edge port than the one in force sends its apps nowhere
// (fail); any other difference (older version's header, a hand edit) is stale (warn).
import { existsSync } from 'node:fs';
import { clientEnv } from '../../service/env.js';
import { renderEnvFile } from '../../service/env-file.js';
import { environmentDPath, renderEnvironmentD } from '../../service/environment-d.js';
import { readText } from '../../service/files.js';
import { tilde } from '../steps.js';
import { initFix } from './facts.js';
import { fail, ok, warn, type Check, type CheckStatus } from './types.js';

/** The edge port an env text sends HTTPS_PROXY to, or null. */
export function proxyPortOf(text: string): number | null {
  const m = /^(?:export )?HTTPS_PROXY=['"]?http:\/\/(?:[^@\s'"]*@)?127\.0\.0\.1:(\d+)/m.exec(text);
  return m ? Number(m[1]) : null;
}

export const envFilesCheck: Check = {
  id: 'env-files',
  title: 'env files',
  run(f) {
    const { paths } = f.ctx.config;
    const vars = clientEnv(f.ctx.config, f.ports.edge);
    const files: Array<{ path: string; want: string }> = [{ path: paths.envFile, want: renderEnvFile(vars, f.deps.version) }];
    const envd = environmentDPath(paths);
    if (existsSync(envd)) {
      try {
        files.push({ path: envd, want: renderEnvironmentD(vars, f.deps.version) });
      } catch {
        files.push({ path: envd, want: '' });
      }
    }
    let status: CheckStatus = 'ok';
    const said: string[] = [];
    for (const { path, want } of files) {
      const where = tilde(path, paths.home);
      const text = readText(path);
      if (text === null) {
        if (status === 'ok') status = 'warn';
        said.push(`${where} is missing (. it from shells outside your session)`);
        continue;
      }
      if (text === want) {
        said.push(`${where} up to date`);
        continue;
      }
      const port = proxyPortOf(text);
      if (port !== f.ports.edge) {
        status = 'fail';
        said.push(`${where} sends HTTPS_PROXY to ${port === null ? 'no port' : `127.0.0.1:${port}`}, but the edge is on ${f.ports.edge}: apps using it are not metered`);
        continue;
      }
      if (status === 'ok') status = 'warn';
      const by = /^# halton-meter (\S+):/m.exec(text)?.[1];
      said.push(`${where} is stale (${by && by !== f.deps.version ? `written by halton-meter ${by}` : 'edited by hand?'})`);
    }
    if (!existsSync(envd)) said.push(`${tilde(envd, paths.home)} not written (init --apps makes your session's apps use the meter)`);
    const detail = said.join('; ');
    return status === 'ok' ? ok(detail) : status === 'warn' ? warn(detail, initFix(f)) : fail(detail, initFix(f));
  },
};
