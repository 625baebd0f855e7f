// The local API (issue 5, must-show 2) on a real daemon: every route and alias of
// ../shared/docs/api.md, cursor pagination walked to the end, CSV against JSON, 404s and 400s, and
// the Host and CORS refusals. Data: rows seeded into the daemon's own database file (sums checked by
// hand below) plus one real call through the edge, whose cost breakdown is checked against rates
// computed independently from the genai-prices data.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import type { RequestRow } from '../../src/core/request-row.js';
import { archiveProject, insertRequests, openDb } from '../../src/store/index.js';
import { basePrices, expectedMinor } from '../helpers/expected-cost.js';
import { repoRoot, startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { startMeter, type MeterProcs } from '../helpers/meter.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

const run = promisify(execFile);
const BIN = join(repoRoot(), 'bin', 'halton-meter.js');
const ALLOWED_ORIGIN = 'http://localhost:3000';

let pki: TestPki;
let fake: FakeProvider;
let meter: MeterProcs;

// Seeded rows: fixed days in the past so the sums do not depend on today, except THIS_MONTH rows
// which are placed in the current month for the projects' month figures.
const now = new Date();
const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
const iso = (ms: number): string => new Date(ms).toISOString();

let seq = 0;
function row(o: Partial<RequestRow>): RequestRow {
  seq++;
  return {
    id: `seed-${String(seq).padStart(4, '0')}`,
    projectSlug: 'alpha',
    provider: 'anthropic',
    mode: 'api',
    requestKind: 'messages',
    host: 'api.anthropic.com',
    path: '/v1/messages',
    model: 'claude-sonnet-4-5',
    modelRequested: null,
    statusCode: 200,
    errorClass: null,
    stream: false,
    inputTokens: 100,
    cacheReadTokens: 300,
    cacheWrite5mTokens: 50,
    cacheWrite1hTokens: 50,
    outputTokens: 10,
    thinkingTokens: 0,
    webSearchRequests: 0,
    costUsdMinorUnits: 1000,
    costReason: null,
    ratesSource: 'bundled-2026-08-21',
    serviceTier: null,
    latencyMs: 100,
    ttfbMs: 50,
    tokensComplete: true,
    usageSource: 'reported',
    outcome: 'completed',
    attributionRule: 'git_root',
    clientPid: null,
    clientName: null,
    providerRequestId: null,
    usageJson: null,
    requestedAt: '2026-03-10T10:00:00.000Z',
    completedAt: '2026-03-10T10:00:01.000Z',
    ...o,
  };
}

// 2026-03-10..12: alpha 3 anthropic rows ($0.01 each) + 2 openai rows ($0.02 each, one a 429);
// org/beta 4 gemini rows ($0.005), one without a cost. 25 more alpha rows in the current month for
// paging. An archived project and the self-test project, both left out of lists by default.
const SEED: RequestRow[] = [
  row({ requestedAt: '2026-03-10T10:00:00.000Z' }),
  row({ requestedAt: '2026-03-11T10:00:00.000Z' }),
  row({ requestedAt: '2026-03-11T11:00:00.000Z' }),
  row({ provider: 'openai', model: 'gpt-5', host: 'api.openai.com', path: '/v1/chat/completions', costUsdMinorUnits: 2000, inputTokens: 1000, cacheReadTokens: 0, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0, outputTokens: 200, requestedAt: '2026-03-11T12:00:00.000Z' }),
  row({ provider: 'openai', model: 'gpt-5', host: 'api.openai.com', path: '/v1/chat/completions', costUsdMinorUnits: 2000, inputTokens: 1000, cacheReadTokens: 0, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0, outputTokens: 200, statusCode: 429, errorClass: 'rate_limit_error', requestedAt: '2026-03-12T12:00:00.000Z' }),
  ...[0, 1, 2, 3].map((i) =>
    row({ projectSlug: 'org/beta', provider: 'gemini', model: 'gemini-2.5-pro', host: 'generativelanguage.googleapis.com', path: '/v1beta/models/gemini-2.5-pro:generateContent', costUsdMinorUnits: i === 3 ? null : 500, costReason: i === 3 ? 'unknown model' : null, inputTokens: 400, cacheReadTokens: 0, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0, outputTokens: 40, requestedAt: `2026-03-1${i % 3}T15:00:00.000Z` }),
  ),
  ...Array.from({ length: 25 }, (_, i) => row({ costUsdMinorUnits: 100, requestedAt: iso(monthStart + i * 60_000) })),
  row({ projectSlug: 'old-project', requestedAt: '2026-03-10T09:00:00.000Z' }),
  row({ projectSlug: 'halton-meter:selftest', provider: 'selftest', costUsdMinorUnits: 0, requestedAt: '2026-03-10T09:00:00.000Z' }),
];

function seed(dbPath: string): void {
  const db = openDb(dbPath);
  try {
    insertRequests(db, SEED);
    archiveProject(db, 'old-project');
  } finally {
    db.close();
  }
}

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw request: Host and Origin exactly as given (fetch would not let us forge Host). */
function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: meter.apiPort, path, method, headers: { host: `127.0.0.1:${meter.apiPort}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function json<T = Record<string, unknown>>(path: string): Promise<T> {
  const r = await get(path);
  assert.equal(r.status, 200, `${path}: ${r.body}`);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  return JSON.parse(r.body) as T;
}

async function errorOf(path: string, status: number, code: string): Promise<string> {
  const r = await get(path);
  assert.equal(r.status, status, `${path}: ${r.body}`);
  const e = (JSON.parse(r.body) as { error: { code: string; message: string } }).error;
  assert.equal(e.code, code, path);
  assert.ok(e.message.length > 0);
  return e.message;
}

interface Item {
  id: string;
  provider: string;
  model: string | null;
  cost_usd_minor_units: number | null;
  requested_at: string;
  status: string;
  [k: string]: unknown;
}
interface Page {
  items: Item[];
  next_cursor: string | null;
  total: number;
}

before(async () => {
  pki = makeTestPki();
  fake = await startFakeProvider(pki);
  meter = await startMeter({ pki, upstreamPort: fake.port, extraToml: `\n[cors]\nallow_origins = ["${ALLOWED_ORIGIN}"]\n` });
  seed(meter.dbPath);
});

after(async () => {
  await meter?.stop();
  await fake?.close();
});

describe('GET /v1/stats', () => {
  test('a bounded period: summary and every breakdown, summed by hand', async () => {
    const s = await json<{
      summary: Record<string, number | string | null>;
      by_day: Array<{ date: string; requests: number; cost_usd_minor_units: number }>;
      by_day_by_provider: Array<{ date: string; provider: string; requests: number; cost_usd_minor_units: number }>;
      by_provider: Array<{ provider: string; requests: number; cost_usd_minor_units: number }>;
      by_model: Array<{ provider: string; model: string; requests: number; input_tokens: number; output_tokens: number; cost_usd_minor_units: number }>;
      by_project: Array<{ slug: string; requests: number; cost_usd_minor_units: number }>;
    }>('/v1/stats?since=2026-03-09&until=2026-03-13');
    assert.deepEqual(s.summary, {
      total_requests: 9,
      total_input_tokens: 3 * 100 + 2 * 1000 + 4 * 400,
      total_output_tokens: 3 * 10 + 2 * 200 + 4 * 40,
      total_thinking_tokens: 0,
      total_cache_read_tokens: 900,
      total_cache_write_tokens: 300,
      total_cost_usd_minor_units: 3 * 1000 + 2 * 2000 + 3 * 500,
      estimated_cost_usd_minor_units: 0,
      unknown_cost_requests: 1,
      // cache reads over all prompt tokens: 900 / (3900 + 900 + 300)
      cache_hit_rate: Math.round((900 / 5100) * 10_000) / 10_000,
      active_projects: 2,
      models_in_use: 3,
      last_request_at: '2026-03-12T15:00:00.000Z',
    });
    // Five days, gaps filled with zeros, ascending.
    assert.deepEqual(
      s.by_day.map((d) => [d.date, d.requests, d.cost_usd_minor_units]),
      [
        ['2026-03-09', 0, 0],
        ['2026-03-10', 3, 1000 + 500],
        ['2026-03-11', 4, 1000 + 1000 + 2000 + 500],
        ['2026-03-12', 2, 2000 + 500],
        ['2026-03-13', 0, 0],
      ],
    );
    assert.deepEqual(
      s.by_day_by_provider.filter((d) => d.date === '2026-03-11').map((d) => [d.provider, d.requests, d.cost_usd_minor_units]),
      [
        ['anthropic', 2, 2000],
        ['gemini', 1, 500],
        ['openai', 1, 2000],
      ],
    );
    // By money, largest first.
    assert.deepEqual(s.by_provider, [
      { provider: 'openai', requests: 2, cost_usd_minor_units: 4000, unknown_cost_requests: 0 },
      { provider: 'anthropic', requests: 3, cost_usd_minor_units: 3000, unknown_cost_requests: 0 },
      { provider: 'gemini', requests: 4, cost_usd_minor_units: 1500, unknown_cost_requests: 1 },
    ]);
    assert.deepEqual(s.by_model[0], { provider: 'openai', model: 'gpt-5', requests: 2, input_tokens: 2000, output_tokens: 400, cost_usd_minor_units: 4000, unknown_cost_requests: 0 });
    assert.deepEqual(s.by_project, [
      { slug: 'alpha', requests: 5, cost_usd_minor_units: 7000, unknown_cost_requests: 0 },
      { slug: 'org/beta', requests: 4, cost_usd_minor_units: 1500, unknown_cost_requests: 1 },
    ]);
  });

  test('the same sums as `report --json` (one aggregation)', async () => {
    const api = await json<{ summary: Record<string, number> }>('/v1/stats?since=2026-03-01&until=2026-03-31');
    const { stdout } = await run(process.execPath, [BIN, 'report', '--from', '2026-03-01', '--to', '2026-03-31', '--json'], { env: meter.env });
    const rep = JSON.parse(stdout) as { summary: Record<string, number> };
    assert.equal(api.summary.total_requests, rep.summary.requests);
    assert.equal(api.summary.total_cost_usd_minor_units, rep.summary.cost_usd_minor_units);
    assert.equal(api.summary.total_input_tokens, rep.summary.input_tokens);
    assert.equal(api.summary.total_cache_write_tokens, rep.summary.cache_write_tokens);
    assert.equal(api.summary.active_projects, rep.summary.projects);
  });

  test('?project= and /v1/projects/{slug}/stats agree; a slug with "/" works encoded or not', async () => {
    const a = await json('/v1/stats?since=2026-03-09&until=2026-03-13&project=org%2Fbeta');
    const b = await json('/v1/projects/org%2Fbeta/stats?since=2026-03-09&until=2026-03-13');
    const c = await json('/v1/projects/org/beta/stats?since=2026-03-09&until=2026-03-13');
    assert.deepEqual(a, b);
    assert.deepEqual(b, c);
    assert.equal((a.summary as Record<string, number>).total_requests, 4);
  });

  test('no since: all time (the archived and self-test projects left out)', async () => {
    const s = await json<{ summary: Record<string, number>; by_project: Array<{ slug: string }> }>('/v1/stats');
    // (The real call of a later test is not made yet: tests in a file run in order.)
    assert.equal(s.summary.total_requests, 9 + 25);
    assert.deepEqual(s.by_project.map((p) => p.slug).sort(), ['alpha', 'org/beta']);
  });

  test('bad since/until: 400 naming the parameter', async () => {
    assert.match(await errorOf('/v1/stats?since=yesterday', 400, 'bad_argument'), /since "yesterday" is not a date/);
    assert.match(await errorOf('/v1/stats?since=2026-03-10&until=2026-03-01', 400, 'bad_argument'), /until is not after since/);
    await errorOf('/v1/stats?project=nope', 404, 'not_found');
  });
});

describe('GET /v1/projects', () => {
  test('list: archived shown with archived_at, self-test not; stats by hand', async () => {
    const list = await json<Array<{ slug: string; archived_at: string | null; stats: Record<string, unknown> }>>('/v1/projects');
    const slugs = list.map((p) => p.slug);
    assert.ok(!slugs.includes('halton-meter:selftest'));
    assert.ok(list.find((p) => p.slug === 'old-project')?.archived_at);
    const alpha = list.find((p) => p.slug === 'alpha');
    assert.ok(alpha);
    assert.deepEqual(alpha.stats, {
      requests_this_month: 25,
      cost_usd_this_month_minor_units: 2500,
      previous_month_cost_usd_minor_units: monthStart > Date.UTC(2026, 3, 1) ? 0 : 7000,
      all_time_cost_usd_minor_units: 7000 + 2500,
      all_time_requests: 30,
      last_active_at: iso(monthStart + 24 * 60_000),
      primary_model: 'claude-sonnet-4-5', // 28 requests vs 2
      primary_provider: 'anthropic',
      top_model: 'claude-sonnet-4-5', // $0.055 vs $0.04
      top_provider: 'anthropic',
    });
    assert.deepEqual(await json('/api/projects'), list, '/api/projects is /v1/projects');
  });

  test('one project; 404 when unknown', async () => {
    const beta = await json<{ slug: string; stats: Record<string, unknown> }>('/v1/projects/org%2Fbeta');
    assert.equal(beta.slug, 'org/beta');
    assert.equal(beta.stats.all_time_requests, 4);
    assert.equal(beta.stats.all_time_cost_usd_minor_units, 1500);
    assert.equal(beta.stats.primary_model, 'gemini-2.5-pro');
    for (const p of ['/v1/projects/nope', '/v1/projects/nope/stats', '/v1/projects/nope/requests', '/v1/projects/nope/requests.csv']) {
      assert.match(await errorOf(p, 404, 'not_found'), /no project "nope"/);
    }
  });
});

describe('requests: cursor pages, provider filter, CSV', () => {
  async function walk(base: string, limit: number): Promise<{ items: Item[]; pages: number; total: number }> {
    const items: Item[] = [];
    let cursor: string | null = null;
    let pages = 0;
    let total = -1;
    do {
      const sep = base.includes('?') ? '&' : '?';
      const page: Page = await json<Page>(`${base}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.ok(page.items.length <= limit);
      if (total === -1) total = page.total;
      assert.equal(page.total, total, 'total is the same on every page');
      items.push(...page.items);
      cursor = page.next_cursor;
      pages++;
    } while (cursor !== null);
    return { items, pages, total };
  }

  test('every row once, newest first, over pages of 7', async () => {
    const { items, pages, total } = await walk('/v1/projects/alpha/requests', 7);
    assert.equal(total, 30);
    assert.equal(items.length, 30);
    assert.equal(pages, 5);
    assert.equal(new Set(items.map((i) => i.id)).size, 30, 'no row twice');
    for (let i = 1; i < items.length; i++) assert.ok(items[i - 1].requested_at >= items[i].requested_at, 'newest first');
    assert.deepEqual(Object.keys(items[0]).sort(), [
      'cache_read_tokens',
      'cache_write_tokens',
      'cost_usd_minor_units',
      'id',
      'input_tokens',
      'latency_ms',
      'mode',
      'model',
      'output_tokens',
      'project',
      'provider',
      'requested_at',
      'status',
      'thinking_tokens',
      'tokens_complete',
    ]);
    const limited = items.find((i) => i.status === 'rate_limit_error');
    assert.ok(limited, 'the 429 row carries its error class as status');
    assert.equal(items.filter((i) => i.status === 'success').length, 29);
  });

  test('?provider= filters, and the default page is 50', async () => {
    const { items, total } = await walk('/v1/projects/alpha/requests?provider=openai', 1);
    assert.equal(total, 2);
    assert.deepEqual([...new Set(items.map((i) => i.provider))], ['openai']);
    const first = await json<Page>('/v1/projects/alpha/requests');
    assert.equal(first.items.length, 30);
    assert.equal(first.next_cursor, null);
  });

  test('/api/calls: every project but the self-test, or ?project=', async () => {
    const all = await walk('/api/calls', 50);
    assert.ok(all.items.every((i) => i.provider !== 'selftest'));
    // The archived project's rows are listed (it is named in each item); the self-test's are not.
    assert.equal(all.total, 30 + 4 + 1);
    const beta = await walk('/api/calls?project=org%2Fbeta', 3);
    assert.equal(beta.total, 4);
    assert.deepEqual(beta.items, (await walk('/v1/projects/org%2Fbeta/requests', 3)).items);
  });

  test('bad limit, cursor, provider: 400', async () => {
    await errorOf('/v1/projects/alpha/requests?limit=0', 400, 'bad_argument');
    await errorOf('/v1/projects/alpha/requests?limit=501', 400, 'bad_argument');
    await errorOf('/v1/projects/alpha/requests?limit=abc', 400, 'bad_argument');
    await errorOf('/v1/projects/alpha/requests?cursor=not-a-cursor', 400, 'bad_argument');
    await errorOf(`/v1/projects/alpha/requests?cursor=${Buffer.from('{"a":1}').toString('base64url')}`, 400, 'bad_argument');
    assert.match(await errorOf('/v1/projects/alpha/requests?provider=acme', 400, 'bad_argument'), /unknown provider "acme"/);
  });

  test('requests.csv: a download with a header line and the same rows as the JSON', async () => {
    const r = await get('/v1/projects/alpha/requests.csv');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/csv/);
    assert.match(String(r.headers['content-disposition']), /^attachment; filename="alpha-requests\.csv"$/);
    const lines = r.body.trimEnd().split('\n');
    const header = lines[0].split(',');
    assert.deepEqual(header.slice(0, 4), ['id', 'project', 'requested_at', 'provider']);
    const { items } = await walk('/v1/projects/alpha/requests', 50);
    assert.equal(lines.length - 1, items.length);
    for (const [i, line] of lines.slice(1).entries()) {
      const cells = line.split(',');
      const rec = Object.fromEntries(header.map((h, k) => [h, cells[k]]));
      const it = items[i];
      assert.equal(rec.id, it.id);
      assert.equal(rec.requested_at, it.requested_at);
      assert.equal(rec.cost_usd_minor_units, it.cost_usd_minor_units === null ? '' : String(it.cost_usd_minor_units));
      assert.equal(rec.status, it.status);
    }
    const csvOpenai = await get('/v1/projects/alpha/requests.csv?provider=openai');
    assert.equal(csvOpenai.body.trimEnd().split('\n').length, 3);
    const slash = await get('/v1/projects/org%2Fbeta/requests.csv');
    assert.match(String(slash.headers['content-disposition']), /filename="org_beta-requests\.csv"/);
    // The row without a cost has an empty cell, never 0.
    assert.ok(slash.body.split('\n').some((l) => /,gemini,gemini-2\.5-pro,api,success,400,40,0,0,0,,/.test(l)), slash.body);
  });
});

