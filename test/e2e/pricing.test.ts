// Pricing end to end: real edge and daemon processes, the fake provider over TLS, curl as the client,
// and the CLI run as a user runs it.
// - Must-show 5: a streamed body saved by curl (-o) and given to `pricing explain` prints the cost
//   the daemon stored for that very call.
// - Must-show 3: stored costs checked against rates computed here, independently, from the
//   genai-prices data (test/helpers/expected-cost.ts): a cache-heavy Anthropic call with 5m and 1h
//   writes and reads, and OpenAI calls with cached and reasoning tokens.
// - recost: an override written into config.toml re-prices a row (old figure in audit_events) and
//   gives a cost to a row whose model the table did not know.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { repoRoot, startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { startMeter, type MeterProcs } from '../helpers/meter.js';
import { basePrices, expectedMinor } from '../helpers/expected-cost.js';

const run = promisify(execFile);
const BIN = join(repoRoot(), 'bin', 'halton-meter.js');

let pki: TestPki;
let fake: FakeProvider;
let meter: MeterProcs;
let captures: string;

before(async () => {
  pki = makeTestPki();
  fake = await startFakeProvider(pki);
  meter = await startMeter({ pki, upstreamPort: fake.port });
  captures = mkdtempSync(join(tmpdir(), 'hm-captures-'));
});

after(async () => {
  await meter?.stop();
  await fake?.close();
});

/** curl through the edge; the project goes in the proxy user name so each test finds its own rows. */
async function curl(project: string, args: string[]): Promise<string> {
  const { stdout } = await run(
    'curl',
    ['-sS', '--fail-with-body', '-x', `http://${project}:x@127.0.0.1:${meter.edgePort}`, '--cacert', meter.clientBundlePath, ...args],
    { env: { ...process.env, HTTPS_PROXY: '', https_proxy: '' }, maxBuffer: 64 * 1024 * 1024 },
  );
  return stdout;
}

