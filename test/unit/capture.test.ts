// Body capture (src/daemon/capture/, src/store/bodies.ts): the decision (.haltonrc flag from
// attribution, project_settings), redaction before capping, SSE bodies, and the writer against a real
// SQLite file: bodies land only after their row, only for projects with capture on, and the file's
// raw bytes never hold a planted secret.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { ObservedResponse } from '../../src/core/exchange.js';
import type { RequestRow } from '../../src/core/request-row.js';
import { BodyCapture, TRUNCATION_MARK, capText, prepareBodies, settingOn, shouldCapture } from '../../src/daemon/capture/index.js';
import { chooseAttribution } from '../../src/daemon/attribution/index.js';
import { findHaltonrcSync, bodyCaptureOn } from '../../src/daemon/attribution/rules/haltonrc.js';
import type { ClientProcess } from '../../src/daemon/attribution/proc-scan.js';
import type { ClientContext } from '../../src/daemon/attribution/context.js';
import { bodiesStats, ensureProject, getBodies, insertBodies, insertRequests, openDb, setProjectSetting } from '../../src/store/index.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'hm-capture-'));
  dirs.push(d);
  return d;
}

const k = (...parts: string[]): string => parts.join('');
const ANT = k('sk-ant-api03-', 'PlantedAnthropicSecret0123456789abcdef');
const OAI = k('sk-proj-', 'PlantedOpenAISecret0123456789abcdefghij');

let seq = 0;
function row(projectSlug: string): RequestRow {
  const n = ++seq;
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    projectSlug,
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
    inputTokens: 1,
    cacheReadTokens: 0,
    cacheWrite5mTokens: 0,
    cacheWrite1hTokens: 0,
    outputTokens: 1,
    thinkingTokens: 0,
    webSearchRequests: 0,
    costUsdMinorUnits: 1,
    costReason: null,
    ratesSource: 'bundled-2025-06-01',
    serviceTier: null,
    latencyMs: 1,
    ttfbMs: 1,
    tokensComplete: true,
    usageSource: 'reported',
    outcome: 'completed',
    attributionRule: 'haltonrc',
    clientPid: null,
    clientName: null,
    providerRequestId: null,
    usageJson: null,
    requestedAt: new Date().toISOString(),
    completedAt: new Date().toISOString(),
  };
}

function response(over: Partial<ObservedResponse> = {}): ObservedResponse {
  return { status: 200, headers: {}, bodyText: JSON.stringify({ content: [{ type: 'text', text: `echo ${ANT}` }] }), events: null, truncated: false, outcome: 'completed', ...over };
}

