// config.toml: loaded and validated the way every process loads it. A file that does not load is a
// failure (the daemon refuses to start with it); warnings (unknown keys, ignored values) are "off".
import { existsSync } from 'node:fs';
import { tilde } from '../steps.js';
import { fail, manual, ok, warn, type Check, type CheckResult } from './types.js';

export const configCheck: Check = {
  id: 'config',
  title: 'config',
  run(f) {
    const { paths, ports } = f.ctx.config;
    const file = tilde(paths.configFile, paths.home);
    const where = existsSync(paths.configFile) ? file : `no ${file} (defaults)`;
    if (f.configWarnings.length) return warn(`${where}: ${f.configWarnings.join('; ')}`, manual(`\${EDITOR:-vi} ${file}`));
    return ok(`${where}; ports asked for: edge ${ports.edge}, internal ${ports.internal}, api ${ports.api}`);
  },
};

/** The only check when the configuration does not load: nothing else can be looked at. */
export function configFailed(configFile: string, message: string, hint: string | undefined): CheckResult {
  return {
    id: configCheck.id,
    title: configCheck.title,
    ...fail(`${message}${hint ? ` (${hint})` : ''}; the daemon and the edge refuse to start with it`, manual(`\${EDITOR:-vi} ${configFile}`)),
  };
}
