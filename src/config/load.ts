// Builds the one typed Config every process receives: defaults -> config.toml -> environment ->
// flags (STYLE §9). This is the only module that reads environment variables, and only from the
// `env` object its caller passes (process.env at the entrypoint, a literal in tests).
//
// Strict for setup (STYLE §7): a wrong value is a MeterError('bad_config') naming the file, the
// key and what was found, with a hint. Unknown keys are not errors (a newer config.toml must not
// stop an older binary); they come back as warnings beside the config.
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { isIPv4, isIPv6 } from 'node:net';
import { MeterError, errorMessage } from '../core/errors.js';
import { PROVIDER_IDS } from '../core/providers.js';
import { resolvePaths } from './paths.js';
import { parseToml, TomlError, type TomlTable, type TomlValue } from './toml.js';
import {
  DEFAULT_CORS_ORIGINS,
  DEFAULT_METERING,
  DEFAULT_PORTS,
  OPENAI_STREAM_USAGE_MODES,
  type MeteringConfig,
  DEFAULT_PROJECT,
  portProblem,
  samePorts,
  type Config,
  type ConfigSource,
  type Paths,
  type Ports,
  type PricingOverride,
  type UpstreamConfig,
} from './types.js';

/** process.env, or a plain record in tests. */
export type ConfigEnv = Readonly<Record<string, string | undefined>>;

/** Command-line values; they win over everything else. */
export interface ConfigFlags {
  edgePort?: number;
  internalPort?: number;
  apiPort?: number;
  logLevel?: string;
  /** Replaces the data directory, like HALTON_METER_HOME. */
  dataDir?: string;
  /** Replaces the CA directory, like HALTON_METER_CA_DIR. */
  caDir?: string;
}

export interface LoadOptions {
  env: ConfigEnv;
  flags?: ConfigFlags;
}

