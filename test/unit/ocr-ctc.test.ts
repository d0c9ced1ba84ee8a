// CTC greedy decoding and the character list, on hand-made probability matrices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertCharsetMatches, ctcGreedyDecode, loadCharset, parseCharset } from '../../deployments/ocr/ctc.ts';
import { MODEL_PATHS } from '../../deployments/ocr/steps.ts';

// Classes: 0 blank, 1 'a', 2 'b', 3 'c', 4 ' '.
const charset = parseCharset('a\nb\nc\n');

/** One row of T steps: each step puts `p` on its class and spreads the rest evenly. */
function rows(...paths: [number, number][][]): { probs: Float32Array; dims: [number, number, number] } {
  const n = paths.length,
    t = paths[0]!.length,
    c = charset.length;
  const probs = new Float32Array(n * t * c);
  paths.forEach((path, r) =>
    path.forEach(([k, p], s) => {
      for (let j = 0; j < c; j++) probs[(r * t + s) * c + j] = j === k ? p : (1 - p) / (c - 1);
    }),
  );
  return { probs, dims: [n, t, c] };
}

test('parseCharset: blank first, file lines, space last; trailing newline and CRLF ignored', () => {
  assert.deepEqual(charset, ['', 'a', 'b', 'c', ' ']);
  assert.deepEqual(parseCharset('x\r\ny'), ['', 'x', 'y', ' ']);
  assert.throws(() => parseCharset('x\n\ny\n'), /empty entry at line 2/);
});

test('the PP-OCRv4 key file gives 6625 classes, the recogniser output size', () => {
  const keys = loadCharset(MODEL_PATHS.keys);
  assert.equal(keys.length, 6625);
  assert.equal(keys[0], '');
  assert.equal(keys[keys.length - 1], ' ');
  assert.doesNotThrow(() => assertCharsetMatches(keys, 6625));
  assert.throws(() => assertCharsetMatches(keys, 6624), /6625 classes.*outputs 6624/);
});

test('repeats collapse, blanks drop, a blank between repeats keeps both', () => {
  // a a - b b - b c  ->  "abbc"
  const { probs, dims } = rows([
    [1, 0.9],
    [1, 0.8],
    [0, 0.99],
    [2, 0.7],
    [2, 0.6],
    [0, 0.9],
    [2, 0.5],
    [3, 0.95],
  ]);
  const [out] = ctcGreedyDecode(probs, dims, charset);
  assert.equal(out!.text, 'abbc');
  // Score averages the first step of each kept run: (0.9 + 0.7 + 0.5 + 0.95) / 4.
  assert.ok(Math.abs(out!.score - (0.9 + 0.7 + 0.5 + 0.95) / 4) < 1e-6, `score ${out!.score}`);
});

test('all-blank row decodes to empty text with score 0', () => {
  const { probs, dims } = rows([
    [0, 0.9],
    [0, 0.9],
    [0, 0.9],
  ]);
  assert.deepEqual(ctcGreedyDecode(probs, dims, charset), [{ text: '', score: 0 }]);
});

test('several rows decode independently, including the space class', () => {
  const { probs, dims } = rows(
    [
      [1, 0.9],
      [4, 0.9],
      [2, 0.9],
      [0, 0.9],
    ],
    [
      [3, 0.8],
      [3, 0.8],
      [3, 0.8],
      [3, 0.8],
    ],
  );
  const out = ctcGreedyDecode(probs, dims, charset);
  assert.deepEqual(
    out.map((o) => o.text),
    ['a b', 'c'],
  );
});

test('argmax ties go to the lower class index', () => {
  const probs = new Float32Array([0, 0.5, 0.5, 0, 0]); // 'a' and 'b' tie
  assert.equal(ctcGreedyDecode(probs, [1, 1, 5], charset)[0]!.text, 'a');
});

test('steps limit each row (e.g. to skip padding)', () => {
  const { probs, dims } = rows([
    [1, 0.9],
    [0, 0.9],
    [2, 0.9],
    [3, 0.9],
  ]);
  assert.equal(ctcGreedyDecode(probs, dims, charset, [2])[0]!.text, 'a');
});

test('bad shapes are rejected', () => {
  assert.throws(() => ctcGreedyDecode(new Float32Array(4), [1, 1, 5], charset), /need 5/);
  assert.throws(() => ctcGreedyDecode(new Float32Array(6), [1, 1, 6], charset), /outputs 6/);
});

test('spaceThreshold reads a space where the blank won the gap but the space class came close', () => {
  // a, then a blank step where the space class has 0.3 (blank 0.6), then b: greedy reads "ab".
  const c = charset.length,
    space = c - 1;
  const probs = new Float32Array(3 * c);
  const step = (s: number, values: Record<number, number>) => {
    for (const [k, p] of Object.entries(values)) probs[s * c + Number(k)] = p;
  };
  step(0, { 1: 0.9, 0: 0.1 });
  step(1, { 0: 0.6, [space]: 0.3, 1: 0.1 });
  step(2, { 2: 0.9, 0: 0.1 });
  const dims: [number, number, number] = [1, 3, c];
  assert.equal(ctcGreedyDecode(probs, dims, charset)[0]!.text, 'ab');
  assert.equal(ctcGreedyDecode(probs, dims, charset, undefined, 0.25)[0]!.text, 'a b');
  assert.equal(ctcGreedyDecode(probs, dims, charset, undefined, 0.35)[0]!.text, 'ab', 'under the threshold: no space');
  // No space before the first character, and never two in a row.
  step(0, { 1: 0, 0: 0.6, [space]: 0.4 });
  assert.equal(ctcGreedyDecode(probs, dims, charset, undefined, 0.25)[0]!.text, 'b');
});
