// Config loading (defaults -> config.toml -> env -> flags), its validation messages, paths, and
// effective-ports.json. Every test works in its own temporary HOME under os.tmpdir().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { MeterError } from '../../src/core/errors.js';
import {
  DEFAULT_PORTS,
  inspectEffectivePorts,
  loadConfig,
  mergeEffective,
  readEffectivePorts,
  resolvePaths,
  updateEffectivePorts,
  writeEffectivePorts,
  type Config,
  type ConfigEnv,
  type ConfigFlags,
  type EffectivePorts,
} from '../../src/config/index.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

function tmpHome(): string {
  return mkdtempSync(join(tmpdir(), 'hm-config-'));
}

/** A temporary HOME whose ~/.halton-meter/config.toml holds `toml`. */
function homeWith(toml: string): string {
  const home = tmpHome();
  mkdirSync(join(home, '.halton-meter'));
  writeFileSync(join(home, '.halton-meter', 'config.toml'), toml);
  return home;
}

function load(home: string, env: ConfigEnv = {}, flags?: ConfigFlags): Config {
  return loadConfig({ env: { HOME: home, ...env }, flags }).config;
}

/** Asserts loading fails with `code` and a message matching `message`; returns the error. */
function fails(run: () => unknown, message: RegExp, code = 'bad_config'): MeterError {
  let caught: unknown;
  try {
    run();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof MeterError, `expected a MeterError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, message);
  assert.ok(caught.hint && caught.hint.length > 10, `a hint for: ${caught.message}`);
  return caught;
}

function failsWithFile(toml: string, message: RegExp): MeterError {
  const home = homeWith(toml);
  const e = fails(() => load(home), message);
  assert.ok(e.message.includes(join(home, '.halton-meter', 'config.toml')), `names the file: ${e.message}`);
  return e;
}

// ---- paths -----------------------------------------------------------------------------------------

test('resolvePaths: every file of SPEC §6 under one home', () => {
  assert.deepEqual(resolvePaths('/home/u'), {
    home: '/home/u',
    dataDir: '/home/u/.halton-meter',
    caDir: '/home/u/.mitmproxy',
    db: '/home/u/.halton-meter/db.sqlite',
    configFile: '/home/u/.halton-meter/config.toml',
    effectivePorts: '/home/u/.halton-meter/effective-ports.json',
    envFile: '/home/u/.halton-meter/env',
    caBundle: '/home/u/.halton-meter/ca-bundle.pem',
    daemonLog: '/home/u/.halton-meter/daemon.log',
    edgeLog: '/home/u/.halton-meter/edge.log',
    installMode: '/home/u/.halton-meter/install-mode',
    unitDir: '/home/u/.config/systemd/user',
    environmentDir: '/home/u/.config/environment.d',
  });
  const moved = resolvePaths('/home/u', { dataDir: '/srv/hm', caDir: '/srv/ca' });
  assert.equal(moved.configFile, '/srv/hm/config.toml');
  assert.equal(moved.db, '/srv/hm/db.sqlite');
  assert.equal(moved.caDir, '/srv/ca');
  assert.equal(moved.unitDir, '/home/u/.config/systemd/user', 'systemd only looks in the real home');
});

test('config/ imports only Node built-ins, core/ and itself (the edge loads it: no npm packages)', () => {
  const dir = new URL('../../src/config/', import.meta.url);
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.js'))) {
    const code = readFileSync(new URL(name, dir), 'utf8');
    for (const m of code.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
      assert.match(m[1], /^(node:|\.\/|\.\.\/core\/)/, `${name} imports ${m[1]}`);
    }
  }
});

// ---- defaults, file, env, flags -------------------------------------------------------------------

test('no config file: the defaults', () => {
  const home = tmpHome();
  const { config, warnings } = loadConfig({ env: { HOME: home } });
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.ports, { edge: 8081, internal: 8090, api: 8765 });
  assert.deepEqual(config.portSources, { edge: 'default', internal: 'default', api: 'default' });
  assert.deepEqual(config.paths, resolvePaths(home));
  assert.deepEqual(config.upstream, { resolve: {}, proxy: null, caFile: null });
  assert.deepEqual(config.tagging, { defaultProject: 'misc' });
  assert.deepEqual(config.cors, { allowOrigins: ['http://localhost:3000'] });
  assert.deepEqual(config.pricing, { overrides: [] });
  assert.equal(config.logLevel, 'info');
});

test('an empty or comment-only config file is the defaults too', () => {
  for (const toml of ['', '# nothing here\n\n[daemon]\n']) {
    assert.deepEqual(load(homeWith(toml)).ports, DEFAULT_PORTS);
  }
});

test('every key read from config.toml', () => {
  const home = homeWith(`
[daemon]
edge_port = 18081
internal_port = 18090
api_port = 18765
log_level = "debug"

[upstream]
resolve = { "API.Anthropic.com:0443" = "127.0.0.1:09443", "api.openai.com:443" = "[::1]:9444" }
proxy = "http://user:p%40ss@proxy.corp.example:3128"
ca_file = "corp.pem"

[tagging]
default_project = "Billing/Q3"

[cors]
allow_origins = ["http://localhost:3000/", "https://Dash.Example.com:443", "http://localhost:3000"]

[[pricing.override]]
provider = "anthropic"
model = "claude-sonnet-4-*"
input = 3
output = 15.0
cache_read = 0.3
cache_write_5m = 3.75
cache_write_1h = 6

[[pricing.override]]
provider = "openai"
model = "gpt-4o"
input = 2.5
output = 10
`);
  writeFileSync(join(home, '.halton-meter', 'corp.pem'), PEM);
  const { config, warnings } = loadConfig({ env: { HOME: home } });
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.ports, { edge: 18081, internal: 18090, api: 18765 });
  assert.deepEqual(config.portSources, { edge: 'file', internal: 'file', api: 'file' });
  assert.equal(config.logLevel, 'debug');
  assert.deepEqual(config.upstream, {
    resolve: { 'api.anthropic.com:443': '127.0.0.1:9443', 'api.openai.com:443': '[::1]:9444' },
    proxy: 'http://user:p%40ss@proxy.corp.example:3128',
    caFile: join(home, '.halton-meter', 'corp.pem'),
  });
  assert.equal(config.tagging.defaultProject, 'billing/q3', 'slugs are lowercased (SPEC §4)');
  assert.deepEqual(config.cors.allowOrigins, ['http://localhost:3000', 'https://dash.example.com']);
  assert.deepEqual(config.pricing.overrides, [
    {
      provider: 'anthropic',
      model: 'claude-sonnet-4-*',
      input: 3,
      output: 15,
      cacheRead: 0.3,
      cacheWrite5m: 3.75,
      cacheWrite1h: 6,
    },
    { provider: 'openai', model: 'gpt-4o', input: 2.5, output: 10, cacheRead: null, cacheWrite5m: null, cacheWrite1h: null },
  ]);
});

test('environment beats config.toml, flags beat the environment', () => {
  const home = homeWith('[daemon]\nedge_port = 18081\ninternal_port = 18090\nlog_level = "warn"\n');
  const env = { HALTON_METER_EDGE_PORT: '28081', HALTON_METER_API_PORT: ' 28765 ', HALTON_METER_LOG_LEVEL: 'error' };
  const c = load(home, env);
  assert.deepEqual(c.ports, { edge: 28081, internal: 18090, api: 28765 });
  assert.deepEqual(c.portSources, { edge: 'env', internal: 'file', api: 'env' });
  assert.equal(c.logLevel, 'error');

  const f = load(home, env, { edgePort: 38081, logLevel: 'debug' });
  assert.deepEqual(f.ports, { edge: 38081, internal: 18090, api: 28765 });
  assert.deepEqual(f.portSources, { edge: 'flag', internal: 'file', api: 'env' });
  assert.equal(f.logLevel, 'debug');

  assert.equal(load(home, { HALTON_METER_EDGE_PORT: '' }).ports.edge, 18081, 'an empty variable is unset');
});

test('HALTON_METER_HOME moves the data dir (and the config.toml read); HALTON_METER_CA_DIR the CA dir', () => {
  const home = homeWith('[daemon]\nedge_port = 18081\n');
  const data = join(tmpHome(), 'data');
  mkdirSync(data);
  writeFileSync(join(data, 'config.toml'), '[daemon]\nedge_port = 48081\n');
  const c = load(home, { HALTON_METER_HOME: data, HALTON_METER_CA_DIR: '/srv/ca/' });
  assert.equal(c.paths.dataDir, data);
  assert.equal(c.paths.configFile, join(data, 'config.toml'));
  assert.equal(c.paths.db, join(data, 'db.sqlite'));
  assert.equal(c.paths.caDir, '/srv/ca');
  assert.equal(c.ports.edge, 48081);
  assert.equal(c.paths.unitDir, join(home, '.config', 'systemd', 'user'));
  const flagged = load(home, { HALTON_METER_HOME: '/nowhere' }, { dataDir: data, caDir: '/x/ca' });
  assert.equal(flagged.paths.dataDir, data);
  assert.equal(flagged.paths.caDir, '/x/ca');
});

test('HOME falls back to os.homedir(); relative directories are refused', () => {
  assert.equal(loadConfig({ env: {} }).config.paths.home, homedir());
  fails(() => load(tmpHome(), { HALTON_METER_HOME: 'rel/dir' }), /^HALTON_METER_HOME must be an absolute path, got "rel\/dir"$/);
  fails(() => load(tmpHome(), { HALTON_METER_CA_DIR: '~/ca' }), /^HALTON_METER_CA_DIR must be an absolute path/);
  fails(() => loadConfig({ env: { HOME: 'relative' } }), /^HOME must be an absolute path/);
  fails(() => load(tmpHome(), {}, { dataDir: 'x' }), /^--data-dir must be an absolute path/, 'bad_argument');
});

test('only the env passed in is read, never process.env', () => {
  const saved = process.env.HALTON_METER_EDGE_PORT;
  process.env.HALTON_METER_EDGE_PORT = '9999';
  try {
    assert.equal(load(tmpHome()).ports.edge, 8081);
  } finally {
    if (saved === undefined) delete process.env.HALTON_METER_EDGE_PORT;
    else process.env.HALTON_METER_EDGE_PORT = saved;
  }
});

// ---- validation ----------------------------------------------------------------------------------

test('the brief example: a bad port names file, section and key', () => {
  const e = failsWithFile('[daemon]\nedge_port = "80x1"\n', /config\.toml: \[daemon\] edge_port must be an integer 1-65535, got "80x1"$/);
  assert.match(e.hint ?? '', /8080/);
});

test('every validation error names its key', () => {
  const cases: [string, RegExp][] = [
    ['daemon = 5', /: daemon must be a table, got 5$/],
    ['[daemon]\ninternal_port = 0', /\[daemon\] internal_port must be an integer 1-65535, got 0$/],
    ['[daemon]\napi_port = 70000', /\[daemon\] api_port must be an integer 1-65535, got 70000$/],
    ['[daemon]\nedge_port = 8081.5', /\[daemon\] edge_port must be an integer 1-65535, got 8081.5$/],
    ['[daemon]\nedge_port = [8081]', /\[daemon\] edge_port must be an integer 1-65535, got an array$/],
    ['[daemon]\nlog_level = "verbose"', /\[daemon\] log_level must be one of "debug", "info", "warn", "error", got "verbose"$/],
    ['[upstream]\nresolve = "x"', /\[upstream\] resolve must be a table of "host:port" = "ip:port", got "x"$/],
    ['[upstream]\nresolve = { "api.anthropic.com" = "127.0.0.1:9443" }', /\[upstream\] resolve keys must be "host:port", got "api.anthropic.com"$/],
    ['[upstream]\nresolve = { "bad host:443" = "127.0.0.1:9443" }', /\[upstream\] resolve keys must be "host:port", got "bad host:443"$/],
    ['[upstream]\nresolve = { "a.com:0" = "127.0.0.1:9443" }', /\[upstream\] resolve keys must be "host:port"/],
    ['[upstream]\nresolve = { "a.com:443" = "localhost:9443" }', /\[upstream\] resolve\."a\.com:443" must be "ip:port" .*, got "localhost:9443"$/],
    ['[upstream]\nresolve = { "a.com:443" = "127.0.0.1:99999" }', /\[upstream\] resolve\."a\.com:443" must be "ip:port"/],
    ['[upstream]\nresolve = { "a.com:443" = "[::1]" }', /\[upstream\] resolve\."a\.com:443" must be "ip:port"/],
    ['[upstream]\nresolve = { "a.com:443" = 9443 }', /\[upstream\] resolve\."a\.com:443" must be "ip:port".*, got 9443$/],
    ['[upstream]\nresolve = { "A.com:443" = "127.0.0.1:1", "a.com:443" = "127.0.0.1:2" }', /\[upstream\] resolve has the same "host:port" twice/],
    ['[upstream]\nproxy = "https://proxy:3128"', /\[upstream\] proxy must be an http:\/\/ URL, got "https:\/\/proxy:3128"$/],
    ['[upstream]\nproxy = "proxy:3128 x"', /\[upstream\] proxy must be/],
    ['[upstream]\nproxy = "not a url"', /\[upstream\] proxy must be a valid URL, got "not a url"$/],
    ['[upstream]\nproxy = "http://proxy:3128/path"', /\[upstream\] proxy must be http:\/\/\[user:password@\]host\[:port\] with no path/],
    ['[upstream]\nproxy = 3128', /\[upstream\] proxy must be a string URL, got 3128$/],
    ['[upstream]\nca_file = "/nonexistent/corp.pem"', /\[upstream\] ca_file does not exist: \/nonexistent\/corp\.pem, got "\/nonexistent\/corp\.pem"$/],
    ['[upstream]\nca_file = "/"', /\[upstream\] ca_file must be a regular file, got "\/"$/],
    ['[upstream]\nca_file = true', /\[upstream\] ca_file must be a string path, got true$/],
    ['[tagging]\ndefault_project = "has space"', /\[tagging\] default_project must be a project slug .*, got "has space"$/],
    [`[tagging]\ndefault_project = "${'a'.repeat(65)}"`, /\[tagging\] default_project must be a project slug/],
    ['[tagging]\ndefault_project = ""', /\[tagging\] default_project must be a project slug/],
    ['[tagging]\ndefault_project = 7', /\[tagging\] default_project must be a project slug .*, got 7$/],
    ['[cors]\nallow_origins = "http://localhost:3000"', /\[cors\] allow_origins must be an array of origins, got "http:\/\/localhost:3000"$/],
    ['[cors]\nallow_origins = ["*"]', /\[cors\] allow_origins\[0\] must be an exact origin \("\*" is not allowed/],
    ['[cors]\nallow_origins = ["http://a", "http://b/app"]', /\[cors\] allow_origins\[1\] must be an origin like .*, got "http:\/\/b\/app"$/],
    ['[cors]\nallow_origins = ["ftp://a"]', /\[cors\] allow_origins\[0\] must be an origin/],
    ['[cors]\nallow_origins = [3000]', /\[cors\] allow_origins\[0\] must be an origin .*, got 3000$/],
    ['[pricing.override]\nprovider = "openai"', /\[pricing\] override must be an array of tables \(write \[\[pricing\.override\]\], with two brackets\), got a table$/],
    ['[pricing]\noverride = [1]', /\[pricing\] override must be an array of tables/],
    ['[[pricing.override]]\nprovider = "acme"\nmodel = "m"\ninput = 1\noutput = 1', /\[\[pricing\.override\]\] #1 provider must be one of "anthropic", "openai", "gemini", "xai", got "acme"$/],
    ['[[pricing.override]]\nmodel = "m"\ninput = 1\noutput = 1', /\[\[pricing\.override\]\] #1 provider is missing: it must be one of/],
    ['[[pricing.override]]\nprovider = "xai"\nmodel = " "\ninput = 1\noutput = 1', /\[\[pricing\.override\]\] #1 model must be a model id or a glob with \*, got " "$/],
    ['[[pricing.override]]\nprovider = "xai"\nmodel = "g"\ninput = 1\noutput = 1\n[[pricing.override]]\nprovider = "xai"\nmodel = "m"\noutput = 1', /\[\[pricing\.override\]\] #2 input is missing: it must be a non-negative number \(USD per million tokens\)$/],
    ['[[pricing.override]]\nprovider = "xai"\nmodel = "m"\ninput = 1\noutput = -1', /\[\[pricing\.override\]\] #1 output must be a non-negative number \(USD per million tokens\), got -1$/],
    ['[[pricing.override]]\nprovider = "xai"\nmodel = "m"\ninput = 1\noutput = 1\ncache_read = "0.1"', /#1 cache_read must be a non-negative number .*, got "0\.1"$/],
    ['[[pricing.override]]\nprovider = "xai"\nmodel = "m"\ninput = 1\noutput = 1\ncache_write_5m = inf', /#1 cache_write_5m must be a non-negative number .*, got Infinity$/],
    ['[[pricing.override]]\nprovider = "xai"\nmodel = "m"\ninput = 1\noutput = 1\ncache_write_1h = nan', /#1 cache_write_1h must be a non-negative number .*, got NaN$/],
  ];
  for (const [toml, message] of cases) failsWithFile(toml, message);
});

test('ca_file: relative to config.toml, ~/ expanded, must be PEM, must be readable', () => {
  const home = homeWith('[upstream]\nca_file = "~/certs/corp.pem"\n');
  mkdirSync(join(home, 'certs'));
  writeFileSync(join(home, 'certs', 'corp.pem'), PEM);
  assert.equal(load(home).upstream.caFile, join(home, 'certs', 'corp.pem'));

  const rel = homeWith('[upstream]\nca_file = "../certs/corp.pem"\n');
  mkdirSync(join(rel, 'certs'));
  writeFileSync(join(rel, 'certs', 'corp.pem'), PEM);
  assert.equal(load(rel).upstream.caFile, join(rel, 'certs', 'corp.pem'));

  assert.equal(load(homeWith('[upstream]\nca_file = ""\nproxy = ""\n')).upstream.caFile, null, 'empty = unset');

  const notPem = homeWith('[upstream]\nca_file = "x.pem"\n');
  writeFileSync(join(notPem, '.halton-meter', 'x.pem'), 'hello');
  fails(() => load(notPem), /\[upstream\] ca_file is not a PEM certificate file: .*x\.pem, got "x\.pem"$/);
});

test('ca_file that cannot be read', () => {
  const home = homeWith('[upstream]\nca_file = "locked.pem"\n');
  const pem = join(home, '.halton-meter', 'locked.pem');
  writeFileSync(pem, PEM);
  chmodSync(pem, 0o000);
  const expected = /\[upstream\] ca_file cannot be read \(EACCES\): .*locked\.pem, got "locked\.pem"$/;
  if (process.getuid?.() !== 0) {
    fails(() => load(home), expected);
    return;
  }
  // root reads any file, so run the load as an unprivileged user.
  chmodSync(home, 0o755);
  chmodSync(join(home, '.halton-meter'), 0o755);
  const loadJs = new URL('../../src/config/load.js', import.meta.url).href;
  const script = `import { loadConfig } from ${JSON.stringify(loadJs)};
    try { loadConfig({ env: { HOME: ${JSON.stringify(home)} } }); console.log('{}'); }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { code?: string; message?: string };
  assert.equal(out.code, 'bad_config');
  assert.match(out.message ?? '', expected);
});

