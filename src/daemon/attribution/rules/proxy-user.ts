// Rule 1: the proxy URL's user name (HTTPS_PROXY=http://billing@127.0.0.1:8081), which the client
// sends as Proxy-Authorization and the edge passes on. The most explicit choice there is: it wins
// over everything the process says about itself.
import { normaliseSlug } from '../../../core/slug.js';
import type { Rule } from './rule.js';

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

export const proxyUserRule: Rule = {
  name: 'proxy_user',
  slug: (input) => normaliseSlug(input.proxyUser),
};
