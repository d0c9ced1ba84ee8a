// The direction classifier: upside-down lines read correctly with classifyDirection, on the real models.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { createRawOcr, type RawOcr } from '../../deployments/ocr/raw.ts';
import { turnUpsideDownLines } from '../../deployments/ocr/direction.ts';
import type { EvalSet } from '../fixtures/ocr-eval-set.ts';
import { scoreImage } from '../fixtures/ocr-score.ts';
import { renderText } from '../fixtures/render-text.ts';

const dir = new URL('../fixtures/ocr-eval/', import.meta.url);
const set = JSON.parse(readFileSync(new URL('truth.json', dir), 'utf8')) as EvalSet;

let plain: RawOcr;
let classified: RawOcr;
before(async () => {
  [plain, classified] = await Promise.all([createRawOcr({ intraOpNumThreads: 1 }), createRawOcr({ intraOpNumThreads: 1, classifyDirection: true })]);
});
after(async () => {
  await Promise.all([plain.close(), classified.close()]);
});

for (const file of ['003-prose.jpg', '016-invoice.jpg']) {
  test(`${file} turned upside down reads with the classifier, and not without`, async () => {
    const truth = set.images.find((i) => i.file === file)!.lines;
    const upright = new Uint8Array(readFileSync(new URL(file, dir)));
    const turned = new Uint8Array(await sharp(upright).rotate(180).jpeg({ quality: 90 }).toBuffer());
    const { lines } = await classified.run(turned);
    // Upside down, the last line of the text is the top one of the image: rows come reversed.
    const reversed = [...truth].reverse();
    const read = scoreImage(reversed, lines);
    assert.ok(read.cer < 0.05, `CER ${read.cer.toFixed(3)}: read ${JSON.stringify(read.got)}`);
    // The first corner of each box is the text's top-left, which is the image's bottom-right now.
    const [[x0, y0], , [x2, y2]] = lines[0]!.box;
    assert.ok(x0 > x2 && y0 > y2, `box ${JSON.stringify(lines[0]!.box)}`);
    // Control: without the classifier the same image reads as nonsense (or not at all).
    const without = scoreImage(reversed, (await plain.run(turned)).lines);
    assert.ok(without.cer > 0.5, `without the classifier: CER ${without.cer.toFixed(3)}, read ${JSON.stringify(without.got)}`);
    // Upright lines stay as they are.
    assert.ok(scoreImage(truth, (await classified.run(upright)).lines).cer < 0.05);
  });
}

test('turnUpsideDownLines turns only boxes the classifier calls 180 with enough confidence', () => {
  const boxes = new Float32Array([0, 0, 10, 0, 10, 5, 0, 5, 20, 0, 30, 0, 30, 5, 20, 5, 40, 0, 50, 0, 50, 5, 40, 5]);
  const probs = new Float32Array([0.99, 0.01, 0.02, 0.98, 0.2, 0.8]);
  assert.equal(turnUpsideDownLines(probs, [3, 2], boxes), 1);
  assert.deepEqual(Array.from(boxes.subarray(0, 8)), [0, 0, 10, 0, 10, 5, 0, 5]);
  assert.deepEqual(Array.from(boxes.subarray(8, 16)), [30, 5, 20, 5, 20, 0, 30, 0]);
  assert.deepEqual(Array.from(boxes.subarray(16, 24)), [40, 0, 50, 0, 50, 5, 40, 5], '0.8 is under the 0.9 threshold');
  assert.equal(turnUpsideDownLines(probs, [3, 2], boxes, { threshold: 0.5 }), 2);
  assert.throws(() => turnUpsideDownLines(probs, [2, 2], boxes), /dims \[2,2\] do not match 3 boxes/);
});

test('a long upside-down line (40 characters) reads turned', async () => {
  const text = 'Quarterly revenue grew by twelve percent';
  const upright = await renderText([text], { width: 1100, size: 40 });
  const turned = new Uint8Array(await sharp(upright).rotate(180).png().toBuffer());
  const read = scoreImage([text], (await classified.run(turned)).lines);
  assert.ok(read.cer < 0.05, `CER ${read.cer.toFixed(3)}: read ${JSON.stringify(read.got)}`);
});
