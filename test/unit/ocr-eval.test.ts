// Accuracy on the committed evaluation set (test/fixtures/ocr-eval: real fonts, sizes, JPEG
// qualities, rotation, skew, light and dark backgrounds; regenerate with
// test/fixtures/ocr-eval-set.ts). Reads JPEGs only: no fonts are needed at test time.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRawOcr, type RawOcr } from '../../deployments/ocr/raw.ts';
import type { EvalSet } from '../fixtures/ocr-eval-set.ts';
import { scoreImage } from '../fixtures/ocr-score.ts';

const dir = new URL('../fixtures/ocr-eval/', import.meta.url);
const set = JSON.parse(readFileSync(new URL('truth.json', dir), 'utf8')) as EvalSet;

let ocr: RawOcr;
before(async () => {
  ocr = await createRawOcr({ intraOpNumThreads: 1 });
});
after(async () => {
  await ocr.close();
});

test(`the committed set reads with no merged spaces and a mean CER under 1% (${set.images.length} images)`, async () => {
  assert.ok(set.images.length >= 20, 'the set holds at least 20 images');
  let cerSum = 0;
  const merged: string[] = [];
  const worst: string[] = [];
  for (const img of set.images) {
    const { lines } = await ocr.run(new Uint8Array(readFileSync(new URL(img.file, dir))));
    const s = scoreImage(img.lines, lines);
    cerSum += s.cer;
    if (s.mergedSpaces > 0) merged.push(`${img.file} (${img.font} ${img.size}px): ${JSON.stringify(img.lines)} read ${JSON.stringify(s.got)}`);
    if (s.cer > 0.05) worst.push(`${img.file}: CER ${s.cer.toFixed(3)}, read ${JSON.stringify(s.got)}`);
  }
  assert.deepEqual(merged, [], 'words whose space was dropped');
  const mean = cerSum / set.images.length;
  assert.ok(mean < 0.01, `mean CER ${mean.toFixed(4)}; worst: ${worst.join('; ')}`);
});

test('the scorer counts a dropped space as a merged word, and an added one as a split word', () => {
  const box = (y: number) =>
    [
      [0, y],
      [100, y],
      [100, y + 20],
      [0, y + 20],
    ] as const;
  const s = scoreImage(
    ['PACK MY BOX', 'Total 1.5'],
    [
      { text: 'PACKMY BOX', box: box(0) },
      { text: 'To tal 1.5', box: box(40) },
    ],
  );
  assert.equal(s.mergedSpaces, 1);
  assert.equal(s.splitWords, 1);
  assert.equal(s.distance, 2);
  assert.equal(s.got, 'PACKMY BOX\nTo tal 1.5');
  // Boxes on one visual row are joined left to right with one space.
  assert.equal(
    scoreImage(
      ['a b'],
      [
        {
          text: 'b',
          box: [
            [50, 2],
            [60, 2],
            [60, 22],
            [50, 22],
          ],
        },
        { text: 'a', box: box(0) },
      ],
    ).got,
    'a b',
  );
});