describe('the decision', () => {
  test('off unless .haltonrc or project_settings say on', () => {
    assert.equal(shouldCapture(undefined, null), false);
    assert.equal(shouldCapture(false, 'off'), false);
    assert.equal(shouldCapture(true, null), true);
    assert.equal(shouldCapture(false, 'on'), true);
    assert.equal(settingOn('ON '), true);
    assert.equal(settingOn('nope'), false);
    assert.equal(bodyCaptureOn(true), true);
    assert.equal(bodyCaptureOn('on'), true);
    assert.equal(bodyCaptureOn('off'), false);
    assert.equal(bodyCaptureOn(false), false);
    assert.equal(bodyCaptureOn(1), false);
  });

  test('.haltonrc body_capture is read with the project', () => {
    const d = tmp();
    const sub = join(d, 'a', 'b');
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(d, '.haltonrc'), 'project = "capture-on"\nbody_capture = "on"\n');
    assert.deepEqual(findHaltonrcSync(sub), { project: 'capture-on', file: join(d, '.haltonrc'), bodyCapture: true });
    writeFileSync(join(d, '.haltonrc'), 'project = "plain"\n');
    assert.deepEqual(findHaltonrcSync(sub), { project: 'plain', file: join(d, '.haltonrc') });
    writeFileSync(join(d, '.haltonrc'), 'project = "bool"\nbody_capture = true\n');
    assert.equal(findHaltonrcSync(sub)?.bodyCapture, true);
  });

  function proc(context: Partial<ClientContext>, env: Record<string, string> = {}): ClientProcess {
    return { pid: 1, name: 'node', env: new Map(Object.entries(env)), cwd: '/x', ppid: 0, context: { haltonrc: null, ideWorkspace: null, gitRoot: null, container: null, cwd: null, ...context } };
  }

  test('attribution carries the flag only for the project its .haltonrc names', () => {
    const rc = { project: 'Capture-On', file: '/r/.haltonrc', bodyCapture: true };
    const a = chooseAttribution({ proxyUser: null, process: proc({ haltonrc: rc }) }, 'misc');
    assert.equal(a.slug, 'capture-on');
    assert.equal(a.bodyCapture, true);
    // The proxy user picks another project: that .haltonrc does not speak for it.
    const b = chooseAttribution({ proxyUser: 'billing', process: proc({ haltonrc: rc }) }, 'misc');
    assert.equal(b.slug, 'billing');
    assert.equal(b.bodyCapture, undefined);
    const c = chooseAttribution({ proxyUser: null, process: proc({ haltonrc: { project: 'plain', file: '/r/.haltonrc' } }) }, 'misc');
    assert.equal(c.bodyCapture, undefined);
  });
});

describe('prepareBodies', () => {
  test('redacts both sides and counts', () => {
    const b = prepareBodies('id1', { requestJson: { model: 'm', messages: [{ role: 'user', content: `a ${ANT} b ${OAI}` }], api_key: 'x' }, response: response() });
    assert.ok(b.requestBody && !b.requestBody.includes(ANT) && !b.requestBody.includes(OAI));
    assert.ok(b.responseBody && !b.responseBody.includes(ANT));
    assert.equal(b.redactions, 4);
    assert.equal(b.bytes, Buffer.byteLength(b.requestBody!) + Buffer.byteLength(b.responseBody!));
  });

  test('SSE events are written back as an event stream, each data redacted', () => {
    const events = [
      { event: 'message_start', data: JSON.stringify({ type: 'message_start' }) },
      { event: 'content_block_delta', data: JSON.stringify({ delta: { text: `k ${OAI}` } }) },
      { event: null, data: 'plain line' },
    ];
    const b = prepareBodies('id2', { requestJson: null, response: response({ bodyText: null, events }) });
    assert.equal(b.requestBody, null);
    assert.ok(!b.responseBody!.includes(OAI));
    assert.match(b.responseBody!, /^event: message_start\ndata: \{"type":"message_start"\}\n\nevent: content_block_delta\ndata: .*\[REDACTED:openai-key\].*\n\ndata: plain line\n$/);
  });

  test('capped after redaction, on a character boundary, marked', () => {
    const big = `${ANT} ${'é'.repeat(300_000)}`;
    const b = prepareBodies('id3', { requestJson: { content: big }, response: response({ bodyText: null }) }, { maxBytes: 1000 });
    assert.ok(Buffer.byteLength(b.requestBody!) <= 1000);
    assert.ok(b.requestBody!.startsWith('{"content":"[REDACTED:anthropic-key] é'));
    assert.ok(b.requestBody!.endsWith(TRUNCATION_MARK));
    assert.ok(!b.requestBody!.includes('\uFFFD'));
    assert.equal(b.responseBody, null);
    assert.deepEqual(capText('short', 10), { text: 'short', truncated: false });
  });

  test('a response the observer cut short is marked truncated', () => {
    const b = prepareBodies('id4', { requestJson: null, response: response({ bodyText: '{"partial": "sk\\u002dant', truncated: true }) });
    assert.ok(b.responseBody!.endsWith(TRUNCATION_MARK));
  });
});