export interface LoadedConfig {
  config: Config;
  /** One line per ignored key, e.g. `.../config.toml: unknown key [daemon] edge_prot (ignored; did you mean edge_port?)`. */
  warnings: string[];
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const satisfies readonly Config['logLevel'][];

/** The environment variables loadConfig reads, besides HOME. */
export const ENV_VARS = {
  home: 'HALTON_METER_HOME',
  caDir: 'HALTON_METER_CA_DIR',
  edgePort: 'HALTON_METER_EDGE_PORT',
  internalPort: 'HALTON_METER_INTERNAL_PORT',
  apiPort: 'HALTON_METER_API_PORT',
  logLevel: 'HALTON_METER_LOG_LEVEL',
} as const;

const PORT_KEYS: readonly { port: keyof Ports; toml: string; env: string; flag: keyof ConfigFlags; cli: string }[] = [
  { port: 'edge', toml: 'edge_port', env: ENV_VARS.edgePort, flag: 'edgePort', cli: '--edge-port' },
  { port: 'internal', toml: 'internal_port', env: ENV_VARS.internalPort, flag: 'internalPort', cli: '--internal-port' },
  { port: 'api', toml: 'api_port', env: ENV_VARS.apiPort, flag: 'apiPort', cli: '--api-port' },
];

const PORT_HINT = 'Use a free port from 1024-65535 other than 8080 (defaults: edge 8081, internal 8090, api 8765).';
const SLUG = /^[a-z0-9._:/-]{1,64}$/;
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;
const OVERRIDE_PROVIDERS: readonly string[] = PROVIDER_IDS.filter((p) => p !== 'selftest');

/** The validated config plus warnings for ignored keys (the caller prints or logs them). */
export function loadConfig(opts: LoadOptions): LoadedConfig {
  const { env } = opts;
  const flags = opts.flags ?? {};
  const home = absolutePath('HOME', set(env.HOME) ?? homedir());
  const paths = resolvePaths(home, {
    dataDir: optionalPath(flags.dataDir, '--data-dir') ?? optionalPath(set(env[ENV_VARS.home]), ENV_VARS.home),
    caDir: optionalPath(flags.caDir, '--ca-dir') ?? optionalPath(set(env[ENV_VARS.caDir]), ENV_VARS.caDir),
  });
  const file = new FileReader(paths);
  const doc = file.read();
  const daemon = file.section(doc, 'daemon', ['edge_port', 'internal_port', 'api_port', 'log_level']);
  const config: Config = {
    paths,
    ...portsOf(file, daemon, env, flags),
    upstream: upstreamOf(file, file.section(doc, 'upstream', ['resolve', 'proxy', 'ca_file'])),
    tagging: { defaultProject: defaultProjectOf(file, file.section(doc, 'tagging', ['default_project'])) },
    cors: { allowOrigins: allowOriginsOf(file, file.section(doc, 'cors', ['allow_origins'])) },
    pricing: { overrides: overridesOf(file, file.section(doc, 'pricing', ['override'])) },
    metering: meteringOf(file, file.section(doc, 'metering', ['openai_stream_usage'])),
    logLevel: logLevelOf(file, daemon, env, flags),
  };
  file.unknownKeys(doc, '', ['daemon', 'upstream', 'tagging', 'cors', 'pricing', 'metering']);
  return { config, warnings: file.warnings };
}

function portsOf(
  file: FileReader,
  daemon: TomlTable | null,
  env: ConfigEnv,
  flags: ConfigFlags,
): Pick<Required<Config>, 'ports' | 'portSources'> {
  const ports: Ports = { ...DEFAULT_PORTS };
  const portSources: Record<keyof Ports, ConfigSource> = { edge: 'default', internal: 'default', api: 'default' };
  // Where each value came from, in words, so a clash message can point at both culprits.
  const origin: Record<keyof Ports, string> = { edge: 'default', internal: 'default', api: 'default' };
  for (const k of PORT_KEYS) {
    const take = (value: number, source: ConfigSource, where: string): void => {
      [ports[k.port], portSources[k.port], origin[k.port]] = [value, source, where];
    };
    const fromFile = daemon?.[k.toml];
    if (fromFile !== undefined) {
      const problem = portProblem(fromFile);
      if (problem) file.fail(`[daemon] ${k.toml}`, problem, fromFile, PORT_HINT);
      take(fromFile as number, 'file', `[daemon] ${k.toml} in ${file.path}`);
    }
    const fromEnv = set(env[k.env]);
    if (fromEnv !== undefined) take(envPort(k.env, fromEnv), 'env', k.env);
    const fromFlag = flags[k.flag];
    if (fromFlag !== undefined) {
      const problem = portProblem(fromFlag);
      if (problem) flagFail(k.cli, problem, fromFlag, PORT_HINT);
      take(fromFlag as number, 'flag', k.cli);
    }
  }
  const same = samePorts(ports);
  if (same) {
    const [a, b] = same;
    throw new MeterError(
      'bad_config',
      `the edge, internal and api ports must be distinct: ${a} port (${origin[a]}) and ${b} port (${origin[b]}) are both ${ports[a]}`,
      PORT_HINT,
    );
  }
  return { ports, portSources };
}

function logLevelOf(file: FileReader, daemon: TomlTable | null, env: ConfigEnv, flags: ConfigFlags): Config['logLevel'] {
  const problem = `must be one of ${LOG_LEVELS.map((l) => JSON.stringify(l)).join(', ')}`;
  const hint = 'debug is the most verbose, error the least; the default is info.';
  const asLevel = (v: TomlValue): Config['logLevel'] | undefined => LOG_LEVELS.find((l) => l === v);
  let level: Config['logLevel'] = 'info';
  const fromFile = daemon?.log_level;
  if (fromFile !== undefined) level = asLevel(fromFile) ?? file.fail('[daemon] log_level', problem, fromFile, hint);
  const fromEnv = set(env[ENV_VARS.logLevel]);
  if (fromEnv !== undefined) level = asLevel(fromEnv) ?? envFail(ENV_VARS.logLevel, problem, fromEnv, hint);
  if (flags.logLevel !== undefined) level = asLevel(flags.logLevel) ?? flagFail('--log-level', problem, flags.logLevel, hint);
  return level;
}

// ---- config.toml ---------------------------------------------------------------------------------

class FileReader {
  readonly path: string;
  readonly warnings: string[] = [];

