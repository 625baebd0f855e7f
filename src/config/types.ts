// The typed, validated configuration every process receives (STYLE §9). Built once from
// defaults -> config.toml -> environment -> flags by config/load.ts; nothing else reads process.env.

export interface Paths {
  /** The user's home directory. */
  home: string;
  /** ~/.halton-meter */
  dataDir: string;
  /** ~/.mitmproxy */
  caDir: string;
  db: string;
  configFile: string;
  effectivePorts: string;
  envFile: string;
  caBundle: string;
  daemonLog: string;
  edgeLog: string;
  installMode: string;
  /** ~/.config/systemd/user */
  unitDir: string;
  /** ~/.config/environment.d */
  environmentDir: string;
}

export interface Ports {
  edge: number;
  internal: number;
  api: number;
}

export interface UpstreamConfig {
  /** "host:port" -> "ip:port", like curl --resolve. */
  resolve: Readonly<Record<string, string>>;
  /** Corporate HTTP proxy for upstream connections (http://[user:pass@]host:port), or null. */
  proxy: string | null;
  /** Extra PEM trusted for upstream TLS on top of the system roots. */
  caFile: string | null;
}

export interface PricingOverride {
  provider: string;
  /** Exact model id, or a glob with `*`. */
  model: string;
  /** USD per million tokens. */
  input: number;
  output: number;
  cacheRead: number | null;
  cacheWrite5m: number | null;
  cacheWrite1h: number | null;
}

export interface Config {
  paths: Paths;
  ports: Ports;
  upstream: UpstreamConfig;
  tagging: { defaultProject: string };
  cors: { allowOrigins: readonly string[] };
  pricing: { overrides: readonly PricingOverride[] };
  /** Log level threshold for the JSON-lines logs. */
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export const DEFAULT_PORTS: Readonly<Ports> = Object.freeze({ edge: 8081, internal: 8090, api: 8765 });
export const DEFAULT_PROJECT = 'misc';
export const DEFAULT_CORS_ORIGINS: readonly string[] = ['http://localhost:3000'];
