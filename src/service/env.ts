// The environment a client needs to go through the meter: pure functions that return text.
// HTTPS_PROXY sends traffic to the edge; the CA variables make each runtime trust the meter's CA
// (NODE_EXTRA_CA_CERTS adds to Node's roots; the others replace the store, so they point at a bundle
// of the system roots plus the meter's CA).
import type { Config } from '../config/types.js';
import { caPaths } from '../ca/index.js';

export type Shell = 'bash' | 'fish';

export const NO_PROXY_VALUE = 'localhost,127.0.0.1,::1';

/**
 * The project rides in the proxy URL's user name (attribution rule 1). A placeholder password is
 * included because some clients (undici's ProxyAgent) send Proxy-Authorization only when both are
 * present; the meter ignores it.
 */
export function proxyUrl(edgePort: number, project?: string | null): string {
  return project ? `http://${encodeURIComponent(project)}:x@127.0.0.1:${edgePort}` : `http://127.0.0.1:${edgePort}`;
}

export function clientEnv(config: Config, edgePort: number, project?: string | null): Array<[string, string]> {
  const proxy = proxyUrl(edgePort, project);
  const bundle = config.paths.caBundle;
  return [
    ['HTTPS_PROXY', proxy],
    ['https_proxy', proxy],
    ['NO_PROXY', NO_PROXY_VALUE],
    ['no_proxy', NO_PROXY_VALUE],
    ['NODE_EXTRA_CA_CERTS', caPaths(config.paths.caDir).certPem],
    ['SSL_CERT_FILE', bundle],
    ['REQUESTS_CA_BUNDLE', bundle],
    ['CURL_CA_BUNDLE', bundle],
    ['GIT_SSL_CAINFO', bundle],
    ['AWS_CA_BUNDLE', bundle],
  ];
}

function quote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function renderEnv(vars: Array<[string, string]>, shell: Shell): string {
  return (
    vars
      .map(([k, v]) => (shell === 'fish' ? `set -gx ${k} ${quote(v)};` : `export ${k}=${quote(v)}`))
      .join('\n') + '\n'
  );
}