test('port 8080 is refused wherever it comes from', () => {
  failsWithFile('[daemon]\napi_port = 8080\n', /\[daemon\] api_port must not be 8080: halton-meter never uses port 8080, got 8080$/);
  fails(() => load(tmpHome(), { HALTON_METER_INTERNAL_PORT: '8080' }), /^HALTON_METER_INTERNAL_PORT must not be 8080/);
  fails(() => load(tmpHome(), {}, { edgePort: 8080 }), /^--edge-port must not be 8080/, 'bad_argument');
});

test('ports must be distinct, and the message says where each came from', () => {
  failsWithFile(
    '[daemon]\nedge_port = 9000\napi_port = 9000\n',
    /edge port \(\[daemon\] edge_port in .*config\.toml\) and api port \(\[daemon\] api_port in .*config\.toml\) are both 9000$/,
  );
  fails(() => load(tmpHome(), { HALTON_METER_API_PORT: '8081' }), /edge port \(default\) and api port \(HALTON_METER_API_PORT\) are both 8081$/);
  fails(() => load(tmpHome(), {}, { internalPort: 8765 }), /internal port \(--internal-port\) and api port \(default\) are both 8765$/);
});

test('bad environment values and flags name the variable or flag', () => {
  for (const v of ['80x1', '-1', '0x1F90', '1e4', '65536']) {
    fails(() => load(tmpHome(), { HALTON_METER_EDGE_PORT: v }), new RegExp(`^HALTON_METER_EDGE_PORT must be an integer 1-65535, got "${v}"$`));
  }
  const e = fails(() => load(tmpHome(), { HALTON_METER_LOG_LEVEL: 'loud' }), /^HALTON_METER_LOG_LEVEL must be one of .*, got "loud"$/);
  assert.match(e.hint ?? '', /unset HALTON_METER_LOG_LEVEL/);
  fails(() => load(tmpHome(), {}, { apiPort: Number.NaN }), /^--api-port must be an integer 1-65535, got NaN$/, 'bad_argument');
  fails(() => load(tmpHome(), {}, { logLevel: 'trace' }), /^--log-level must be one of/, 'bad_argument');
});

