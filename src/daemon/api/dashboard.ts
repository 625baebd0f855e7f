// The dashboard: a few static files served by the daemon's API listener at `/` (see
// docs/dashboard.md). The page is plain HTML/CSS/JS that reads the JSON API from the same origin, so
// the server side is only a lookup table. Files are read once, on first use, and kept in memory.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DashboardResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

// Strict on purpose: the page runs no inline script or style and talks to nothing but this origin,
// so a row that carries hostile text (a model name, a project slug) cannot run script or phone home.
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'none'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const ASSETS = {
  '/assets/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/assets/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
} as const;

const INDEX = { file: 'index.html', type: 'text/html; charset=utf-8' } as const;

// The client routes with the History API, so a reload or a pasted deep link lands here and gets
// the same page, which then renders the view its location names.
const PAGE_PATHS = [/^\/$/, /^\/index\.html$/, /^\/projects\/?$/, /^\/projects\/[^/]+\/?$/, /^\/requests\/[^/]+\/?$/];

// Built output first (scripts/copy-assets.mjs puts the files beside the compiled module, which is
// what `npm pack` ships); the source folder second, so a bare `tsc` in a checkout still serves.
function assetDir(): string {
  const here = join(import.meta.dirname, 'dashboard');
  if (existsSync(join(here, INDEX.file))) return here;
  const source = join(import.meta.dirname, '..', '..', '..', '..', 'src', 'daemon', 'api', 'dashboard');
  return existsSync(join(source, INDEX.file)) ? source : here;
}

let cache: Map<string, Buffer> | null = null;

function files(): Map<string, Buffer> {
  if (cache) return cache;
  const dir = assetDir();
  const out = new Map<string, Buffer>();
  for (const name of [INDEX.file, ...Object.values(ASSETS).map((a) => a.file)]) {
    try {
      out.set(name, readFileSync(join(dir, name)));
    } catch {
      // A missing file is answered with a 500 naming it, not a crash of the API listener.
    }
  }
  cache = out;
  return out;
}

function headers(type: string, length: number): Record<string, string> {
  return {
    'content-type': type,
    'content-length': String(length),
    // Revalidate every time: the files change with an upgrade while the daemon's URL stays the same.
    'cache-control': 'no-cache',
    'content-security-policy': DASHBOARD_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  };
}

function respond(entry: { file: string; type: string }): DashboardResponse {
  const body = files().get(entry.file);
  if (!body) {
    const text = Buffer.from(`dashboard file ${entry.file} is missing from this installation; reinstall halton-meter\n`);
    return { status: 500, headers: headers('text/plain; charset=utf-8', text.length), body: text };
  }
  return { status: 200, headers: headers(entry.type, body.length), body };
}

/** The dashboard's answer for GET/HEAD `pathname`, or null when the path is not the dashboard's. */
export function serveDashboard(pathname: string): DashboardResponse | null {
  if (Object.hasOwn(ASSETS, pathname)) return respond(ASSETS[pathname as keyof typeof ASSETS]);
  if (PAGE_PATHS.some((re) => re.test(pathname))) return respond(INDEX);
  return null;
}