describe('GET /v1/requests/{id}: the full row and its cost by token class', () => {
  test('a real call through the edge: lines add up to the stored cost, rates as published', async () => {
    const usage = { input_tokens: 2000, cache_creation_input_tokens: 3000, cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 }, cache_read_input_tokens: 8000, output_tokens: 500 };
    await run(
      'curl',
      ['-sS', '--fail-with-body', '-x', `http://api-real:x@127.0.0.1:${meter.edgePort}`, '--cacert', meter.clientBundlePath, 'https://api.anthropic.com/v1/messages',
        '-H', 'content-type: application/json', '-H', `x-fake-usage: ${JSON.stringify(usage)}`,
        '-d', JSON.stringify({ model: 'claude-opus-4-1', max_tokens: 32, messages: [{ role: 'user', content: 'api test' }] })],
      { env: { ...process.env, HTTPS_PROXY: '', https_proxy: '' } },
    );
    const [stored] = await meter.waitForRows(1, "p.slug = 'api-real'");
    const page = await json<Page>('/v1/projects/api-real/requests');
    assert.equal(page.items.length, 1);
    const d = await json<Record<string, unknown> & { cost_breakdown: Record<string, unknown> & { lines: Array<Record<string, unknown>> } }>(`/v1/requests/${page.items[0].id}`);
    assert.equal(d.id, stored.id);
    assert.equal(d.cost_usd_minor_units, stored.cost_usd_minor_units);
    assert.equal(d.host, 'api.anthropic.com');
    assert.equal((d.usage as Record<string, unknown>).cache_read_input_tokens, 8000, 'the raw usage JSON');
    const b = d.cost_breakdown;
    assert.equal(b.source, stored.rates_source);
    assert.equal(b.total_cost_usd_minor_units, stored.cost_usd_minor_units);
    assert.equal(b.recomputed_cost_usd_minor_units, stored.cost_usd_minor_units);
    assert.equal(b.matches_stored, true);
    const p = basePrices('anthropic', 'claude-opus-4-1');
    const want: Record<string, [number, number]> = {
      input: [2000, p.input_mtok],
      cache_write_5m: [1000, p.cache_write_mtok],
      cache_write_1h: [2000, p.cache_write_1h_mtok],
      cache_read: [8000, p.cache_read_mtok],
      output: [500, p.output_mtok],
    };
    assert.deepEqual(b.lines.map((l) => l.token_class).sort(), Object.keys(want).sort());
    for (const l of b.lines) {
      const [tokens, rate] = want[String(l.token_class)];
      assert.equal(l.quantity, tokens, String(l.token_class));
      assert.equal(Number(l.rate_usd), rate, `${String(l.token_class)} rate`);
    }
    assert.equal(stored.cost_usd_minor_units, expectedMinor(Object.values(want)));
    // No secret of the call is in what the API shows.
    assert.doesNotMatch(JSON.stringify(d), /authorization|x-api-key|api test/i);
  });

  test('a seeded row with no cost says why; an unknown id is 404', async () => {
    const beta = await json<Page>('/v1/projects/org%2Fbeta/requests');
    const none = beta.items.find((i) => i.cost_usd_minor_units === null);
    assert.ok(none);
    const d = await json<{ cost_breakdown: { total_cost_usd_minor_units: number | null; note: string | null } }>(`/v1/requests/${none.id}`);
    assert.equal(d.cost_breakdown.total_cost_usd_minor_units, null);
    assert.equal(d.cost_breakdown.note, 'unknown model');
    await errorOf('/v1/requests/no-such-id', 404, 'not_found');
  });
});