describe('BodyCapture against SQLite', () => {
  test('writes redacted bodies after the row, only where capture is on; no secret in the file', async () => {
    const dir = tmp();
    const path = join(dir, 'db.sqlite');
    const db = openDb(path);
    ensureProject(db, 'by-setting');
    assert.equal(setProjectSetting(db, 'by-setting', 'body_capture', 'on'), true);
    const cap = new BodyCapture(db, { flushMs: 10 });
    const rcRow = row('capture-on');
    const setRow = row('by-setting');
    const offRow = row('no-capture');
    const exchange = { requestJson: { messages: [{ role: 'user', content: `secret ${ANT} and ${OAI}` }] }, response: response() };
    // Offered before the row exists (the RowWriter has not flushed yet): waits for it.
    cap.offer({ requestId: rcRow.id, projectSlug: 'capture-on', haltonrcCapture: true, exchange });
    cap.offer({ requestId: setRow.id, projectSlug: 'by-setting', exchange });
    cap.offer({ requestId: offRow.id, projectSlug: 'no-capture', haltonrcCapture: false, exchange });
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(getBodies(db, rcRow.id), null);
    insertRequests(db, [rcRow, setRow, offRow]);
    const until = Date.now() + 3000;
    while (cap.written < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.equal(cap.written, 2);
    const stored = getBodies(db, rcRow.id)!;
    assert.equal(stored.redacted, true);
    assert.ok(stored.requestBody!.includes('[REDACTED:anthropic-key]'));
    assert.ok(getBodies(db, setRow.id));
    assert.equal(getBodies(db, offRow.id), null);
    const stats = bodiesStats(db);
    assert.equal(stats.bodies, 2);
    assert.deepEqual(stats.projects.map((p) => p.project).sort(), ['by-setting', 'capture-on']);
    cap.close();
    db.close();
    for (const f of [path, `${path}-wal`]) {
      if (!existsSync(f)) continue;
      const raw = readFileSync(f);
      for (const s of [ANT, OAI, 'PlantedAnthropicSecret', 'PlantedOpenAISecret']) assert.equal(raw.indexOf(s), -1, `${s} in ${f}`);
    }
  });

  test('project setting body_capture_emails also redacts e-mail addresses', async () => {
    const db = openDb(join(tmp(), 'db.sqlite'));
    for (const slug of ['mails', 'keep-mails']) {
      ensureProject(db, slug);
      setProjectSetting(db, slug, 'body_capture', 'on');
    }
    setProjectSetting(db, 'mails', 'body_capture_emails', 'on');
    const cap = new BodyCapture(db, { flushMs: 5 });
    const a = row('mails');
    const b = row('keep-mails');
    insertRequests(db, [a, b]);
    const exchange = { requestJson: { content: 'mail jane@example.com' }, response: response({ bodyText: null }) };
    cap.offer({ requestId: a.id, projectSlug: 'mails', exchange });
    cap.offer({ requestId: b.id, projectSlug: 'keep-mails', exchange });
    const until = Date.now() + 3000;
    while (cap.written < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.equal(getBodies(db, a.id)?.requestBody, '{"content":"mail [REDACTED:email]"}');
    assert.equal(getBodies(db, b.id)?.requestBody, '{"content":"mail jane@example.com"}');
    cap.close();
    db.close();
  });

  test('insertBodies skips a body whose row is missing, and is idempotent', () => {
    const db = openDb(join(tmp(), 'db.sqlite'));
    const r = row('p');
    const body = { requestId: r.id, requestBody: '{}', responseBody: null, redactions: 0, bytes: 2 };
    assert.deepEqual(insertBodies(db, [body]), []);
    insertRequests(db, [r]);
    assert.deepEqual(insertBodies(db, [body]), [r.id]);
    assert.deepEqual(insertBodies(db, [body]), [r.id]);
    assert.equal(getBodies(db, r.id)?.redacted, false);
    db.close();
  });
});
