// `halton-meter logs`: the tail of a JSON-lines file (last N complete lines, however long the file),
// the follower (appends, a line written in two parts, truncation in place, rotation by rename and by
// delete-and-recreate), merging files by time, the pretty line, and bad arguments.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isMeterError } from '../../src/core/errors.js';
import { formatEvent, LogFollower, mergeByTime, parseComponents, parseLineCount, tailFile, toLogLine } from '../../src/cli/log-tail.js';
import { makeStyle } from '../../src/cli/output/style.js';

const plain = makeStyle(false, {});
const ev = (i: number, extra = ''): string => `{"ts":"2026-05-11T10:00:${String(i % 60).padStart(2, '0')}.000Z","level":"info","event":"e.${i}","component":"daemon","pid":7${extra}}`;
const tmp = (): string => mkdtempSync(join(tmpdir(), 'hm-logs-'));

describe('tailFile', () => {
  test('the last N complete lines; a line still being written is left for the follower', () => {
    const f = join(tmp(), 'daemon.log');
    writeFileSync(f, `${ev(1)}\n${ev(2)}\n${ev(3)}\n{"ts":"partial`);
    const t = tailFile(f, 2);
    assert.ok(t);
    assert.deepEqual(t.lines, [ev(2), ev(3)]);
    assert.equal(t.end, Buffer.byteLength(`${ev(1)}\n${ev(2)}\n${ev(3)}\n`));
    assert.deepEqual(tailFile(f, 10)?.lines, [ev(1), ev(2), ev(3)]);
    assert.deepEqual(tailFile(f, 0)?.lines, []);
  });

  test('reads backwards in chunks: the right lines from a file much larger than a chunk, multibyte text intact', () => {
    const f = join(tmp(), 'daemon.log');
    const lines = Array.from({ length: 2000 }, (_, i) => ev(i, `,"note":"é ${'x'.repeat(i % 50)}"`));
    writeFileSync(f, lines.join('\n') + '\n');
    const t = tailFile(f, 7, 512);
    assert.deepEqual(t?.lines, lines.slice(-7));
    assert.deepEqual(tailFile(f, 1999, 4096)?.lines, lines.slice(1));
  });

  test('a missing file is null; an empty one has no lines', () => {
    const d = tmp();
    assert.equal(tailFile(join(d, 'nope.log'), 5), null);
    writeFileSync(join(d, 'empty.log'), '');
    assert.deepEqual(tailFile(join(d, 'empty.log'), 5)?.lines, []);
  });
});

describe('LogFollower', () => {
  test('new lines after the tail; a line written in two parts comes out once, whole', () => {
    const f = join(tmp(), 'edge.log');
    writeFileSync(f, `${ev(1)}\n`);
    const t = tailFile(f, 10)!;
    const fl = new LogFollower(f, t);
    assert.deepEqual(fl.poll(), { lines: [], notes: [] });
    appendFileSync(f, `${ev(2)}\n{"ts":"2026-05-11T10:00:03.000Z",`);
    assert.deepEqual(fl.poll().lines, [ev(2)]);
    appendFileSync(f, '"level":"info","event":"e.3"}\n');
    assert.deepEqual(fl.poll().lines, ['{"ts":"2026-05-11T10:00:03.000Z","level":"info","event":"e.3"}']);
    fl.close();
  });

  test('truncated in place (copytruncate): starts again from the beginning and says so', () => {
    const f = join(tmp(), 'daemon.log');
    writeFileSync(f, `${ev(1)}\n${ev(2)}\n`);
    const fl = new LogFollower(f, tailFile(f, 0));
    truncateSync(f, 0);
    appendFileSync(f, `${ev(3)}\n`);
    assert.deepEqual(fl.poll(), { lines: [ev(3)], notes: ['truncated'] });
    fl.close();
  });

  test('rotated by rename (create mode): the rest of the old file, then the new file from its start', () => {
    const d = tmp();
    const f = join(d, 'daemon.log');
    writeFileSync(f, `${ev(1)}\n`);
    const fl = new LogFollower(f, tailFile(f, 1));
    appendFileSync(f, `${ev(2)}\n`);
    renameSync(f, `${f}.1`);
    appendFileSync(`${f}.1`, `${ev(3)}\n`);
    writeFileSync(f, `${ev(4)}\n`);
    assert.deepEqual(fl.poll(), { lines: [ev(2), ev(3), ev(4)], notes: ['rotated'] });
    appendFileSync(f, `${ev(5)}\n`);
    assert.deepEqual(fl.poll(), { lines: [ev(5)], notes: [] });
    fl.close();
  });

  test('removed, then recreated; a file missing at the start is read whole once it appears', () => {
    const d = tmp();
    const f = join(d, 'supervisor.log');
    writeFileSync(f, `${ev(1)}\n`);
    const fl = new LogFollower(f, tailFile(f, 1));
    rmSync(f);
    assert.deepEqual(fl.poll(), { lines: [], notes: ['removed'] });
    assert.deepEqual(fl.poll(), { lines: [], notes: [] });
    writeFileSync(f, `${ev(2)}\n`);
    assert.deepEqual(fl.poll(), { lines: [ev(2)], notes: ['appeared'] });
    fl.close();

    const g = join(d, 'edge.log');
    const late = new LogFollower(g, null);
    assert.deepEqual(late.poll(), { lines: [], notes: [] });
    writeFileSync(g, `${ev(6)}\n`);
    assert.deepEqual(late.poll(), { lines: [ev(6)], notes: [] });
    late.close();
  });
});