test('syntax errors carry file:line:column', () => {
  const e = failsWithFile('[daemon]\nedge_port = = 1\n', /config\.toml:2:13: expected a value, found "="$/);
  assert.match(e.hint ?? '', /syntax/);
  failsWithFile('[daemon]\n[daemon]\n', /config\.toml:2:1: duplicate table \[daemon\]$/);
});

test('config.toml that is not UTF-8 or not a file', () => {
  const home = tmpHome();
  mkdirSync(join(home, '.halton-meter'));
  writeFileSync(join(home, '.halton-meter', 'config.toml'), Buffer.from([0x61, 0x20, 0x3d, 0x20, 0x22, 0xff, 0x22]));
  fails(() => load(home), /config\.toml is not valid UTF-8$/);
  const dir = tmpHome();
  mkdirSync(join(dir, '.halton-meter', 'config.toml'), { recursive: true });
  fails(() => load(dir), /^cannot read .*config\.toml: /);
});

test('unknown keys are warnings, not errors, with a suggestion when close', () => {
  const home = homeWith(
    '[daemon]\nedge_prot = 1\n[upstream]\nresolv = {}\n[dashboard]\nx = 1\n[[pricing.override]]\nprovider = "xai"\nmodel = "m"\ninput = 1\noutput = 1\ncache_reed = 1\n',
  );
  const { config, warnings } = loadConfig({ env: { HOME: home } });
  assert.equal(config.ports.edge, 8081);
  const file = join(home, '.halton-meter', 'config.toml');
  assert.deepEqual(warnings, [
    `${file}: unknown key [daemon] edge_prot (ignored; did you mean edge_port?)`,
    `${file}: unknown key [upstream] resolv (ignored; did you mean resolve?)`,
    `${file}: unknown key [[pricing.override]] #1 cache_reed (ignored; did you mean cache_read?)`,
    `${file}: unknown key dashboard (ignored)`,
  ]);
});