  constructor(private readonly paths: Paths) {
    this.path = paths.configFile;
  }

  /** The parsed file; an empty table when there is no file (everything then has its default). */
  read(): TomlTable {
    let bytes: Buffer;
    try {
      bytes = readFileSync(this.path);
    } catch (e) {
      if (e instanceof Error && (e as NodeJS.ErrnoException).code === 'ENOENT') return Object.create(null) as TomlTable;
      throw new MeterError('bad_config', `cannot read ${this.path}: ${errorMessage(e)}`, 'Make it a readable file, or remove it to use the defaults.');
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new MeterError('bad_config', `${this.path} is not valid UTF-8`, 'Save the file as UTF-8 text.');
    }
    try {
      return parseToml(text);
    } catch (e) {
      if (!(e instanceof TomlError)) throw e;
      throw new MeterError('bad_config', `${this.path}:${e.message}`, 'Fix the TOML syntax at that line and column, or move the file away to run on the defaults.');
    }
  }

  /** A [name] table, or null when absent. */
  section(doc: TomlTable, name: string, known: readonly string[]): TomlTable | null {
    const v = doc[name];
    if (v === undefined) return null;
    if (!isTable(v)) this.fail(name, 'must be a table', v, `Write it as a [${name}] section.`);
    this.unknownKeys(v, `[${name}] `, known);
    return v;
  }

  unknownKeys(table: TomlTable, where: string, known: readonly string[]): void {
    for (const key of Object.keys(table)) {
      if (known.includes(key)) continue;
      const near = known.find((k) => editDistance(k, key) <= 2);
      this.warnings.push(`${this.path}: unknown key ${where}${key} (ignored${near ? `; did you mean ${near}?` : ''})`);
    }
  }

  /** `got` undefined means the key is missing. */
  fail(key: string, problem: string, got: TomlValue | undefined, hint: string): never {
    const what = got === undefined ? `${key} is missing: it ${problem}` : `${key} ${problem}, got ${render(got)}`;
    throw new MeterError('bad_config', `${this.path}: ${what}`, hint);
  }

  get home(): string {
    return this.paths.home;
  }
}

function upstreamOf(file: FileReader, t: TomlTable | null): UpstreamConfig {
  return {
    resolve: t?.resolve === undefined ? {} : resolveOf(file, t.resolve),
    proxy: t?.proxy === undefined ? null : proxyOf(file, t.proxy),
    caFile: t?.ca_file === undefined ? null : caFileOf(file, t.ca_file),
  };
}

function resolveOf(file: FileReader, v: TomlValue): Readonly<Record<string, string>> {
  const hint = 'Map "host:port" to "ip:port", e.g. resolve = { "api.anthropic.com:443" = "127.0.0.1:9443" }.';
  if (!isTable(v)) file.fail('[upstream] resolve', 'must be a table of "host:port" = "ip:port"', v, hint);
  const out: Record<string, string> = {};
  for (const [key, target] of Object.entries(v)) {
    const label = `[upstream] resolve.${JSON.stringify(key)}`;
    const from = splitHostPort(key.toLowerCase());
    if (!from || !(HOSTNAME.test(from.host) || isIPv4(from.host) || from.bracketed)) {
      file.fail('[upstream] resolve', 'keys must be "host:port"', key, hint);
    }
    const to = typeof target === 'string' ? splitHostPort(target) : null;
    if (!to || !(isIPv4(to.host) || to.bracketed)) file.fail(label, 'must be "ip:port" (IPv6 as "[::1]:port")', target, hint);
    const normalised = joinHostPort(from);
    if (out[normalised] !== undefined) file.fail('[upstream] resolve', 'has the same "host:port" twice', key, hint);
    out[normalised] = joinHostPort(to);
  }
  return Object.freeze(out);
}

/** host and port of "host:port" or "[v6]:port", or null. */
function splitHostPort(s: string): { host: string; port: number; bracketed: boolean } | null {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s);
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  if (m[1] !== undefined) return isIPv6(m[1]) ? { host: m[1], port, bracketed: true } : null;
  return { host: m[2], port, bracketed: false };
}