/** The CLI in the meter's HOME (its config.toml, its database). */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [BIN, ...args], { env: meter.env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

async function oneRow(project: string): Promise<Record<string, unknown>> {
  const rows = await meter.waitForRows(1, `p.slug = '${project}'`);
  assert.equal(rows.length, 1, `one row for ${project}`);
  return rows[0];
}

const anthropicBody = (model: string, stream: boolean): string =>
  JSON.stringify({ model, max_tokens: 64, stream, messages: [{ role: 'user', content: 'pricing e2e' }] });

describe('pricing explain on a captured body prints the stored cost (must-show 5)', () => {
  const cases: Array<{ project: string; fixture?: string; usage?: Record<string, unknown>; model: string }> = [
    { project: 'explain-cache-write', fixture: 'anthropic/stream-cache-write-claude35', model: 'claude-3-5-sonnet-20240620' },
    { project: 'explain-compaction', fixture: 'anthropic/stream-compaction-iterations-cache', model: 'claude-sonnet-4-6' },
    {
      project: 'explain-cache-heavy',
      model: 'claude-opus-4-1',
      usage: { input_tokens: 1500, cache_creation_input_tokens: 24000, cache_creation: { ephemeral_5m_input_tokens: 9000, ephemeral_1h_input_tokens: 15000 }, cache_read_input_tokens: 60000, output_tokens: 700 },
    },
  ];
  for (const c of cases) {
    test(`${c.fixture ?? 'fake stream with 5m+1h cache writes'}`, async () => {
      const file = join(captures, `${c.project}.sse`);
      const headers = c.fixture ? ['-H', `x-fake-fixture: ${c.fixture}`] : ['-H', `x-fake-usage: ${JSON.stringify(c.usage)}`];
      // -N: no buffering; -o: exactly the bytes the client received.
      await curl(c.project, ['-N', '-o', file, 'https://api.anthropic.com/v1/messages', '-H', 'content-type: application/json', ...headers, '-d', anthropicBody(c.model, true)]);
      assert.match(readFileSync(file, 'utf8'), /event: message_stop/);
      const row = await oneRow(c.project);
      assert.equal(row.stream, 1);
      assert.equal(typeof row.cost_usd_minor_units, 'number');

      const json = await cli(['pricing', 'explain', file, '--json']);
      assert.equal(json.code, 0, json.stderr);
      const e = JSON.parse(json.stdout) as Record<string, unknown>;
      assert.equal(e.adapter, 'anthropic');
      assert.equal(e.chosen_by, 'sniffed');
      assert.equal(e.cost_usd_minor_units, row.cost_usd_minor_units);
      assert.equal(e.rates_source, row.rates_source);
      const usage = e.usage as Record<string, number>;
      for (const col of ['input_tokens', 'cache_read_tokens', 'cache_write_5m_tokens', 'cache_write_1h_tokens', 'output_tokens', 'thinking_tokens', 'web_search_requests']) {
        assert.equal(usage[col], row[col], col);
      }

      // The text form says the same, and so does the body read from stdin.
      const text = await cli(['pricing', 'explain', file]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, new RegExp(`= ${String(row.cost_usd_minor_units)} minor units`));
      assert.match(text.stdout, /adapter +anthropic \(told from the body: Anthropic Messages stream\)/);
      const piped = await run('sh', ['-c', `"${process.execPath}" "${BIN}" pricing explain --json - < "${file}"`], { env: meter.env });
      assert.equal((JSON.parse(piped.stdout) as { cost_usd_minor_units: number }).cost_usd_minor_units, row.cost_usd_minor_units);
    });
  }
});

describe('stored costs against independently computed rates (must-show 3)', () => {
  test('cache-heavy Anthropic call: input, 5m writes, 1h writes, cache reads, output', async () => {
    const usage = {
      input_tokens: 3000,
      cache_creation_input_tokens: 50000,
      cache_creation: { ephemeral_5m_input_tokens: 20000, ephemeral_1h_input_tokens: 30000 },
      cache_read_input_tokens: 100000,
      output_tokens: 1500,
    };
    for (const stream of [false, true]) {
      const project = `cache-heavy-${stream ? 'stream' : 'json'}`;
      await curl(project, ['https://api.anthropic.com/v1/messages', '-H', 'content-type: application/json', '-H', `x-fake-usage: ${JSON.stringify(usage)}`, '-d', anthropicBody('claude-opus-4-1', stream)]);
      const r = await oneRow(project);
      assert.equal(r.input_tokens, 3000);
      assert.equal(r.cache_write_5m_tokens, 20000);
      assert.equal(r.cache_write_1h_tokens, 30000);
      assert.equal(r.cache_read_tokens, 100000);
      assert.equal(r.output_tokens, 1500);
      const p = basePrices('anthropic', 'claude-opus-4-1');
      const expected = expectedMinor([
        [3000, p.input_mtok],
        [20000, p.cache_write_mtok],
        [30000, p.cache_write_1h_mtok],
        [100000, p.cache_read_mtok],
        [1500, p.output_mtok],
      ]);
      // 0.045 + 0.375 + 0.9 + 0.15 + 0.1125 USD: the 1h writes at 2x input, not the 5m rate.
      assert.equal(expected, 158_250);
      assert.equal(r.cost_usd_minor_units, expected, `stream=${stream}`);
    }
  });

  test('OpenAI chat and Responses calls with cached and reasoning tokens', async () => {
    const p = basePrices('openai', 'gpt-5');
    const chatUsage = {
      prompt_tokens: 12000,
      completion_tokens: 2500,
      total_tokens: 14500,
      prompt_tokens_details: { cached_tokens: 8000, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 1800, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    };
    await curl('openai-reasoning-chat', ['https://api.openai.com/v1/chat/completions', '-H', 'content-type: application/json', '-H', `x-fake-usage: ${JSON.stringify(chatUsage)}`, '-d', JSON.stringify({ model: 'gpt-5', messages: [{ role: 'user', content: 'x' }] })]);
    const chat = await oneRow('openai-reasoning-chat');
    assert.equal(chat.input_tokens, 4000);
    assert.equal(chat.cache_read_tokens, 8000);
    assert.equal(chat.output_tokens, 2500);
    assert.equal(chat.thinking_tokens, 1800);
    // Reasoning is billed as output: it is part of completion_tokens, never added again.
    assert.equal(chat.cost_usd_minor_units, expectedMinor([[4000, p.input_mtok], [8000, p.cache_read_mtok], [2500, p.output_mtok]]));

    const respUsage = { input_tokens: 20000, cached_tokens: 15000, output_tokens: 3000, reasoning_tokens: 2200 };
    const file = join(captures, 'responses.sse');
    await curl('openai-reasoning-responses', ['-N', '-o', file, 'https://api.openai.com/v1/responses', '-H', 'content-type: application/json', '-H', `x-fake-usage: ${JSON.stringify(respUsage)}`, '-d', JSON.stringify({ model: 'gpt-5', input: 'x', stream: true })]);
    const resp = await oneRow('openai-reasoning-responses');
    assert.equal(resp.input_tokens, 5000);
    assert.equal(resp.cache_read_tokens, 15000);
    assert.equal(resp.thinking_tokens, 2200);
    assert.equal(resp.cost_usd_minor_units, expectedMinor([[5000, p.input_mtok], [15000, p.cache_read_mtok], [3000, p.output_mtok]]));
    // And explain agrees on this one too (an OpenAI Responses stream).
    const e = await cli(['pricing', 'explain', file, '--json']);
    assert.equal((JSON.parse(e.stdout) as { adapter: string; cost_usd_minor_units: number }).cost_usd_minor_units, resp.cost_usd_minor_units);
  });
});

describe('recost after an override', () => {
  test('re-prices a row (old figure audited) and fills a row whose model was unknown', async () => {
    await curl('recost-known', ['https://api.anthropic.com/v1/messages', '-H', 'content-type: application/json', '-H', `x-fake-usage: ${JSON.stringify({ input_tokens: 1000, output_tokens: 1000 })}`, '-d', anthropicBody('claude-haiku-4-5', false)]);
    await curl('recost-unknown', ['https://api.anthropic.com/v1/messages', '-H', 'content-type: application/json', '-d', anthropicBody('claude-mystery-9', false)]);
    const known = await oneRow('recost-known');
    const unknown = await oneRow('recost-unknown');
    const haiku = basePrices('anthropic', 'claude-haiku-4-5');
    assert.equal(known.cost_usd_minor_units, expectedMinor([[1000, haiku.input_mtok], [1000, haiku.output_mtok]]));
    assert.equal(unknown.cost_usd_minor_units, null);
    assert.match(String(unknown.cost_reason), /^unknown model: claude-mystery-9/);

    // Before any override, recost reproduces every stored figure, iterations rows included.
    const before = await cli(['recost', '--dry-run', '--json']);
    assert.equal(before.code, 0, before.stderr);
    const b = JSON.parse(before.stdout) as Record<string, number>;
    assert.ok(b.examined >= 9, before.stdout);
    assert.deepEqual([b.changed, b.filled, b.relabelled, b.skipped], [0, 0, 0, 0], before.stdout);
    assert.equal(b.unpriced, 1);

    appendFileSync(
      join(meter.home, '.halton-meter', 'config.toml'),
      '\n[[pricing.override]]\nprovider = "anthropic"\nmodel = "claude-haiku-4-5"\ninput = 0.5\noutput = 1\n' +
        '\n[[pricing.override]]\nprovider = "anthropic"\nmodel = "claude-mystery-*"\ninput = 10\noutput = 20\n',
    );
    const list = await cli(['pricing', 'list', '--provider', 'anthropic']);
    assert.match(list.stdout, /claude-mystery-\* +10 +20 .* override/);
    assert.match(list.stdout, /claude-haiku-4-5 .* bundled \(override claude-haiku-4-5\)/);

    const res = await cli(['recost', '--since', '1h', '--json']);
    assert.equal(res.code, 0, res.stderr);
    const s = JSON.parse(res.stdout) as Record<string, number>;
    assert.equal(s.changed, 1, res.stdout);
    assert.equal(s.filled, 1, res.stdout);
    // 1000 x $0.5 + 1000 x $1 per Mtok = $0.0015; 1200 x $10 + 345 x $20 per Mtok = $0.0189.
    const newKnown = expectedMinor([[1000, 0.5], [1000, 1]]);
    const filled = expectedMinor([[1200, 10], [345, 20]]);
    assert.deepEqual([newKnown, filled], [150, 1890]);
    assert.equal(s.delta_usd_minor_units, newKnown - Number(known.cost_usd_minor_units));
    assert.equal(s.filled_usd_minor_units, filled);

    const k = meter.rows(`r.id = '${String(known.id)}'`)[0];
    assert.equal(k.cost_usd_minor_units, newKnown);
    assert.equal(k.rates_source, 'override');
    const u = meter.rows(`r.id = '${String(unknown.id)}'`)[0];
    assert.equal(u.cost_usd_minor_units, filled);
    assert.equal(u.rates_source, 'override');
    assert.equal(u.cost_reason, null);

    const db = new Database(meter.dbPath, { readonly: true });
    try {
      const audit = db.prepare("SELECT subject, detail_json FROM audit_events WHERE kind = 'recost' ORDER BY id").all() as Array<{ subject: string; detail_json: string }>;
      assert.deepEqual(audit.map((a) => a.subject).sort(), [String(known.id), String(unknown.id)].sort());
      const dk = JSON.parse(audit.find((a) => a.subject === known.id)?.detail_json ?? '{}') as Record<string, unknown>;
      assert.equal(dk.old_cost_usd_minor_units, known.cost_usd_minor_units);
      assert.equal(dk.new_cost_usd_minor_units, newKnown);
      assert.equal(dk.old_rates_source, known.rates_source);
      assert.equal(dk.new_rates_source, 'override');
      assert.match(String(dk.bundle), /^bundled-\d{4}-\d{2}-\d{2}$/);
      const du = JSON.parse(audit.find((a) => a.subject === unknown.id)?.detail_json ?? '{}') as Record<string, unknown>;
      assert.equal(du.old_cost_usd_minor_units, null);
      assert.match(String(du.old_cost_reason), /^unknown model/);
    } finally {
      db.close();
    }

    // Idempotent, and the text summary reads as such.
    const again = await cli(['recost']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^recost: \d+ rows examined/);
    assert.match(again.stdout, /\n +0 changed\n/);
    assert.match(again.stdout, /\n +0 filled\n/);
  });

  test('runs while the daemon records: no row lost, each filled once, audited once', async () => {
    // The daemon loaded config.toml at start, so it still stores these as unknown (NULL); each
    // recost running meanwhile fills what has landed, writing while the daemon inserts.
    const calls = Array.from({ length: 30 }, (_, i) =>
      new Promise((r) => setTimeout(r, i * 15)).then(() =>
        curl('recost-concurrent', ['https://api.anthropic.com/v1/messages', '-H', 'content-type: application/json', '-d', anthropicBody('claude-mystery-concurrent', false)]),
      ),
    );
    const recosts: Array<{ code: number; stdout: string; stderr: string }> = [];
    const loop = (async () => {
      for (let i = 0; i < 6; i++) recosts.push(await cli(['recost', '--since', '1h', '--json']));
    })();
    await Promise.all([...calls, loop]);
    const rows = await meter.waitForRows(30, "p.slug = 'recost-concurrent'");
    const last = await cli(['recost', '--since', '1h', '--json']);
    for (const r of [...recosts, last]) assert.equal(r.code, 0, r.stderr);
    const filled = [...recosts, last].reduce((n, r) => n + (JSON.parse(r.stdout) as { filled: number }).filled, 0);
    assert.equal(rows.length, 30);
    assert.equal(filled, 30);
    for (const r of meter.rows("p.slug = 'recost-concurrent'")) {
      assert.equal(r.cost_usd_minor_units, 1890);
      assert.equal(r.rates_source, 'override');
    }
    const db = new Database(meter.dbPath, { readonly: true });
    try {
      const n = db
        .prepare("SELECT count(*) AS n, count(DISTINCT subject) AS d FROM audit_events WHERE kind = 'recost' AND subject IN (SELECT r.id FROM requests r JOIN projects p ON p.id = r.project_id WHERE p.slug = 'recost-concurrent')")
        .get() as { n: number; d: number };
      assert.deepEqual(n, { n: 30, d: 30 });
    } finally {
      db.close();
    }
    assert.doesNotMatch(meter.daemonLog(), /rows_dropped/);
  });
});