test('cors: an empty list allows no origin', () => {
  assert.deepEqual(load(homeWith('[cors]\nallow_origins = []\n')).cors.allowOrigins, []);
});

// ---- effective-ports.json ------------------------------------------------------------------------

const EFF: EffectivePorts = {
  edge_port: 18081,
  internal_port: 18090,
  api_port: 18765,
  written_by: 'daemon',
  pid: 123,
  written_at: '2025-01-02T03:04:05.000Z',
};

test('effective ports: write, read back, and the JSON shape of SPEC §1', () => {
  const dir = join(tmpHome(), 'deep', 'data');
  const path = join(dir, 'effective-ports.json');
  assert.equal(readEffectivePorts(path), null, 'missing file: null');
  assert.deepEqual(inspectEffectivePorts(path), { state: 'missing' });
  writeEffectivePorts(path, EFF);
  assert.deepEqual(readEffectivePorts(path), EFF);
  assert.deepEqual(inspectEffectivePorts(path), { state: 'ok', value: EFF });
  assert.equal(
    readFileSync(path, 'utf8'),
    '{"edge_port":18081,"internal_port":18090,"api_port":18765,"written_by":"daemon","pid":123,"written_at":"2025-01-02T03:04:05.000Z"}\n',
  );
  const next: EffectivePorts = { ...EFF, edge_port: 18082, written_by: 'init' };
  writeEffectivePorts(path, next);
  assert.deepEqual(readEffectivePorts(path), next);
  assert.deepEqual(readdirSync(dir), ['effective-ports.json'], 'no temp file left behind');
});