describe('GET /v1/pricing and /api/pricing', () => {
  test('the bundled table in USD per million tokens', async () => {
    const p = await json<{ bundle: string; rates: Array<Record<string, unknown>> }>('/v1/pricing');
    assert.match(p.bundle, /^bundled-\d{4}-\d{2}-\d{2}$/);
    const opus = p.rates.find((r) => r.provider === 'anthropic' && r.model === 'claude-opus-4-1');
    assert.ok(opus);
    const want = basePrices('anthropic', 'claude-opus-4-1');
    assert.equal(opus.input, want.input_mtok);
    assert.equal(opus.output, want.output_mtok);
    assert.equal(opus.cache_read, want.cache_read_mtok);
    assert.ok(Array.isArray(opus.tiers));
    assert.equal(opus.source, p.bundle);
    assert.deepEqual(await json('/api/pricing'), p);
  });
});

describe('status routes, 404, 405', () => {
  test('/health and /v1/daemon/status', async () => {
    const h = await json<{ status: string; intercept_hosts: string[] }>('/health');
    assert.equal(h.status, 'ok');
    assert.ok(h.intercept_hosts.includes('api.anthropic.com'));
    const s = await json<Record<string, unknown>>('/v1/daemon/status');
    for (const k of ['last_seen_at', 'request_count_last_hour', 'uptime_s', 'version', 'rows_written', 'rows_failed', 'passthrough_connections', 'intercepted_connections']) {
      assert.ok(k in s, k);
    }
  });

  test('unknown API routes are JSON 404s; writes are 405', async () => {
    await errorOf('/v1/nope', 404, 'not_found');
    await errorOf('/api/nope', 404, 'not_found');
    const post = await get('/v1/projects', {}, 'POST');
    assert.equal(post.status, 405);
    const head = await get('/v1/projects', {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });
});

describe('Host and CORS refusals', () => {
  test('a Host that is not a loopback name is refused (DNS rebinding)', async () => {
    for (const host of ['evil.example', 'evil.example:8765', '10.0.0.1', 'localhost.evil.example']) {
      const r = await get('/v1/projects', { host });
      assert.equal(r.status, 403, host);
      assert.match(r.body, /loopback/);
    }
    for (const host of [`localhost:${meter.apiPort}`, `127.0.0.1:${meter.apiPort}`]) {
      assert.equal((await get('/v1/projects', { host })).status, 200, host);
    }
  });

  test('Origin: the configured one gets CORS headers, others are refused, preflight too', async () => {
    const okRes = await get('/v1/stats', { origin: ALLOWED_ORIGIN });
    assert.equal(okRes.status, 200);
    assert.equal(okRes.headers['access-control-allow-origin'], ALLOWED_ORIGIN);
    const bad = await get('/v1/stats', { origin: 'http://evil.example' });
    assert.equal(bad.status, 403);
    assert.equal(bad.headers['access-control-allow-origin'], undefined);
    assert.match(bad.body, /allow_origins/);
    const pre = await get('/v1/stats', { origin: ALLOWED_ORIGIN, 'access-control-request-method': 'GET' }, 'OPTIONS');
    assert.equal(pre.status, 204);
    assert.match(String(pre.headers['access-control-allow-methods']), /GET/);
    const badPre = await get('/v1/stats', { origin: 'http://evil.example', 'access-control-request-method': 'GET' }, 'OPTIONS');
    assert.equal(badPre.status, 403);
    // Its own origin (the dashboard's pages) is always allowed.
    assert.equal((await get('/v1/stats', { origin: `http://127.0.0.1:${meter.apiPort}` })).status, 200);
  });
});