function joinHostPort(hp: { host: string; port: number; bracketed: boolean }): string {
  return `${hp.bracketed ? `[${hp.host}]` : hp.host}:${hp.port}`;
}

function proxyOf(file: FileReader, v: TomlValue): string | null {
  const hint = 'Use an http:// URL: proxy = "http://[user:password@]proxy.example.com:3128", or remove the key.';
  if (typeof v !== 'string') file.fail('[upstream] proxy', 'must be a string URL', v, hint);
  if (v === '') return null; // an empty value is the natural way to switch the proxy off
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return file.fail('[upstream] proxy', 'must be a valid URL', v, hint);
  }
  // Upstream connections speak plain HTTP CONNECT to the proxy; TLS to the proxy is not supported.
  if (url.protocol !== 'http:') file.fail('[upstream] proxy', 'must be an http:// URL', v, hint);
  if (!url.hostname || url.pathname !== '/' || url.search || url.hash) {
    file.fail('[upstream] proxy', 'must be http://[user:password@]host[:port] with no path', v, hint);
  }
  return v;
}

function caFileOf(file: FileReader, v: TomlValue): string | null {
  const key = '[upstream] ca_file';
  const hint = 'Point it at a readable PEM file of the CA certificates to trust upstream, or remove the key.';
  if (typeof v !== 'string') file.fail(key, 'must be a string path', v, hint);
  if (v === '') return null;
  // "~/" is expanded because TOML values never pass through a shell; relative paths are read from
  // the directory config.toml is in, not from wherever the process was started.
  const path = v.startsWith('~/') ? join(file.home, v.slice(2)) : resolve(dirname(file.path), v);
  let text: string;
  try {
    if (!statSync(path).isFile()) file.fail(key, 'must be a regular file', v, hint);
    accessSync(path, constants.R_OK);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof MeterError) throw e;
    const code = e instanceof Error ? (e as NodeJS.ErrnoException).code : undefined;
    const problem = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? errorMessage(e)})`;
    return file.fail(key, `${problem}: ${path}`, v, hint);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) file.fail(key, `is not a PEM certificate file: ${path}`, v, hint);
  return path;
}

function meteringOf(file: FileReader, t: TomlTable | null): MeteringConfig {
  const v = t?.openai_stream_usage;
  if (v === undefined) return { ...DEFAULT_METERING };
  const mode = OPENAI_STREAM_USAGE_MODES.find((m) => m === v);
  if (!mode) {
    file.fail('[metering] openai_stream_usage', 'must be "estimate" or "inject"', v, 'estimate (default) counts tokens locally; inject asks OpenAI for usage and hides the extra chunk.');
  }
  return { openaiStreamUsage: mode };
}

function defaultProjectOf(file: FileReader, t: TomlTable | null): string {
  const v = t?.default_project;
  if (v === undefined) return DEFAULT_PROJECT;
  const slug = typeof v === 'string' ? v.toLowerCase() : null; // SPEC §4: slugs are lowercased
  if (slug === null || !SLUG.test(slug)) {
    file.fail('[tagging] default_project', 'must be a project slug of 1-64 characters from a-z 0-9 . _ : / -', v, 'For example: default_project = "misc".');
  }
  return slug;
}

function allowOriginsOf(file: FileReader, t: TomlTable | null): readonly string[] {
  const v = t?.allow_origins;
  if (v === undefined) return DEFAULT_CORS_ORIGINS;
  const hint = 'List exact origins, e.g. allow_origins = ["http://localhost:3000"]; [] allows none.';
  if (!Array.isArray(v)) file.fail('[cors] allow_origins', 'must be an array of origins', v, hint);
  const out: string[] = [];
  for (const [i, o] of v.entries()) {
    const key = `[cors] allow_origins[${i}]`;
    // The API has no auth: "*" would let any web page read your usage and costs.
    if (o === '*') file.fail(key, 'must be an exact origin ("*" is not allowed: the local API has no authentication)', o, hint);
    let url: URL | null = null;
    try {
      url = typeof o === 'string' ? new URL(o) : null;
    } catch {
      url = null;
    }
    const plain = url && (url.protocol === 'http:' || url.protocol === 'https:') && !url.username && !url.password;
    if (!url || !plain || url.pathname !== '/' || url.search || url.hash) {
      file.fail(key, 'must be an origin like "http://localhost:3000" (scheme, host, optional port, no path)', o, hint);
    }
    // Browsers send the Origin header in this normal form (lower-case host, no default port).
    if (!out.includes(url.origin)) out.push(url.origin);
  }
  return out;
}

function overridesOf(file: FileReader, t: TomlTable | null): readonly PricingOverride[] {
  const v = t?.override;
  if (v === undefined) return [];
  const hint = 'Write each override as a [[pricing.override]] section with provider, model, input and output (USD per million tokens).';
  if (!Array.isArray(v) || !v.every(isTable)) {
    file.fail('[pricing] override', 'must be an array of tables (write [[pricing.override]], with two brackets)', v, hint);
  }
  return v.map((entry, i) => {
    const where = `[[pricing.override]] #${i + 1}`;
    const e = entry as TomlTable;
    file.unknownKeys(e, `${where} `, ['provider', 'model', 'input', 'output', 'cache_read', 'cache_write_5m', 'cache_write_1h']);
    if (typeof e.provider !== 'string' || !OVERRIDE_PROVIDERS.includes(e.provider)) {
      file.fail(`${where} provider`, `must be one of ${OVERRIDE_PROVIDERS.map((p) => JSON.stringify(p)).join(', ')}`, e.provider, hint);
    }
    if (typeof e.model !== 'string' || e.model.trim() === '') {
      file.fail(`${where} model`, 'must be a model id or a glob with *', e.model, hint);
    }
    const rate = (key: string, required: boolean): number | null => {
      const r = e[key];
      if (r === undefined && !required) return null;
      if (typeof r !== 'number' || !Number.isFinite(r) || r < 0) {
        file.fail(`${where} ${key}`, 'must be a non-negative number (USD per million tokens)', r, hint);
      }
      return r;
    };
    return {
      provider: e.provider,
      model: e.model,
      input: rate('input', true) as number,
      output: rate('output', true) as number,
      cacheRead: rate('cache_read', false),
      cacheWrite5m: rate('cache_write_5m', false),
      cacheWrite1h: rate('cache_write_1h', false),
    };
  });
}