test('effective ports: each component records its own ports, keeping the others', () => {
  const path = join(tmpHome(), 'effective-ports.json');
  const at = (iso: string) => () => new Date(iso);
  updateEffectivePorts(path, { edge_port: 18081 }, 'edge', { pid: 11, now: at('2025-01-01T00:00:00Z') });
  assert.deepEqual(readEffectivePorts(path), { edge_port: 18081, written_by: 'edge', pid: 11, written_at: '2025-01-01T00:00:00.000Z' });
  updateEffectivePorts(path, { internal_port: 18090, api_port: 18765 }, 'daemon', { pid: 22, now: at('2025-01-01T00:00:01Z') });
  assert.deepEqual(readEffectivePorts(path), { ...EFF, pid: 22, written_at: '2025-01-01T00:00:01.000Z' });
  // The daemon came back on a port the old file gave the edge: that stale entry goes.
  updateEffectivePorts(path, { internal_port: 18081 }, 'daemon', { pid: 33 });
  const after = readEffectivePorts(path);
  assert.equal(after?.edge_port, undefined);
  assert.equal(after?.internal_port, 18081);
  assert.equal(after?.api_port, 18765);
  assert.equal(after?.pid, 33);
  // A corrupt file is replaced, not a reason to fail.
  writeFileSync(path, '{oops');
  updateEffectivePorts(path, { edge_port: 18081 }, 'edge');
  assert.equal(readEffectivePorts(path)?.edge_port, 18081);
  assert.equal(readEffectivePorts(path)?.pid, process.pid);
});

