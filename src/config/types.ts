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

/** Where a value came from, lowest precedence first. */
export type ConfigSource = 'default' | 'file' | 'env' | 'flag';

export interface Config {
  paths: Paths;
  /** The ports config.toml/env/flags ask for. What is bound is in effective-ports.json: see mergeEffective. */
  ports: Ports;
  /**
   * Where each port came from. Ports set by env or flag win over effective-ports.json in
   * mergeEffective. Optional so hand-built test configs need not set it (absent = not explicit).
   */
  portSources?: Readonly<Record<keyof Ports, ConfigSource>>;
  upstream: UpstreamConfig;
  tagging: { defaultProject: string };
  cors: { allowOrigins: readonly string[] };
  pricing: { overrides: readonly PricingOverride[] };
  metering: MeteringConfig;
  /** Log level threshold for the JSON-lines logs. */
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/**
 * OpenAI chat streams whose request did not ask for `stream_options.include_usage` carry no usage.
 * `estimate` (default): leave the wire untouched and count tokens with a tokenizer (the row says
 * usage_source = estimated). `inject`: add include_usage to such requests and remove the extra usage
 * chunk before the client sees it, so the row has the provider's own counts.
 */
export const OPENAI_STREAM_USAGE_MODES = ['estimate', 'inject'] as const;
export type OpenAiStreamUsageMode = (typeof OPENAI_STREAM_USAGE_MODES)[number];

export interface MeteringConfig {
  openaiStreamUsage: OpenAiStreamUsageMode;
}

export const DEFAULT_METERING: Readonly<MeteringConfig> = Object.freeze({ openaiStreamUsage: 'estimate' });

export const DEFAULT_PORTS: Readonly<Ports> = Object.freeze({ edge: 8081, internal: 8090, api: 8765 });
export const DEFAULT_PROJECT = 'misc';
export const DEFAULT_CORS_ORIGINS: readonly string[] = ['http://localhost:3000'];

// SPEC §1: "Port 8080 is never used" (it is what mitmproxy and countless dev servers default to).
export const FORBIDDEN_PORT = 8080;

/** Why `value` cannot be one of our ports, or null if it can. */
export function portProblem(value: unknown): string | null {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    return 'must be an integer 1-65535';
  }
  if (value === FORBIDDEN_PORT) return 'must not be 8080: halton-meter never uses port 8080';
  return null;
}

/** The names of two ports that are equal, or null if the three are distinct. */
export function samePorts(ports: Ports): [keyof Ports, keyof Ports] | null {
  if (ports.edge === ports.internal) return ['edge', 'internal'];
  if (ports.edge === ports.api) return ['edge', 'api'];
  if (ports.internal === ports.api) return ['internal', 'api'];
  return null;
}