// ---- environment and helpers ---------------------------------------------------------------------

function envFail(name: string, problem: string, got: TomlValue, hint: string): never {
  throw new MeterError('bad_config', `${name} ${problem}, got ${render(got)}`, `${hint} Fix or unset ${name}.`);
}

function flagFail(flag: string, problem: string, got: TomlValue, hint: string): never {
  throw new MeterError('bad_argument', `${flag} ${problem}, got ${render(got)}`, hint);
}

function envPort(name: string, raw: string): number {
  const n = /^\d{1,5}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  const problem = portProblem(n);
  return problem ? envFail(name, problem, raw, PORT_HINT) : n;
}

/** An environment value that is set and not empty (an empty variable means "not set"). */
function set(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

function optionalPath(v: string | undefined, name: string): string | undefined {
  return v === undefined ? undefined : absolutePath(name, v);
}

// Paths end up in systemd units and in files other processes read, where a relative path would
// silently mean something else.
function absolutePath(name: string, v: string): string {
  if (!isAbsolute(v)) {
    const isFlag = name.startsWith('--');
    throw new MeterError(isFlag ? 'bad_argument' : 'bad_config', `${name} must be an absolute path, got ${JSON.stringify(v)}`, 'Give the full path, starting with /.');
  }
  return resolve(v);
}

function isTable(v: TomlValue | undefined): v is TomlTable {
  return typeof v === 'object' && !Array.isArray(v);
}

function render(v: TomlValue): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'a table';
  return String(v);
}

/** Levenshtein distance, for "did you mean" on unknown keys. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}
