import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { readJsonArray } from '../../src/adapters/json-array.js';

describe('readJsonArray', () => {
  test('not an array: null', () => {
    for (const t of ['', '{"a":1}', 'null', '  "x"', 'data: {}']) assert.equal(readJsonArray(t), null, t);
  });

  test('a whole array, with the framing Gemini uses', () => {
    const r = readJsonArray('\uFEFF [{"a":1}\n,\r\n{"b":[1,2]}\n,\r\n{"c":"x"}\n]');
    assert.deepEqual(r, { elements: [{ a: 1 }, { b: [1, 2] }, { c: 'x' }], closed: true, invalid: 0 });
  });

  test('empty and scalar arrays', () => {
    assert.deepEqual(readJsonArray('[]'), { elements: [], closed: true, invalid: 0 });
    assert.deepEqual(readJsonArray('[1, "two", true, null]'), { elements: [1, 'two', true, null], closed: true, invalid: 0 });
  });

  test('strings hide brackets, commas and escaped quotes', () => {
    const r = readJsonArray('[{"t":"]},[{\\"x\\"\\\\"},{"u":"\\u005d"}]');
    assert.deepEqual(r?.elements, [{ t: ']},[{"x"\\' }, { u: ']' }]);
    assert.equal(r?.closed, true);
  });

  test('cut mid-element: the complete elements before it', () => {
    const r = readJsonArray('[{"a":1},{"b":2},{"c":{"d":');
    assert.deepEqual(r, { elements: [{ a: 1 }, { b: 2 }], closed: false, invalid: 0 });
  });

  test('cut right after an element, before its comma: the element counts', () => {
    assert.deepEqual(readJsonArray('[{"a":1}\n,\r\n{"b":2}'), { elements: [{ a: 1 }, { b: 2 }], closed: false, invalid: 0 });
  });

  test('cut inside a string that contains a bracket', () => {
    assert.deepEqual(readJsonArray('[{"a":1},{"t":"oops ]'), { elements: [{ a: 1 }], closed: false, invalid: 0 });
  });

  test('a trailing scalar that may be cut is dropped', () => {
    assert.deepEqual(readJsonArray('[1, 12'), { elements: [1], closed: false, invalid: 0 });
  });

  test('a delimited element that is not JSON is counted, not kept', () => {
    assert.deepEqual(readJsonArray('[{"a":1}, nope, {"b":2}]'), { elements: [{ a: 1 }, { b: 2 }], closed: true, invalid: 1 });
  });

  test('every prefix of a real stream reads without throwing, and never more than the whole', () => {
    const whole = JSON.stringify([{ usageMetadata: { promptTokenCount: 1 } }, { text: 'a"]}' }, { usageMetadata: { promptTokenCount: 3 } }], null, 2);
    for (let i = 0; i <= whole.length; i++) {
      const r = readJsonArray(whole.slice(0, i));
      if (r === null) {
        assert.equal(i, 0);
        continue;
      }
      assert.ok(r.elements.length <= 3);
      assert.equal(r.invalid, 0, `prefix ${i}`);
      assert.equal(r.closed, i === whole.length);
    }
  });
});