describe('merging and the pretty line', () => {
  test('lines of several files in time order, each file keeping its own order for equal times', () => {
    const a = [toLogLine('daemon', ev(3)), toLogLine('daemon', ev(5))];
    const b = [toLogLine('edge', ev(1)), toLogLine('edge', ev(5)), toLogLine('edge', 'not json')];
    assert.deepEqual(
      mergeByTime([...a, ...b]).map((l) => [l.component, l.text]),
      [
        ['edge', ev(1)],
        ['daemon', ev(3)],
        ['daemon', ev(5)],
        ['edge', ev(5)],
        ['edge', 'not json'],
      ],
    );
  });

  test('time (UTC), component[pid], level, event, then the fields; non-JSON lines as they are', () => {
    const line = '{"ts":"2026-05-11T10:02:03.123Z","level":"info","event":"daemon.startup.ready","component":"daemon","pid":42,"version":"0.1.1","api_port":8765,"db":"/home/a b/db.sqlite","ok":true,"none":null}';
    assert.equal(formatEvent(line, 'daemon', plain), '2026-05-11 10:02:03.123 daemon[42] info  daemon.startup.ready version=0.1.1 api_port=8765 db="/home/a b/db.sqlite" ok=true none=null');
    // The supervisor's events about a child name the child: the pid is the child's, so both stay fields.
    const sup = '{"ts":"2026-05-11T10:02:04.000Z","level":"warn","event":"supervisor.restart_scheduled","component":"daemon","pid":9,"in_ms":500}';
    assert.equal(formatEvent(sup, 'supervisor', plain), '2026-05-11 10:02:04.000 supervisor warn  supervisor.restart_scheduled component=daemon pid=9 in_ms=500');
    assert.equal(formatEvent('plain text', 'edge', plain), 'plain text');
    assert.match(formatEvent(line, 'daemon', makeStyle(true, {})), /\u001b\[/);
  });
});

describe('arguments', () => {
  test('--component takes daemon, edge, supervisor, repeated or comma-separated; anything else is one clear error', () => {
    assert.deepEqual(parseComponents(undefined), ['daemon', 'edge', 'supervisor']);
    assert.deepEqual(parseComponents(['edge']), ['edge']);
    assert.deepEqual(parseComponents(['edge,daemon', 'edge']), ['edge', 'daemon']);
    for (const bad of [['proxy'], ['edge,proxy'], [''], 'all']) {
      assert.throws(() => parseComponents(bad), (e: unknown) => isMeterError(e) && e.code === 'bad_argument' && !e.message.includes('\n'));
    }
  });

  test('-n is a number of lines', () => {
    assert.equal(parseLineCount(undefined), 50);
    assert.equal(parseLineCount('0'), 0);
    assert.equal(parseLineCount('200'), 200);
    for (const bad of ['-1', 'ten', '1.5', '', '99999999']) {
      assert.throws(() => parseLineCount(bad), (e: unknown) => isMeterError(e) && e.code === 'bad_argument');
    }
  });
});
