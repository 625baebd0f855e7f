// The dashboard (issue 5) in a real browser: Debian's chromium driven by playwright-core against a
// real daemon whose SQLite file was seeded with rows over several days, providers and projects,
// plus one call metered for real through the edge. Every number on screen is compared with what
// the JSON API answers; paging, the CSV download, deep links, escaping, the narrow layout, the
// CSP, and that nothing leaves loopback and nothing lands in the console are checked too.
// HALTON_SCREENSHOTS=1 also writes docs/screenshots/dashboard-*.png from this data.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { RequestRow } from '../../src/core/request-row.js';
import { insertRequests, openDb } from '../../src/store/index.js';
import { basePrices, expectedMinor } from '../helpers/expected-cost.js';
import { repoRoot, startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { startMeter, type MeterProcs } from '../helpers/meter.js';
import { makeTestPki } from '../helpers/pki.js';

const CHROMIUM = '/usr/bin/chromium';
const run = promisify(execFile);

// ------------------------------------------------------------------ what the user should read

/** Dollars from minor units (1 USD = 100,000), by string arithmetic: cents rounded half up; below a cent, exact with at least four decimals. */
function usd(minor: number | null): string {
  if (minor === null) return '—';
  const sign = minor < 0 ? '-' : '';
  const abs = BigInt(Math.abs(minor));
  if (abs !== 0n && abs < 1000n) {
    const five = abs.toString().padStart(5, '0');
    return `${sign}$0.${five.endsWith('0') ? five.slice(0, 4) : five}`;
  }
  const cents = (abs + 500n) / 1000n;
  const dollars = (cents / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}$${dollars}.${(cents % 100n).toString().padStart(2, '0')}`;
}
/** Every digit (1 minor unit = $0.00001), at least two: one request's cost. */
/** A model whose every row has no cost shows a dash, never $0.00. */
function modelCost(m: { requests: number; cost_usd_minor_units: number; unknown_cost_requests: number }): string {
  return m.unknown_cost_requests === m.requests ? '—' : usd(m.cost_usd_minor_units);
}

function usdExact(minor: number | null): string {
  if (minor === null) return '—';
  const abs = Math.abs(minor);
  let frac = String(abs % 100_000).padStart(5, '0');
  while (frac.length > 2 && frac.endsWith('0')) frac = frac.slice(0, -1);
  return `${minor < 0 ? '-' : ''}$${Math.floor(abs / 100_000).toLocaleString('en-US')}.${frac}`;
}
const int = (n: number | null): string => (n === null ? '—' : n.toLocaleString('en-US'));
const when = (iso: string): string => `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
const plural = (n: number): string => `${int(n)} request${n === 1 ? '' : 's'}`;

// ------------------------------------------------------------------ dates (UTC, as the API's)

const NOW = new Date();
const day = (d: Date): string => d.toISOString().slice(0, 10);
const addDays = (d: string, n: number): string => day(new Date(Date.parse(`${d}T00:00:00Z`) + n * 86_400_000));
const TODAY = day(NOW);
const MONTH_START = `${TODAY.slice(0, 8)}01`;
const LAST_MONTH_START = day(new Date(Date.UTC(NOW.getUTCFullYear(), NOW.getUTCMonth() - 1, 1)));
const LAST_MONTH_END = addDays(MONTH_START, -1);
const SINCE_30 = addDays(TODAY, -29);

/** A time `offset` days before today: for today, a point between midnight and now, so it is past. */
function timeAt(offset: number, seq: number): string {
  const midnight = Date.parse(`${TODAY}T00:00:00Z`);
  if (offset === 0) return new Date(midnight + Math.floor(((NOW.getTime() - midnight) * (seq + 1)) / 40)).toISOString();
  return new Date(midnight - offset * 86_400_000 + 8 * 3_600_000 + seq * 611_000).toISOString();
}

// ------------------------------------------------------------------ seed

interface Model {
  provider: RequestRow['provider'];
  host: string;
  path: string;
  model: string;
  prices: Record<string, number>;
}

const MODELS: Record<string, Model> = {
  sonnet: { provider: 'anthropic', host: 'api.anthropic.com', path: '/v1/messages', model: 'claude-sonnet-4-5', prices: basePrices('anthropic', 'claude-sonnet-4-5') },
  gpt5: { provider: 'openai', host: 'api.openai.com', path: '/v1/responses', model: 'gpt-5', prices: basePrices('openai', 'gpt-5') },
  flash: { provider: 'gemini', host: 'generativelanguage.googleapis.com', path: '/v1beta/models/gemini-2.5-flash:generateContent', model: 'gemini-2.5-flash', prices: basePrices('google', 'gemini-2.5-flash') },
  grok: { provider: 'xai', host: 'api.x.ai', path: '/v1/chat/completions', model: 'grok-4-0709', prices: basePrices('x-ai', 'grok-4-0709') },
};

// A model name is provider text: the page must show it as text, never run it.
const HOSTILE_MODEL = '<img src=x onerror="window.__pwned=1">';

let rand = 42;
const next = (n: number): number => {
  rand = (rand * 1_103_515_245 + 12_345) % 2 ** 31;
  return rand % n;
};

let seq = 0;
function seedRow(project: string, m: Model, offset: number, o: Partial<RequestRow> = {}): RequestRow {
  seq++;
  const input = 800 + next(12_000);
  const output = 150 + next(3_000);
  const cacheRead = m.provider === 'anthropic' || m.provider === 'openai' ? next(3) * 4_000 : 0;
  const cost = expectedMinor([
    [input, m.prices.input_mtok ?? 0],
    [output, m.prices.output_mtok ?? 0],
    [cacheRead, m.prices.cache_read_mtok ?? 0],
  ]);
  const requestedAt = timeAt(offset, seq % 30);
  return {
    id: `seed-${String(seq).padStart(4, '0')}`,
    projectSlug: project,
    provider: m.provider,
    mode: 'api',
    requestKind: null,
    host: m.host,
    path: m.path,
    model: m.model,
    modelRequested: m.model,
    statusCode: 200,
    errorClass: null,
    stream: seq % 2 === 0,
    inputTokens: input,
    cacheReadTokens: cacheRead,
    cacheWrite5mTokens: 0,
    cacheWrite1hTokens: 0,
    outputTokens: output,
    thinkingTokens: 0,
    webSearchRequests: 0,
    costUsdMinorUnits: cost,
    costReason: null,
    ratesSource: 'bundled',
    serviceTier: null,
    latencyMs: 300 + next(4_000),
    ttfbMs: 120,
    tokensComplete: true,
    usageSource: 'reported',
    outcome: 'completed',
    attributionRule: 'git_root',
    clientPid: null,
    clientName: 'node',
    providerRequestId: null,
    usageJson: JSON.stringify({ input_tokens: input, output_tokens: output, cache_read_input_tokens: cacheRead }),
    requestedAt,
    completedAt: new Date(Date.parse(requestedAt) + 1_500).toISOString(),
    ...o,
  };
}

function seedRows(): RequestRow[] {
  const rows: RequestRow[] = [];
  // alpha: two calls a day over 35 days, Claude and GPT-5 (with the rows below and the real call,
  // 73 rows: three pages of 25).
  for (let d = 0; d < 35; d++) rows.push(seedRow('alpha', MODELS.sonnet, d), seedRow('alpha', d % 3 === 0 ? MODELS.sonnet : MODELS.gpt5, d));
  // alpha: an overloaded error with no tokens and no cost.
  rows.push(
    seedRow('alpha', MODELS.sonnet, 2, {
      statusCode: 529, errorClass: 'overloaded_error', inputTokens: null, outputTokens: null, cacheReadTokens: null, costUsdMinorUnits: null, costReason: 'no usage', tokensComplete: false, usageJson: null,
    }),
  );
  // alpha: a stream the client cut off: tokens seen so far, flagged partial.
  rows.push(seedRow('alpha', MODELS.gpt5, 5, { outcome: 'aborted', errorClass: 'client_aborted', tokensComplete: false }));
  // beta: Gemini and Grok, one a day for 30 days.
  for (let d = 0; d < 30; d++) rows.push(seedRow('beta', d % 2 === 0 ? MODELS.flash : MODELS.grok, d));
  // team/web: a slug with a slash, and the hostile model name (unknown to pricing: no cost).
  for (let d = 0; d < 8; d++) rows.push(seedRow('team/web', MODELS.sonnet, d));
  rows.push(seedRow('team/web', { ...MODELS.gpt5, model: HOSTILE_MODEL }, 1, { costUsdMinorUnits: null, costReason: `unknown model ${HOSTILE_MODEL}` }));
  // Last month, whatever today's date: three calls on its third day.
  const lastMonthOffset = Math.round((Date.parse(`${TODAY}T00:00:00Z`) - Date.parse(`${addDays(LAST_MONTH_START, 2)}T00:00:00Z`)) / 86_400_000);
  for (let i = 0; i < 3; i++) rows.push(seedRow('beta', MODELS.grok, lastMonthOffset));
  return rows;
}

// ------------------------------------------------------------------ the page

async function settle(page: Page, view: string): Promise<void> {
  await page.locator(`main[aria-busy="false"][data-view="${view}"]`).waitFor({ timeout: 20_000 });
}

/** The text of every cell of a table, row by row, as the user reads it. */
async function cells(page: Page, tableId: string): Promise<string[][]> {
  return page.evaluate<string[][]>(
    `[...document.querySelectorAll('#${tableId} tbody tr')].map((tr) => [...tr.cells].map((td) => td.textContent.trim()))`,
  );
}

async function cardText(page: Page, key: string): Promise<{ value: string; sub: string }> {
  const c = page.locator(`[data-card="${key}"]`);
  return { value: ((await c.locator('.value').textContent()) ?? '').trim(), sub: ((await c.locator('.sub').textContent()) ?? '').trim() };
}

// ------------------------------------------------------------------ API shapes the test reads

interface StatsJson {
  summary: { total_requests: number; total_cost_usd_minor_units: number; cache_hit_rate: number | null; total_cache_read_tokens: number; unknown_cost_requests: number };
  by_day: Array<{ date: string; requests: number; cost_usd_minor_units: number }>;
  by_day_by_provider: Array<{ date: string; provider: string; requests: number; cost_usd_minor_units: number }>;
  by_model: Array<{ provider: string; model: string | null; requests: number; input_tokens: number; output_tokens: number; cost_usd_minor_units: number; unknown_cost_requests: number }>;
  by_project: Array<{ slug: string; requests: number; cost_usd_minor_units: number }>;
}
interface ProjectJson {
  slug: string;
  name: string;
  stats: {
    requests_this_month: number;
    cost_usd_this_month_minor_units: number;
    previous_month_cost_usd_minor_units: number;
    all_time_cost_usd_minor_units: number;
    all_time_requests: number;
    last_active_at: string | null;
    top_model: string | null;
    top_provider: string | null;
  };
}
interface ItemJson {
  id: string;
  provider: string;
  model: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  cache_read_tokens: number | null;
  cost_usd_minor_units: number | null;
  latency_ms: number | null;
  tokens_complete: boolean;
  requested_at: string;
  status: string;
}
interface PageJson {
  items: ItemJson[];
  next_cursor: string | null;
  total: number;
}
interface DetailJson extends ItemJson {
  cost_breakdown: {
    source: string;
    tier: string | null;
    lines: Array<{ token_class: string; quantity: number; unit: string; rate_usd: string | null; amount_usd: string | null; cost_usd_minor_units: number | null }>;
    total_cost_usd_minor_units: number | null;
    matches_stored: boolean;
  } | null;
}

// ------------------------------------------------------------------ the run

describe('dashboard', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium); the dashboard test needs a real browser` }, () => {
  let fake: FakeProvider;
  let meter: MeterProcs;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let origin: string;
  let realId: string;
  let seeded: RequestRow[];
  const requested: string[] = [];
  const consoleErrors: string[] = [];

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(origin + path);
    assert.equal(res.status, 200, `${path}: ${res.status} ${await res.clone().text()}`);
    return (await res.json()) as T;
  };

  const watch = (p: Page): void => {
    p.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(`${p.url()}: ${m.type()}: ${m.text()}`);
    });
    p.on('pageerror', (e) => consoleErrors.push(`${p.url()}: pageerror: ${e.message}`));
  };

  before(async () => {
    const pki = makeTestPki();
    fake = await startFakeProvider(pki);
    meter = await startMeter({ pki, upstreamPort: fake.port });
    origin = `http://127.0.0.1:${meter.apiPort}`;

    // Seeded history goes in while the daemon is down, as an older install's file would be.
    await meter.stopDaemon();
    seeded = seedRows();
    const db = openDb(meter.dbPath);
    insertRequests(db, seeded);
    db.close();
    await meter.startDaemon();

    // One call metered for real (cache reads and 5-minute cache writes), for the request page.
    await run('curl', [
      '-sS', '--fail-with-body', '-x', `http://alpha:x@127.0.0.1:${meter.edgePort}`, '--cacert', meter.clientBundlePath,
      'https://api.anthropic.com/v1/messages',
      '-H', 'content-type: application/json', '-H', 'x-api-key: sk-ant-test-secret',
      '-H', `x-fake-usage: ${JSON.stringify({ input_tokens: 1500, cache_read_input_tokens: 6000, cache_creation_input_tokens: 2000, cache_creation: { ephemeral_5m_input_tokens: 2000, ephemeral_1h_input_tokens: 0 }, output_tokens: 700 })}`,
      '-d', JSON.stringify({ model: 'claude-sonnet-4-5-20250929', max_tokens: 50, messages: [{ role: 'user', content: 'dashboard' }] }),
    ], { env: { ...process.env, HTTPS_PROXY: '', https_proxy: '' } });
    const [real] = await meter.waitForRows(1, "r.id NOT LIKE 'seed-%' AND r.provider != 'selftest'");
    realId = String(real.id);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true, colorScheme: 'light' });
    context.on('request', (r) => requested.push(r.url()));
    page = await context.newPage();
    watch(page);
  });

  after(async () => {
    await browser?.close();
    await meter?.stop();
    await fake?.close();
  });

  test('pages are served with a strict CSP; API paths are not the page', async () => {
    for (const path of ['/', '/projects', '/projects/alpha', '/projects/team%2Fweb', `/requests/${realId}`]) {
      const res = await fetch(origin + path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'self'/);
      assert.match(csp, /script-src 'self'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
      const html = await res.text();
      assert.doesNotMatch(html, /<script>|<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|\bon[a-z]+=/i, 'no inline script, style or handlers');
      assert.doesNotMatch(html, /https?:\/\//, 'no absolute URL in the page');
    }
    for (const [path, type] of [['/assets/app.js', 'text/javascript'], ['/assets/style.css', 'text/css'], ['/favicon.svg', 'image/svg+xml']] as const) {
      const res = await fetch(origin + path);
      assert.equal(res.status, 200, path);
      assert.ok(res.headers.get('content-type')?.startsWith(type), path);
      const body = await res.text();
      assert.doesNotMatch(body, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, `${path} names no other origin`);
    }
    const js = await (await fetch(`${origin}/assets/app.js`)).text();
    assert.doesNotMatch(js, /\.innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/, 'data never goes in as markup');
    const miss = await fetch(`${origin}/v1/nope`);
    assert.equal(miss.status, 404);
    assert.match(miss.headers.get('content-type') ?? '', /json/);
  });

  test('overview: the cards, the chart and the top lists say what the API says', async () => {
    await page.goto(`${origin}/`);
    await settle(page, 'overview');
    const [today, month, lastMonth, last30] = await Promise.all([
      api<StatsJson>(`/v1/stats?since=${TODAY}`),
      api<StatsJson>(`/v1/stats?since=${MONTH_START}`),
      api<StatsJson>(`/v1/stats?since=${LAST_MONTH_START}&until=${LAST_MONTH_END}`),
      api<StatsJson>(`/v1/stats?since=${SINCE_30}`),
    ]);
    // The API agrees with the rows the test wrote (and the one real call, made today).
    const realCost = Number(meter.rows(`r.id = '${realId}'`)[0].cost_usd_minor_units);
    const seededToday = seeded.filter((r) => r.requestedAt.startsWith(TODAY)).reduce((s, r) => s + (r.costUsdMinorUnits ?? 0), 0);
    assert.equal(today.summary.total_cost_usd_minor_units, seededToday + realCost);
    assert.ok(lastMonth.summary.total_requests >= 3);

    for (const [key, s] of [['today', today], ['month', month], ['last-month', lastMonth], ['last-30', last30]] as const) {
      assert.deepEqual(await cardText(page, key), { value: usd(s.summary.total_cost_usd_minor_units), sub: plural(s.summary.total_requests) }, key);
    }

    // Rows without a cost are named, not summed as $0: the error row and the unknown model.
    assert.equal(last30.summary.unknown_cost_requests, 2);
    assert.match((await page.locator('#cost-notes').textContent()) ?? '', /^Not in these sums: 2 requests of the last 30 days with no cost /);

    // One bar per day of the last 30; its tooltip names the day's total and each provider's part.
    const bars = await page.evaluate<Array<{ date: string; title: string; rects: number }>>(
      `[...document.querySelectorAll('#chart svg g.bar')].map((g) => ({ date: g.dataset.date, title: g.querySelector('title').textContent, rects: g.querySelectorAll('rect:not(.hit)').length }))`,
    );
    assert.equal(bars.length, 30);
    assert.equal(bars[0].date, SINCE_30);
    assert.equal(bars[29].date, TODAY);
    for (const b of bars) {
      const parts = last30.by_day_by_provider.filter((r) => r.date === b.date && r.cost_usd_minor_units > 0);
      const total = last30.by_day.find((d) => d.date === b.date)?.cost_usd_minor_units ?? 0;
      const detail = parts.length ? ` (${[...parts].sort((a, c) => (a.provider < c.provider ? -1 : 1)).map((p) => `${p.provider} ${usd(p.cost_usd_minor_units)}`).join(', ')})` : '';
      assert.equal(b.title, `${b.date}: ${usd(total)}${detail}`);
      assert.equal(b.rects, parts.length, b.date);
    }
    const legend = (await page.locator('.legend li').allTextContents()).map((t) => t.trim());
    assert.deepEqual(legend, [...new Set(last30.by_day_by_provider.map((r) => r.provider))].sort());
    assert.deepEqual(legend, ['anthropic', 'gemini', 'openai', 'xai']);

    const projects = await cells(page, 'top-projects');
    assert.deepEqual(
      projects.map((r) => r.slice(0, 3)),
      last30.by_project.slice(0, 10).map((p) => [p.slug, int(p.requests), usd(p.cost_usd_minor_units)]),
    );
    assert.deepEqual(projects.map((r) => r[0]).sort(), ['alpha', 'beta', 'team/web']);
    const models = await cells(page, 'top-models');
    assert.deepEqual(
      models,
      last30.by_model.slice(0, 10).map((m) => [m.model ?? '(none)', m.provider, int(m.requests), int(m.input_tokens), int(m.output_tokens), modelCost(m)]),
    );
  });

  test('a hostile model name is shown as text and never runs', async () => {
    assert.ok((await cells(page, 'top-models')).some((r) => r[0] === HOSTILE_MODEL));
    assert.equal(await page.locator('main img').count(), 0);
    assert.equal(await page.evaluate<unknown>('window.__pwned'), undefined);
  });

  test('project page: cards, cache hit rate and spend by model equal the API', async () => {
    await page.locator('#top-projects a', { hasText: /^alpha$/ }).click();
    await settle(page, 'project');
    assert.equal(new URL(page.url()).pathname, '/projects/alpha');
    const [project, stats] = await Promise.all([api<ProjectJson>('/v1/projects/alpha'), api<StatsJson>(`/v1/projects/alpha/stats?since=${SINCE_30}`)]);
    assert.equal((await page.locator('main h1').textContent())?.trim(), 'alpha');
    assert.ok(project.stats.last_active_at !== null);
    assert.equal(
      (await page.locator('#project-meta').textContent())?.trim(),
      `Most spent on ${project.stats.top_model} (${project.stats.top_provider}) · last active ${when(project.stats.last_active_at)}`,
    );
    assert.deepEqual(await cardText(page, 'month'), { value: usd(project.stats.cost_usd_this_month_minor_units), sub: plural(project.stats.requests_this_month) });
    assert.equal((await cardText(page, 'last-month')).value, usd(project.stats.previous_month_cost_usd_minor_units));
    assert.deepEqual(await cardText(page, 'all-time'), { value: usd(project.stats.all_time_cost_usd_minor_units), sub: plural(project.stats.all_time_requests) });
    assert.ok(stats.summary.cache_hit_rate !== null && stats.summary.cache_hit_rate > 0);
    assert.deepEqual(await cardText(page, 'cache'), {
      value: `${(stats.summary.cache_hit_rate * 100).toFixed(1)}%`,
      sub: `${int(stats.summary.total_cache_read_tokens)} cache-read tokens`,
    });
    assert.equal(await page.locator('#chart svg g.bar').count(), 30);
    assert.deepEqual(
      await cells(page, 'by-model'),
      stats.by_model.map((m) => [m.model ?? '(none)', m.provider, int(m.requests), int(m.input_tokens), int(m.output_tokens), modelCost(m)]),
    );
  });

  test('recent requests: "next page" follows next_cursor through every request once', async () => {
    const all = await api<PageJson>('/v1/projects/alpha/requests?limit=500');
    assert.equal(all.total, 73); // 70 + the error and aborted rows + the real call
    assert.equal(all.items.length, 73);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let n = 1; ; n++) {
      const expected: PageJson = await api<PageJson>(`/v1/projects/alpha/requests?limit=25${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      const rows = await cells(page, 'requests');
      assert.deepEqual(
        rows,
        expected.items.map((r) => [
          when(r.requested_at),
          r.provider,
          r.model ?? '—',
          int(r.input_tokens),
          int(r.output_tokens),
          int(r.cache_read_tokens),
          usd(r.cost_usd_minor_units) + (!r.tokens_complete && (r.input_tokens !== null || r.output_tokens !== null) ? 'partial' : ''),
          r.latency_ms === null ? '—' : `${int(r.latency_ms)} ms`,
          r.status,
        ]),
        `page ${n}`,
      );
      const first = (n - 1) * 25 + 1;
      assert.equal((await page.locator('#page-info').textContent())?.trim(), `Page ${n} · requests ${first}–${first + expected.items.length - 1} of ${expected.total}`);
      const hrefs = await page.evaluate<string[]>(`[...document.querySelectorAll('#requests tbody a')].map((a) => a.getAttribute('href'))`);
      seen.push(...hrefs.map((h) => decodeURIComponent(h.replace('/requests/', ''))));
      cursor = expected.next_cursor;
      if (cursor === null) {
        assert.equal(await page.locator('#next-page').count(), 0, 'no next page on the last one');
        break;
      }
      await page.locator('#next-page').click();
      await settle(page, 'project');
    }
    assert.deepEqual(seen, all.items.map((r) => r.id));
    assert.ok(all.items.some((r) => !r.tokens_complete && r.input_tokens !== null), 'the aborted row is listed (shown "partial")');
    assert.equal(new Set(seen).size, 73);
    // Back returns to the previous page of the list; "Newest" to the first.
    await page.goBack();
    await settle(page, 'project');
    assert.match((await page.locator('#page-info').textContent()) ?? '', /^Page 2 /);
    await page.locator('#first-page').click();
    await settle(page, 'project');
    assert.match((await page.locator('#page-info').textContent()) ?? '', /^Page 1 · requests 1–25 of 73$/);
  });

  test('the CSV export downloads the same rows as the API', async () => {
    const link = page.locator('#csv-export');
    assert.equal(await link.getAttribute('href'), '/v1/projects/alpha/requests.csv');
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    assert.match(download.suggestedFilename(), /alpha.*\.csv$/);
    const file = await download.path();
    const csv = readFileSync(file, 'utf8');
    const fromApi = await (await fetch(`${origin}/v1/projects/alpha/requests.csv`)).text();
    assert.equal(csv, fromApi);
    const lines = csv.trim().split(/\r?\n/);
    const header = lines[0].split(',');
    const idCol = header.indexOf('id');
    const costCol = header.indexOf('cost_usd_minor_units');
    assert.ok(idCol >= 0 && costCol >= 0, header.join(','));
    const all = await api<PageJson>('/v1/projects/alpha/requests?limit=500');
    // No field of alpha's rows needs quoting (no commas or quotes in them), so a split is exact.
    const rows = lines.slice(1).map((l) => l.split(','));
    assert.deepEqual(rows.map((r) => r[idCol]), all.items.map((i) => i.id));
    assert.deepEqual(rows.map((r) => (r[costCol] === '' ? null : Number(r[costCol]))), all.items.map((i) => i.cost_usd_minor_units));
    // Still on the project page: the download did not navigate.
    assert.equal(new URL(page.url()).pathname, '/projects/alpha');
  });

  test('request page: the cost by token class equals the API breakdown', async () => {
    // Reached by clicking its row in the list, as a user would.
    await page.locator(`#requests a[href="/requests/${encodeURIComponent(realId)}"]`).click();
    await settle(page, 'request');
    assert.equal(new URL(page.url()).pathname, `/requests/${realId}`);
    const r = await api<DetailJson>(`/v1/requests/${encodeURIComponent(realId)}`);
    const cb = r.cost_breakdown;
    assert.ok(cb, 'a priced row has a breakdown');
    assert.equal(cb.total_cost_usd_minor_units, r.cost_usd_minor_units);
    assert.equal(cb.matches_stored, true);
    const classes = cb.lines.map((l) => l.token_class);
    for (const c of ['input', 'cache_read', 'cache_write_5m', 'output']) assert.ok(classes.includes(c), `${c} in ${classes.join(',')}`);

    const labels: Record<string, string> = { input: 'Input', cache_read: 'Cache read', cache_write_5m: 'Cache write (5 min)', cache_write_1h: 'Cache write (1 h)', output: 'Output' };
    const rows = await cells(page, 'breakdown');
    assert.equal(rows.length, cb.lines.length);
    cb.lines.forEach((l, i) => {
      const [label, tokens, rate, cost] = rows[i];
      assert.equal(label, labels[l.token_class] ?? l.token_class);
      assert.equal(tokens, int(l.quantity));
      assert.equal(l.unit, 'Mtok');
      const [price, unit] = rate.split(' / ');
      assert.equal(Number(price.replace(/[$,]/g, '')), Number(l.rate_usd), `${l.token_class} rate`);
      assert.equal(unit, 'Mtok');
      assert.equal(cost, usdExact(l.cost_usd_minor_units));
    });
    assert.equal((await page.locator('#breakdown tfoot td').last().textContent())?.trim(), usdExact(cb.total_cost_usd_minor_units));
    assert.equal((await cardText(page, 'cost')).value, usdExact(r.cost_usd_minor_units));
    // The lines add up to the total here (one usage record, no discount).
    assert.equal(cb.lines.reduce((s, l) => s + (l.cost_usd_minor_units ?? 0), 0), cb.total_cost_usd_minor_units);
    assert.equal((await page.locator('main h1').textContent())?.trim(), r.model);
    // The stored usage, as reported by the provider.
    assert.match((await page.locator('#usage').textContent()) ?? '', /"cache_read_input_tokens": 6000/);
  });

  test('deep links load on their own; a slug with a slash works; unknown pages say so', async () => {
    const p = await context.newPage();
    watch(p);
    await p.goto(`${origin}/projects/${encodeURIComponent('team/web')}`);
    await settle(p, 'project');
    const proj = await api<ProjectJson>(`/v1/projects/${encodeURIComponent('team/web')}`);
    assert.equal((await p.locator('main h1').textContent())?.trim(), 'team/web');
    assert.equal((await cardText(p, 'all-time')).value, usd(proj.stats.all_time_cost_usd_minor_units));
    assert.equal((await p.locator('#csv-export').getAttribute('href')), '/v1/projects/team%2Fweb/requests.csv');
    // The hostile model in the request list: text, not markup.
    assert.ok((await cells(p, 'requests')).some((row) => row[2] === HOSTILE_MODEL));
    assert.equal(await p.locator('main img').count(), 0);

    await p.goto(`${origin}/requests/${encodeURIComponent(realId)}`);
    await settle(p, 'request');
    assert.equal(await p.locator('#breakdown tbody tr').count(), (await api<DetailJson>(`/v1/requests/${realId}`)).cost_breakdown?.lines.length);

    await p.goto(`${origin}/projects`);
    await settle(p, 'projects');
    const list = await api<Array<ProjectJson & { archived_at: string | null }>>('/v1/projects');
    const rows = await cells(p, 'projects');
    assert.deepEqual(
      rows.map((r) => [r[0], r[1], r[2], r[3], r[4]]),
      list.map((x) => [x.name && x.name !== x.slug ? `${x.name} (${x.slug})` : x.slug, usd(x.stats.cost_usd_this_month_minor_units), usd(x.stats.previous_month_cost_usd_minor_units), usd(x.stats.all_time_cost_usd_minor_units), int(x.stats.all_time_requests)]),
    );

    // Back and forward through the History API.
    await p.locator('#projects a', { hasText: /^beta$/ }).click();
    await settle(p, 'project');
    await p.goBack();
    await settle(p, 'projects');
    assert.equal(new URL(p.url()).pathname, '/projects');

    await p.goto(`${origin}/projects/no-such-project`);
    await settle(p, 'project');
    assert.equal((await p.locator('main h1').textContent())?.trim(), 'Not found');
    await p.close();
    // The API's 404s for that lookup are the browser's "failed to load resource" lines: expected here.
    for (let i = consoleErrors.length - 1; i >= 0; i--) if (consoleErrors[i].includes('/projects/no-such-project') && /404/.test(consoleErrors[i])) consoleErrors.splice(i, 1);
  });

  test('a narrow screen scrolls nothing sideways', async () => {
    const p = await context.newPage();
    watch(p);
    await p.setViewportSize({ width: 375, height: 800 });
    for (const [path, view] of [['/', 'overview'], ['/projects/alpha', 'project'], [`/requests/${encodeURIComponent(realId)}`, 'request']] as const) {
      await p.goto(origin + path);
      await settle(p, view);
      const width = await p.evaluate<{ doc: number; view: number }>('({ doc: document.documentElement.scrollWidth, view: window.innerWidth })');
      assert.ok(width.doc <= width.view, `${path}: page is ${width.doc}px wide in a ${width.view}px window`);
    }
    const svgWidth = await p.goto(`${origin}/`).then(() => settle(p, 'overview')).then(() => p.locator('#chart svg').getAttribute('width'));
    assert.ok(Number(svgWidth) <= 375, `chart drawn at ${svgWidth}px`);
    await p.close();
  });

  test('screenshots (HALTON_SCREENSHOTS=1)', { skip: process.env.HALTON_SCREENSHOTS !== '1' && 'set HALTON_SCREENSHOTS=1 to regenerate docs/screenshots' }, async () => {
    const dir = join(repoRoot(), 'docs', 'screenshots');
    mkdirSync(dir, { recursive: true });
    const p = await context.newPage();
    watch(p);
    await p.setViewportSize({ width: 1280, height: 900 });
    const shots = [['/', 'overview', 'dashboard-overview.png'], ['/projects/alpha', 'project', 'dashboard-project.png'], [`/requests/${encodeURIComponent(realId)}`, 'request', 'dashboard-request.png']] as const;
    for (const [path, view, file] of shots) {
      await p.goto(origin + path);
      await settle(p, view);
      await p.screenshot({ path: join(dir, file), fullPage: true });
    }
    await p.setViewportSize({ width: 390, height: 844 });
    await p.goto(`${origin}/`);
    await settle(p, 'overview');
    await p.screenshot({ path: join(dir, 'dashboard-narrow.png'), fullPage: false });
    await p.close();
  });

  test('nothing left loopback, and the console stayed clean', () => {
    assert.ok(requested.length > 10);
    assert.ok(requested.some((u) => u === `${origin}/assets/app.js`));
    const outside = requested.filter((u) => !u.startsWith(`${origin}/`));
    assert.deepEqual(outside, [], 'every request went to the meter on 127.0.0.1');
    assert.deepEqual(consoleErrors, []);
  });
});
