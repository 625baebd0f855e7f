// The pricing commands where their logic lives: the terminal table renderer, flag validation (and,
// through the real binary, that a bad flag or a missing file is one clear line and a non-zero exit),
// `pricing explain` on captured bodies (adapter choice, unwrapping, the daemon's figure) and
// `recost` on a real SQLite file (updates, audit trail, iterations, dry run, idempotence).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { after, describe, test } from 'node:test';

import { findAdapter } from '../../src/adapters/index.js';
import { MeterError } from '../../src/core/errors.js';
import type { RequestRow } from '../../src/core/request-row.js';
import {
  chooseTarget,
  explainCapture,
  parseAtFlag,
  parseProviderFlag,
  priceList,
  readCapture,
  renderPriceList,
} from '../../src/cli/commands/pricing.js';
import { parseSince, recostDatabase } from '../../src/cli/commands/recost.js';
import { renderTable, truncate, type ColumnSpec } from '../../src/cli/output/table.js';
import { makeStyle } from '../../src/cli/output/style.js';
import { loadBundledTable, priceUsage, type OverrideRule } from '../../src/pricing/index.js';
import { getRequest, insertRequests, listAuditEvents, openDb } from '../../src/store/index.js';
import { fixtureExchange, loadFixture, repoRoot, wireFixturesRoot } from '../helpers/fixtures.js';

const run = promisify(execFile);
const table = loadBundledTable();
const plain = makeStyle(false, {});
const NOW = new Date('2026-08-21T12:00:00Z');

