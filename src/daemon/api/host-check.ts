// The API has no auth and lives on loopback, so a browser page from elsewhere must not reach it via
// DNS rebinding: only loopback names are accepted in Host.
const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export function isLoopbackHost(hostHeader: string | undefined): boolean {
  if (!hostHeader) return false;
  const h = hostHeader.trim().toLowerCase();
  let name = h;
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    name = end > 0 ? h.slice(0, end + 1) : h;
  } else {
    const colon = h.lastIndexOf(':');
    if (colon > 0) name = h.slice(0, colon);
  }
  return LOOPBACK_NAMES.has(name) || /^127(\.\d{1,3}){3}$/.test(name);
}
