// The attribution chain (SPEC §4): the first rule that yields a valid slug wins, and the row records
// which one. This part covers the proxy-URL user name, HALTON_PROJECT in the client's environment
// and the configured default.
import type { AttributionRule } from '../../core/request-row.js';
import { normaliseSlug } from '../../core/slug.js';
import { findClientProcess, type ClientAddress, type ClientProcess } from './client-process.js';

export interface Attribution {
  slug: string;
  rule: AttributionRule;
  clientPid: number | null;
  clientName: string | null;
}

export interface AttributionInput {
  /** User name from Proxy-Authorization (HTTPS_PROXY=http://billing@127.0.0.1:8081). */
  proxyUser: string | null;
  client: ClientAddress | null;
}

export interface AttributionDeps {
  defaultProject: string;
  ownPid: number;
  lookupProcess?: (client: ClientAddress) => Promise<ClientProcess | null>;
}

export function proxyUserFromHeader(header: string | string[] | undefined): string | null {
  if (typeof header !== 'string') return null;
  const m = /^\s*basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return null;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon >= 0 ? decoded.slice(0, colon) : decoded;
  try {
    return decodeURIComponent(user);
  } catch {
    return user;
  }
}

export async function resolveAttribution(input: AttributionInput, deps: AttributionDeps): Promise<Attribution> {
  const lookup = deps.lookupProcess ?? ((c: ClientAddress) => findClientProcess(c, deps.ownPid));
  const fromProxy = normaliseSlug(input.proxyUser);
  // The process is looked up even when the proxy user wins: the row still names the client.
  const proc = input.client ? await lookup(input.client).catch(() => null) : null;
  const clientPid = proc?.pid ?? null;
  const clientName = proc?.name ?? null;
  if (fromProxy) return { slug: fromProxy, rule: 'proxy_user', clientPid, clientName };
  const fromEnv = normaliseSlug(proc?.env.get('HALTON_PROJECT'));
  if (fromEnv) return { slug: fromEnv, rule: 'env', clientPid, clientName };
  return { slug: deps.defaultProject, rule: proc ? 'default' : 'unresolved', clientPid, clientName };
}