const tmp = mkdtempSync(join(tmpdir(), 'hm-pricing-cmd-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function isBadArgument(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof MeterError && e.code === 'bad_argument' && pattern.test(e.message));
}

// ---------------------------------------------------------------------------------------------

describe('renderTable', () => {
  const cols: ColumnSpec[] = [
    { header: 'model', minWidth: 6 },
    { header: 'input', align: 'right' },
    { header: 'note', dropOrder: 1 },
    { header: 'source', dropOrder: 2 },
  ];
  const rows = [
    ['claude-sonnet-4-5-20250929', '3', 'a long note here', 'bundled'],
    ['gpt-4o', '2.5', '', { text: 'override', style: (s: string) => `<${s}>` }],
  ];

  test('columns sized to content, numbers right-aligned, a rule, no trailing spaces', () => {
    const t = renderTable(cols, rows);
    assert.deepEqual(t.dropped, []);
    assert.equal(t.lines[0], 'model                       input  note              source');
    assert.match(t.lines[1], /^─{26}  ─{5}  ─{16}  ─{8}$/);
    assert.equal(t.lines[2], 'claude-sonnet-4-5-20250929      3  a long note here  bundled');
    // The style wraps the padded text, so escape codes never shift the layout.
    assert.equal(t.lines[3], 'gpt-4o                        2.5                    <override>');
    for (const l of t.lines) assert.equal(l, l.trimEnd());
  });

  test('too wide: shrinkable columns are shortened with an ellipsis first', () => {
    const t = renderTable(cols, rows, { width: 50 });
    assert.deepEqual(t.dropped, []);
    // (The style's two marker characters are not part of the layout.)
    for (const l of t.lines) assert.ok([...l.replace(/[<>]/g, '')].length <= 50, l);
    assert.equal(t.lines[2], 'claude-sonnet-…      3  a long note here  bundled');
  });

  test('still too wide: columns are dropped, highest dropOrder first, and reported', () => {
    const t = renderTable(cols, rows, { width: 30 });
    assert.deepEqual(t.dropped, ['source', 'note']);
    for (const l of t.lines) assert.ok([...l].length <= 30, l);
    // What a drop frees goes back to the shortened column.
    assert.equal(t.lines[2], 'claude-sonnet-4-5-2025…      3');
  });

  test('no width (piped output) never cuts anything', () => {
    assert.deepEqual(renderTable(cols, rows, { width: undefined }).lines, renderTable(cols, rows).lines);
  });

  test('truncate', () => {
    assert.equal(truncate('abcdef', 6), 'abcdef');
    assert.equal(truncate('abcdef', 4), 'abc…');
    assert.equal(truncate('abcdef', 1), '…');
    assert.equal(truncate('abcdef', 0), '');
  });
});

// ---------------------------------------------------------------------------------------------

describe('flag validation', () => {
  test('--since: durations, days and ISO times; anything else is a bad argument', () => {
    assert.equal(parseSince(undefined, NOW), undefined);
    assert.equal(parseSince('7d', NOW), '2026-08-14T12:00:00.000Z');
    assert.equal(parseSince('24h', NOW), '2026-08-20T12:00:00.000Z');
    assert.equal(parseSince('30m', NOW), '2026-08-21T11:30:00.000Z');
    assert.equal(parseSince('2w', NOW), '2026-08-07T12:00:00.000Z');
    assert.equal(parseSince('2026-08-01', NOW), '2026-08-01T00:00:00.000Z');
    assert.equal(parseSince('2026-08-01T10:00:00+02:00', NOW), '2026-08-01T08:00:00.000Z');
    for (const bad of ['yesterday', '7x', '-7d', '2026-02-30', '2026-8-1', '']) isBadArgument(() => parseSince(bad, NOW), /--since/);
  });

  test('--provider: the priced providers only', () => {
    assert.equal(parseProviderFlag('Anthropic'), 'anthropic');
    assert.equal(parseProviderFlag(undefined), undefined);
    isBadArgument(() => parseProviderFlag('selftest'), /unknown provider/);
    isBadArgument(() => parseProviderFlag('foo'), /unknown provider "foo"/);
  });

  test('--at: a real day or an ISO time', () => {
    assert.equal(parseAtFlag('2026-09-01', NOW).toISOString(), '2026-09-01T00:00:00.000Z');
    assert.equal(parseAtFlag(undefined, NOW), NOW);
    for (const bad of ['2026-02-30', 'tomorrow', '2026/09/01']) isBadArgument(() => parseAtFlag(bad, NOW), /--at/);
  });

  // Through the real binary: one line (plus an optional indented hint), non-zero, no stack trace.
  async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const home = mkdtempSync(join(tmp, 'home-'));
    return run(process.execPath, [join(repoRoot(), 'bin', 'halton-meter.js'), ...args], { env: { PATH: process.env.PATH, HOME: home, NO_COLOR: '1' } }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
  }
  const cases: Array<[string[], number, RegExp]> = [
    [['recost', '--since', 'last-week'], 2, /^halton-meter: --since "last-week" is not a duration or a date$/],
    [['pricing', 'list', '--provider', 'foo'], 2, /^halton-meter: unknown provider "foo"$/],
    [['pricing', 'list', '--at', 'soon'], 2, /^halton-meter: --at "soon" is not a date$/],
    [['pricing', 'explain', '/nonexistent/capture.sse'], 1, /^halton-meter: \/nonexistent\/capture\.sse: no such file$/],
  ];
  for (const [args, code, first] of cases) {
    test(`halton-meter ${args.join(' ')}: exit ${code}, one clear line`, async () => {
      const r = await cli(args);
      assert.equal(r.code, code);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trimEnd().split('\n');
      assert.match(lines[0], first);
      assert.ok(lines.length <= 2 && (lines.length === 1 || lines[1].startsWith('  ')), r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    });
  }
});

// ---------------------------------------------------------------------------------------------

describe('pricing list', () => {
  const overrides: OverrideRule[] = [
    { provider: 'anthropic', model: 'claude-3-5-sonnet', input: 2.5, output: 12, cacheRead: null, cacheWrite5m: null, cacheWrite1h: null },
  ];

  test('overrides first and marked; the bundled row they match is marked overridden; tiers listed', () => {
    const list = priceList(table, overrides, NOW, 'anthropic', '/home/u/.halton-meter/config.toml');
    assert.equal(list.bundle, table.version);
    assert.equal(list.rates[0].source, 'override');
    assert.equal(list.rates[0].input, 2.5);
    assert.equal(list.rates[0].cache_write_1h, 5); // Anthropic rule: 2x input
    const bundled = list.rates.find((r) => r.model === 'claude-3-5-sonnet' && r.source !== 'override');
    assert.equal(bundled?.overridden_by, 'claude-3-5-sonnet');
    assert.ok(list.rates.every((r) => r.provider === 'anthropic'));
    const sonnet45 = list.rates.find((r) => r.model === 'claude-sonnet-4-5');
    assert.deepEqual(sonnet45?.tiers.map((t) => [t.above, t.input, t.output]), [[200000, 6, 22.5]]);

    const text = renderPriceList(list, { style: plain }, undefined).join('\n');
    assert.match(text, new RegExp(`^Prices ${table.version} for anthropic, in force at 2026-08-21`));
    assert.match(text, /1 override from \/home\/u\/\.halton-meter\/config\.toml/);
    assert.match(text, /claude-3-5-sonnet +2\.5 +12 .* override\n/);
    assert.match(text, /claude-3-5-sonnet +3 +15 .* bundled \(override claude-3-5-sonnet\)/);
    assert.match(text, /an override without \* matches only that exact id/);
    assert.match(text, />200k input tokens +6 +22\.5/);
  });

  test('--at picks the price period in force', () => {
    const before = priceList(table, [], new Date('2026-08-31T00:00:00Z'), 'anthropic', 'x').rates.find((r) => r.model === 'claude-sonnet-5');
    const afterChange = priceList(table, [], new Date('2026-09-01T00:00:00Z'), 'anthropic', 'x').rates.find((r) => r.model === 'claude-sonnet-5');
    assert.deepEqual([before?.input, before?.output], [2, 10]);
    assert.deepEqual([afterChange?.input, afterChange?.output], [3, 15]);
  });

  test('a narrow terminal drops columns and says so', () => {
    const lines = renderPriceList(priceList(table, [], NOW, 'openai', 'x'), { style: plain }, 60);
    const body = lines.slice(3, lines.indexOf('', 3));
    assert.ok(body.length > 80);
    for (const l of body) assert.ok([...l].length <= 60, l);
    assert.match(lines.join('\n'), /hidden to fit the terminal: .*search\/1k/);
  });
});

// ---------------------------------------------------------------------------------------------

describe('pricing explain', () => {
  const fx = (id: string): Buffer => loadFixture(id).responseBytes;

  test('the adapter is told from the body, and --host keeps the sniffed path', () => {
    const cases: Array<[string, string]> = [
      ['anthropic/stream-cache-write-claude35', 'anthropic'],
      ['anthropic/json-cache-read', 'anthropic'],
      ['openai/chat-json-cached-tokens', 'openai-chat'],
      ['openai/chat-stream-gpt5', 'openai-chat'],
      ['openai/responses-stream-gpt55', 'openai-responses'],
      ['openai/responses-json-cached-tokens', 'openai-responses'],
      ['openai/embeddings-text-embedding-3-small', 'openai-embeddings'],
    ];
    for (const [id, adapter] of cases) {
      const t = chooseTarget(fx(id).toString('utf8'), {});
      assert.equal(t.adapter.id, adapter, id);
      assert.equal(t.chosenBy, 'sniffed');
    }
    const xai = chooseTarget(fx('xai/stream-grok3-mini-reasoning').toString('utf8'), { host: 'api.x.ai' });
    assert.equal(xai.host, 'api.x.ai');
    assert.equal(xai.path, '/v1/chat/completions');
    assert.equal(xai.metered.provider, 'xai');
  });

  test('bodies it cannot place ask for --host/--path; a host that is not metered is refused', () => {
    isBadArgument(() => chooseTarget('{"error":{"message":"x","type":"invalid_request_error"}}', {}), /error response/);
    isBadArgument(() => chooseTarget('hello', {}), /neither JSON nor an SSE/);
    isBadArgument(() => chooseTarget('{"type":"message"}', { host: 'example.com', path: '/v1/messages' }), /example\.com is not a metered host/);
  });

  // The daemon's figure, computed here the daemon's way: adapter.parse of the fixture exchange, then
  // priceUsage with the reported model and service tier.
  function daemonFigure(id: string, at: Date): number | null {
    const ex = fixtureExchange(loadFixture(id));
    const m = findAdapter(ex.host, ex.method, ex.path);
    assert.ok(m);
    const p = m.adapter.parse(ex);
    return priceUsage(table, [], m.adapter.provider, p.model, p.records, at, { serviceTier: p.serviceTier }).costMinor;
  }

  for (const id of ['anthropic/stream-cache-write-claude35', 'anthropic/stream-compaction-iterations-cache', 'anthropic/stream-advisor-iterations', 'openai/responses-stream-gpt5-large-cached', 'openai/chat-json-o3-mini-reasoning']) {
    test(`${id}: the daemon's figure, line by line`, () => {
      const e = explainCapture({ capture: readCapture(fx(id), id), where: id, flags: {}, at: NOW, table, overrides: [] });
      assert.equal(e.cost_usd_minor_units, daemonFigure(id, NOW));
      assert.notEqual(e.cost_usd_minor_units, null);
      assert.equal(e.rates_source, table.version);
      assert.ok(e.lines.length > 0);
      // The lines add up to the exact total (no discount here).
      const units = (s: string): bigint => {
        const [w, f = ''] = s.split('.');
        return BigInt(w) * 10n ** 17n + BigInt((f + '0'.repeat(17)).slice(0, 17));
      };
      assert.equal(e.lines.reduce((s, l) => s + units(l.amount_usd ?? '0'), 0n), units(e.total_usd_exact ?? '0'));
    });
  }

  test('gzip files and curl -i captures (header block, Content-Encoding) are unwrapped', () => {
    const body = fx('anthropic/stream-cache-write-claude35');
    const expected = explainCapture({ capture: readCapture(body, 'x'), where: 'x', flags: {}, at: NOW, table, overrides: [] }).cost_usd_minor_units;
    const gz = readCapture(gzipSync(body), 'gz');
    assert.deepEqual(gz.notes, ['gzip']);
    assert.equal(explainCapture({ capture: gz, where: 'gz', flags: {}, at: NOW, table, overrides: [] }).cost_usd_minor_units, expected);
    const curlI = Buffer.concat([
      Buffer.from('HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\n\r\n'),
      gzipSync(body),
    ]);
    const c = readCapture(curlI, 'curl-i');
    assert.deepEqual(c.notes, ['headers', 'gzip']);
    assert.equal(explainCapture({ capture: c, where: 'c', flags: {}, at: NOW, table, overrides: [] }).cost_usd_minor_units, expected);
    isBadArgument(() => readCapture(Buffer.from('   \n'), 'empty'), /holds no response body/);
  });

  test('an override prices the body and says so; --model is the fallback when the response names none', () => {
    const over: OverrideRule[] = [{ provider: 'anthropic', model: 'claude-3-5-sonnet-*', input: 1, output: 2, cacheRead: null, cacheWrite5m: null, cacheWrite1h: null }];
    const e = explainCapture({ capture: readCapture(fx('anthropic/stream-cache-write-claude35'), 'x'), where: 'x', flags: {}, at: NOW, table, overrides: over });
    assert.equal(e.rates_source, 'override');
    // 4 x $1 + 1165 x $1.25 (Anthropic 5m write rule) + 201 x $2, per Mtok: 0.00186025 USD -> 186 minor units.
    assert.equal(e.cost_usd_minor_units, 186);
    const emb = readCapture(fx('openai/embeddings-text-embedding-3-small'), 'e');
    const withModel = explainCapture({ capture: emb, where: 'e', flags: { model: 'text-embedding-3-small' }, at: NOW, table, overrides: [] });
    assert.equal(withModel.model, 'text-embedding-3-small');
  });
});

// ---------------------------------------------------------------------------------------------

describe('recost', () => {
  let seq = 0;
  function row(o: Partial<RequestRow>): RequestRow {
    const n = ++seq;
    return {
      id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
      projectSlug: 'alpha',
      provider: 'anthropic',
      mode: 'api',
      requestKind: 'messages',
      host: 'api.anthropic.com',
      path: '/v1/messages',
      model: 'claude-sonnet-4-5',
      modelRequested: 'claude-sonnet-4-5',
      statusCode: 200,
      errorClass: null,
      stream: false,
      inputTokens: 1000,
      cacheReadTokens: 0,
      cacheWrite5mTokens: 0,
      cacheWrite1hTokens: 0,
      outputTokens: 500,
      thinkingTokens: 0,
      webSearchRequests: 0,
      costUsdMinorUnits: 1050, // 1000 x $3 + 500 x $15 per Mtok
      costReason: null,
      ratesSource: table.version,
      serviceTier: null,
      latencyMs: 100,
      ttfbMs: 50,
      tokensComplete: true,
      usageSource: 'reported',
      outcome: 'completed',
      attributionRule: 'default',
      clientPid: null,
      clientName: null,
      providerRequestId: null,
      usageJson: null,
      requestedAt: `2026-08-${String(10 + (n % 10)).padStart(2, '0')}T10:00:00.000Z`,
      completedAt: '2026-08-10T10:00:01.000Z',
      ...o,
    };
  }

  function freshDb(rows: RequestRow[]): string {
    const dir = mkdtempSync(join(tmp, 'db-'));
    const path = join(dir, 'db.sqlite');
    const db = openDb(path);
    insertRequests(db, rows);
    db.close();
    return path;
  }

  // A capture with usage.iterations[] as the daemon stores it: tokens summed over the iterations,
  // usage_json holding message_start/message_delta with iterations[].
  function iterationsRow(id = 'anthropic/stream-compaction-iterations-cache'): RequestRow {
    const ex = fixtureExchange(loadFixture(id));
    const m = findAdapter(ex.host, ex.method, ex.path);
    assert.ok(m);
    const p = m.adapter.parse(ex);
    assert.ok(p.usage && p.records.length >= 2);
    const q = priceUsage(table, [], 'anthropic', p.model, p.records, NOW, { serviceTier: p.serviceTier });
    return row({
      model: p.model,
      path: '/v1/messages?beta=true',
      stream: true,
      inputTokens: p.usage.inputTokens,
      cacheReadTokens: p.usage.cacheReadTokens,
      cacheWrite5mTokens: p.usage.cacheWrite5mTokens,
      cacheWrite1hTokens: p.usage.cacheWrite1hTokens,
      outputTokens: p.usage.outputTokens,
      thinkingTokens: p.usage.thinkingTokens,
      webSearchRequests: p.usage.webSearchRequests,
      costUsdMinorUnits: q.costMinor,
      serviceTier: p.serviceTier,
      usageJson: JSON.stringify(p.usageJson),
    });
  }

  const override = (model: string, input: number, output: number): OverrideRule => ({ provider: 'anthropic', model, input, output, cacheRead: null, cacheWrite5m: null, cacheWrite1h: null });

  test('same table, same overrides: nothing changes (the daemon figure is reproduced)', () => {
    const it = iterationsRow();
    const path = freshDb([row({}), it, row({ model: 'claude-mystery-9', costUsdMinorUnits: null, ratesSource: null, costReason: 'unknown model: claude-mystery-9 (not in x)' })]);
    const s = recostDatabase(path, table, [], { dryRun: false, now: NOW });
    assert.equal(s.examined, 3);
    assert.equal(s.unchanged, 2);
    assert.equal(s.unpriced, 1);
    assert.equal(s.changed + s.filled + s.relabelled + s.skipped, 0);
  });

  test('an override re-prices, fills unknown models, keeps the old figure in audit_events; a second run is a no-op', () => {
    const known = row({});
    const unknown = row({ model: 'claude-mystery-9', costUsdMinorUnits: null, ratesSource: null, costReason: 'unknown model: claude-mystery-9 (not in x)' });
    const noUsage = row({ inputTokens: null, cacheReadTokens: null, cacheWrite5mTokens: null, cacheWrite1hTokens: null, outputTokens: null, thinkingTokens: null, webSearchRequests: null, costUsdMinorUnits: null, ratesSource: null, costReason: 'upstream error 529' });
    const free = row({ requestKind: 'count_tokens', path: '/v1/messages/count_tokens', inputTokens: 0, outputTokens: 0, costUsdMinorUnits: 0, ratesSource: 'free' });
    // Advisor iterations: one of the three records is billed as claude-opus-4-8.
    const it = iterationsRow('anthropic/stream-advisor-iterations');
    const path = freshDb([known, unknown, noUsage, free, it]);
    const overrides = [override('claude-sonnet-4-5', 1, 2), override('claude-mystery-*', 4, 8), override('claude-sonnet-5', 1, 1)];

    const dry = recostDatabase(path, table, overrides, { dryRun: true, now: NOW });
    assert.equal(dry.changed, 2);
    assert.equal(dry.filled, 1);
    let db = openDb(path, { readonly: true });
    assert.equal(getRequest(db, known.id)?.costUsdMinorUnits, 1050, 'dry run writes nothing');
    assert.equal(listAuditEvents(db).length, 0);
    db.close();

    const s = recostDatabase(path, table, overrides, { dryRun: false, now: NOW });
    assert.deepEqual(
      { examined: s.examined, changed: s.changed, filled: s.filled, no_usage: s.no_usage, fixed: s.fixed, skipped: s.skipped },
      { examined: 5, changed: 2, filled: 1, no_usage: 1, fixed: 1, skipped: 0 },
    );
    db = openDb(path, { readonly: true });
    const k = getRequest(db, known.id);
    // 1000 x $1 + 500 x $2 per Mtok = $0.002 = 200 minor units.
    assert.equal(k?.costUsdMinorUnits, 200);
    assert.equal(k?.ratesSource, 'override');
    const u = getRequest(db, unknown.id);
    // 1000 x $4 + 500 x $8 per Mtok = $0.008.
    assert.equal(u?.costUsdMinorUnits, 800);
    assert.equal(u?.costReason, null);
    assert.equal(getRequest(db, noUsage.id)?.costUsdMinorUnits, null);
    assert.equal(getRequest(db, free.id)?.costUsdMinorUnits, 0);
    // Iterations are re-read from usage_json, each billed as its own model: the sonnet-5 records
    // (1128 + 1283 in, 135 + 10 out) at the override's $1/$1, the advisor's claude-opus-4-8 record
    // (2543 in, 18 out) at the table's $5/$25: 2556 + 12715 + 450 = 15721 micro-USD -> 1572 minor
    // units. Summed columns alone would have given (4954 + 163) x $1 -> 512.
    assert.equal(getRequest(db, it.id)?.costUsdMinorUnits, 1572);
    assert.equal(getRequest(db, it.id)?.ratesSource, 'override');
    assert.equal(s.delta_usd_minor_units, 200 - 1050 + (1572 - (it.costUsdMinorUnits ?? 0)));
    assert.equal(s.filled_usd_minor_units, 800);

    const audit = listAuditEvents(db, { kind: 'recost', subject: known.id });
    assert.equal(audit.length, 1);
    assert.deepEqual(
      { ...(audit[0].detail as Record<string, unknown>) },
      {
        old_cost_usd_minor_units: 1050,
        new_cost_usd_minor_units: 200,
        old_rates_source: table.version,
        new_rates_source: 'override',
        old_cost_reason: null,
        new_cost_reason: null,
        bundle: table.version,
        provider: 'anthropic',
        model: 'claude-sonnet-4-5',
        requested_at: known.requestedAt,
        by: 'halton-meter recost',
      },
    );
    assert.equal((listAuditEvents(db, { subject: unknown.id })[0].detail as Record<string, unknown>).old_cost_usd_minor_units, null);
    db.close();

    const again = recostDatabase(path, table, overrides, { dryRun: false, now: NOW });
    assert.equal(again.changed + again.filled + again.relabelled, 0);
    assert.equal(again.unchanged, 3);
  });

  test('removing an override never erases a cost the table cannot give', () => {
    const mystery = row({ model: 'claude-mystery-9', costUsdMinorUnits: 800, ratesSource: 'override' });
    const path = freshDb([mystery]);
    const s = recostDatabase(path, table, [], { dryRun: false, now: NOW });
    assert.equal(s.kept, 1);
    const db = openDb(path, { readonly: true });
    assert.equal(getRequest(db, mystery.id)?.costUsdMinorUnits, 800);
    db.close();
  });

  test('iterations that no longer add up to the stored columns are skipped with the reason', () => {
    const it = iterationsRow();
    const bad = { ...it, id: '00000000-0000-4000-8000-999999999999', inputTokens: (it.inputTokens ?? 0) + 1 };
    const path = freshDb([bad]);
    const s = recostDatabase(path, table, [override('claude-sonnet-4-6', 1, 1)], { dryRun: false, now: NOW });
    assert.equal(s.skipped, 1);
    assert.match(Object.keys(s.reasons.skipped)[0], /do not add up/);
  });

  test('--since bounds the rows examined; pages of any size see every row once', () => {
    const rows = Array.from({ length: 25 }, (_, i) => row({ requestedAt: `2026-08-${String(1 + (i % 20)).padStart(2, '0')}T0${i % 10}:00:00.000Z` }));
    const path = freshDb(rows);
    const all = recostDatabase(path, table, [override('claude-sonnet-4-5', 1, 2)], { dryRun: true, batchSize: 7, now: NOW });
    assert.equal(all.examined, 25);
    assert.equal(all.changed, 25);
    const since = parseSince('2026-08-15', NOW);
    const some = recostDatabase(path, table, [], { since, dryRun: true, batchSize: 4, now: NOW });
    assert.equal(some.examined, rows.filter((r) => r.requestedAt >= '2026-08-15').length);
  });

  test('no database yet: nothing to do, not an error', () => {
    const s = recostDatabase(join(tmp, 'missing', 'db.sqlite'), table, [], { dryRun: false, now: NOW });
    assert.equal(s.examined, 0);
  });
});

// Keep the fixtures root honest: the tests above read captures from it.
test('wire fixtures are present', () => {
  assert.ok(readFileSync(join(wireFixturesRoot(), 'anthropic', 'stream-cache-write-claude35', 'response.txt')).length > 0);
});
