// Every file halton-meter reads or writes (SPEC §6), derived from one home directory. Pure: the
// caller (config/load.ts) decides the home and the overrides from the environment.
import { join } from 'node:path';
import type { Paths } from './types.js';

export interface PathOverrides {
  /** Replaces ~/.halton-meter (HALTON_METER_HOME). */
  dataDir?: string;
  /** Replaces ~/.mitmproxy (HALTON_METER_CA_DIR). */
  caDir?: string;
}

export function resolvePaths(home: string, overrides: PathOverrides = {}): Paths {
  const dataDir = overrides.dataDir ?? join(home, '.halton-meter');
  return {
    home,
    dataDir,
    caDir: overrides.caDir ?? join(home, '.mitmproxy'),
    db: join(dataDir, 'db.sqlite'),
    configFile: join(dataDir, 'config.toml'),
    effectivePorts: join(dataDir, 'effective-ports.json'),
    envFile: join(dataDir, 'env'),
    caBundle: join(dataDir, 'ca-bundle.pem'),
    daemonLog: join(dataDir, 'daemon.log'),
    edgeLog: join(dataDir, 'edge.log'),
    installMode: join(dataDir, 'install-mode'),
    // systemd and environment.d only look in the user's real home, so the data-dir override never
    // moves these two.
    unitDir: join(home, '.config', 'systemd', 'user'),
    environmentDir: join(home, '.config', 'environment.d'),
  };
}