test('effective ports: a file without metadata, or with some ports only, is still usable', () => {
  const path = join(tmpHome(), 'effective-ports.json');
  writeFileSync(path, '{"edge_port":8081,"internal_port":8090,"api_port":8765}');
  assert.deepEqual(readEffectivePorts(path), {
    edge_port: 8081,
    internal_port: 8090,
    api_port: 8765,
    written_by: 'unknown',
    pid: null,
    written_at: null,
  });
  writeFileSync(path, '{"edge_port":8082,"internal_port":null}');
  assert.deepEqual(readEffectivePorts(path), { edge_port: 8082, written_by: 'unknown', pid: null, written_at: null });
});

test('effective ports: a corrupt file is reported, never thrown', () => {
  const cases: [string, RegExp][] = [
    ['', /not valid JSON/],
    ['{"edge_port":8081,', /not valid JSON/],
    ['[8081, 8090, 8765]', /expected a JSON object/],
    ['null', /expected a JSON object/],
    ['{"edge_port":"8081","internal_port":8090,"api_port":8765}', /edge_port must be an integer 1-65535, got "8081"/],
    ['{"edge_port":8081,"api_port":0}', /api_port must be an integer 1-65535, got 0/],
    ['{"edge_port":8080,"internal_port":8090,"api_port":8765}', /edge_port must not be 8080/],
    ['{"edge_port":8081,"internal_port":8090,"api_port":8081}', /edge_port and api_port are both 8081/],
  ];
  for (const [body, problem] of cases) {
    const path = join(tmpHome(), 'effective-ports.json');
    writeFileSync(path, body);
    const reported: string[] = [];
    assert.equal(readEffectivePorts(path, (p) => reported.push(p)), null, body);
    assert.equal(reported.length, 1);
    assert.ok(reported[0].startsWith(`${path}: `), reported[0]);
    assert.match(reported[0], problem);
    assert.equal(readEffectivePorts(path), null, 'no callback is fine too');
  }
  const s = inspectEffectivePorts(tmpHome());
  assert.equal(s.state, 'corrupt', 'a directory in its place');
});

test('effective ports: write failures are MeterError io; invalid ports are refused', () => {
  const file = join(tmpHome(), 'plain-file');
  writeFileSync(file, 'x');
  fails(() => writeEffectivePorts(join(file, 'effective-ports.json'), EFF), /^cannot write .*plain-file\/effective-ports\.json: /, 'io');
  fails(() => updateEffectivePorts(join(file, 'effective-ports.json'), { edge_port: 1 }, 'edge'), /^cannot write /, 'io');
  const path = join(tmpHome(), 'effective-ports.json');
  fails(() => writeEffectivePorts(path, { ...EFF, edge_port: 8080 }), /refusing to write invalid ports .*edge_port = 8080/, 'internal');
  fails(() => writeEffectivePorts(path, { ...EFF, api_port: 18081 }), /refusing .*edge_port and api_port are both 18081/, 'internal');
});

test('mergeEffective: env/flag ports > effective-ports.json > config.toml', () => {
  const config = load(homeWith('[daemon]\nedge_port = 9081\n'));
  assert.deepEqual(mergeEffective(config, null), { edge: 9081, internal: 8090, api: 8765 }, 'no file: what is wanted');
  assert.deepEqual(mergeEffective(config, EFF), { edge: 18081, internal: 18090, api: 18765 }, 'the file reflects what is bound');
  const partial: EffectivePorts = { edge_port: 18081, written_by: 'edge', pid: 1, written_at: null };
  assert.deepEqual(mergeEffective(config, partial), { edge: 18081, internal: 8090, api: 8765 }, 'unrecorded ports from config');

  const fromEnv = load(tmpHome(), { HALTON_METER_API_PORT: '28765' });
  assert.deepEqual(mergeEffective(fromEnv, EFF), { edge: 18081, internal: 18090, api: 28765 }, 'an explicit env port wins');
  const fromFlag = load(tmpHome(), {}, { edgePort: 38081 });
  assert.deepEqual(mergeEffective(fromFlag, EFF), { edge: 38081, internal: 18090, api: 18765 });

  const clash = load(tmpHome(), { HALTON_METER_EDGE_PORT: '18090' });
  assert.deepEqual(mergeEffective(clash, EFF), { edge: 18090, internal: 8090, api: 8765 }, 'a clash falls back to config');

  const handBuilt: Config = { ...config, portSources: undefined };
  assert.deepEqual(mergeEffective(handBuilt, EFF), { edge: 18081, internal: 18090, api: 18765 }, 'no sources: nothing explicit');
});
