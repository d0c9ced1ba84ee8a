// Box crops -> recognition batch: sampling, upright rotation, widths, normalisation, padding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cropBatch, cropBuckets, type RgbImage } from '../../deployments/ocr/crop.ts';

// Geometry tests read the box itself: no margin (the pipeline's default adds one, tested below).
const tight = { marginY: 0, marginX: 0, stretchX: 1 };

/** W x H white image with the given rectangles painted. */
function image(w: number, h: number, paint: [number, number, number, number, [number, number, number]][]): RgbImage {
  const data = new Uint8Array(w * h * 3).fill(255);
  for (const [x0, y0, x1, y1, rgb] of paint) {
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) data.set(rgb, (y * w + x) * 3);
  }
  return { data, width: w, height: h };
}

function near(actual: number, want: number, what: string): void {
  assert.ok(Math.abs(actual - want) < 1e-5, `${what}: ${actual}`);
}

const box = (x0: number, y0: number, x1: number, y1: number) => [x0, y0, x1, y0, x1, y1, x0, y1];

/** Value of plane p at (u, v) of batch item n. */
function at(b: ReturnType<typeof cropBatch>, n: number, p: number, u: number, v: number): number {
  const [, c, h, w] = b.dims;
  return b.batch[((n * c + p) * h + v) * w + u]!;
}

test('an axis-aligned box is resized to height 48 with its aspect ratio, normalised to [-1, 1] in BGR planes', () => {
  const img = image(100, 50, [[20, 10, 60, 30, [255, 0, 0]]]); // red block 40x20
  const b = cropBatch(img, new Float32Array(box(22, 12, 58, 28)), 1, { minWidth: 0, ...tight });
  // 36 x 16 box -> 48 high, ceil(48 * 36 / 16) = 108 wide, batch width rounded up to 112.
  assert.deepEqual(b.dims, [1, 3, 48, 112]);
  assert.deepEqual(Array.from(b.widths), [108]);
  for (const [u, v] of [
    [0, 0],
    [107, 47],
    [54, 24],
  ] as const) {
    near(at(b, 0, 2, u, v), 1, 'R plane (last) at +1');
    near(at(b, 0, 1, u, v), -1, 'G plane at -1');
    near(at(b, 0, 0, u, v), -1, 'B plane (first) at -1');
  }
  assert.equal(at(b, 0, 2, 110, 10), 0, 'padding is 0');
});

test("crops share the widest width, with PaddleOCR's 320 minimum by default and a cap", () => {
  const img = image(400, 100, []);
  const boxes = new Float32Array([...box(0, 0, 40, 20), ...box(0, 40, 200, 60)]);
  const b = cropBatch(img, boxes, 2, tight);
  assert.deepEqual(b.dims, [2, 3, 48, 480]); // 200 x 20 -> 480 wide
  assert.deepEqual(Array.from(b.widths), [96, 480]);
  assert.equal(cropBatch(img, new Float32Array(box(0, 0, 40, 20)), 1, tight).dims[3], 320);
  const long = cropBatch(image(2000, 20, []), new Float32Array(box(0, 0, 1999, 19)), 1, { maxWidth: 640, ...tight });
  assert.deepEqual(long.dims, [1, 3, 48, 640]);
});

test('a rotated box comes out upright', () => {
  // A dark bar tilted by 30 degrees; its box corners follow the tilt, so the crop is uniformly dark
  // in the middle rows (an axis-aligned crop would show white corners there).
  const w = 200,
    h = 120,
    data = new Uint8Array(w * h * 3).fill(255);
  const a = Math.PI / 6,
    ux = Math.cos(a),
    uy = Math.sin(a),
    cx = 100,
    cy = 60;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const dx = x - cx,
        dy = y - cy;
      if (Math.abs(dx * ux + dy * uy) <= 60 && Math.abs(-dx * uy + dy * ux) <= 10) data.fill(0, (y * w + x) * 3, (y * w + x) * 3 + 3);
    }
  const corner = (su: number, sn: number) => [cx + su * 55 * ux - sn * 6 * uy, cy + su * 55 * uy + sn * 6 * ux];
  const q = new Float32Array([...corner(-1, -1), ...corner(1, -1), ...corner(1, 1), ...corner(-1, 1)]);
  const b = cropBatch({ data, width: w, height: h }, q, 1, { minWidth: 0, ...tight });
  assert.equal(b.widths[0], Math.ceil((48 * 110) / 12));
  for (let u = 0; u < b.widths[0]!; u += 7)
    for (const v of [0, 24, 47]) {
      assert.ok(at(b, 0, 1, u, v) < -0.9, `dark at (${u}, ${v}): ${at(b, 0, 1, u, v)}`);
    }
});

test('a tall box is read as vertical text: its top ends up on the left', () => {
  const img = image(50, 100, [[10, 10, 30, 50, [0, 0, 0]]]); // top half of the box black, bottom white
  const b = cropBatch(img, new Float32Array(box(10, 10, 30, 90)), 1, { minWidth: 0, ...tight });
  assert.deepEqual(Array.from(b.widths), [Math.ceil((48 * 80) / 20)]);
  const last = b.widths[0]! - 1;
  near(at(b, 0, 0, 2, 24), -1, 'left = top of the box = black');
  near(at(b, 0, 0, last - 2, 24), 1, 'right = bottom of the box = white');
});

test('no boxes give an empty batch; short box arrays are rejected', () => {
  const b = cropBatch(image(10, 10, []), new Float32Array(0), 0);
  assert.equal(b.batch.length, 0);
  assert.equal(b.dims[0], 0);
  assert.throws(() => cropBatch(image(10, 10, []), new Float32Array(4), 1), RangeError);
});

test('the margin adds background above and below the box, in proportion to its height', () => {
  // A black 40x20 block on white; the box is the block: with marginY 0.5 the crop reads 10 px
  // of white above and below it (40 px in all), so the top and bottom quarter rows are white.
  const img = image(100, 60, [[30, 20, 70, 40, [0, 0, 0]]]);
  const b = cropBatch(img, new Float32Array(box(30, 20, 70, 40)), 1, { minWidth: 0, marginY: 0.5, marginX: 0, stretchX: 1 });
  assert.deepEqual(Array.from(b.widths), [48]); // 40 wide x 40 high -> 48 x 48
  near(at(b, 0, 1, 24, 3), 1, 'top rows are the white margin');
  near(at(b, 0, 1, 24, 44), 1, 'bottom rows are the white margin');
  near(at(b, 0, 1, 24, 24), -1, 'the middle is the block');
  // marginX widens along the text by a share of the height.
  assert.deepEqual(Array.from(cropBatch(img, new Float32Array(box(30, 20, 70, 40)), 1, { minWidth: 0, marginY: 0, marginX: 0.5, stretchX: 1 }).widths), [144]);
  // stretchX reads an enlarged crop wider than its shape: 40 x 20 at height 48 is 96 columns, 120 at 1.25;
  // a crop that is not enlarged (80 x 60 -> 64 x 48) keeps its shape.
  assert.deepEqual(Array.from(cropBatch(img, new Float32Array(box(30, 20, 70, 40)), 1, { minWidth: 0, ...tight, stretchX: 1.25 }).widths), [120]);
  assert.deepEqual(Array.from(cropBatch(img, new Float32Array(box(10, 0, 90, 60)), 1, { minWidth: 0, ...tight, stretchX: 1.25 }).widths), [64]);
});

test('buckets group crops of similar width, each padded only to its own widest', () => {
  const img = image(1000, 200, []);
  // Heights 20: widths at 48 px high are 2.4x the box widths.
  const widths = [100, 400, 110, 420, 300];
  const boxes = new Float32Array(widths.flatMap((w, i) => box(0, i * 30, w, i * 30 + 20)));
  const buckets = cropBuckets(img, boxes, widths.length, { ...tight, minWidth: 0 }, 1.25);
  assert.deepEqual(
    buckets.map((b) => Array.from(b.lines)),
    [[0, 2], [4], [1, 3]],
  );
  assert.deepEqual(
    buckets.map((b) => b.dims[3]),
    [264, 720, 1008],
  );
  assert.deepEqual(Array.from(buckets[2]!.widths), [960, 1008]);
  // Each row is the same crop as in one batch padded to the widest: same pixels, more padding.
  const one = cropBatch(img, boxes, widths.length, { ...tight, minWidth: 0 });
  assert.equal(one.dims[3], 1008);
  // A ratio of Infinity puts every crop in one bucket; below 1 is refused.
  assert.equal(cropBuckets(img, boxes, widths.length, tight, Infinity).length, 1);
  assert.throws(() => cropBuckets(img, boxes, widths.length, tight, 0.5), /bucketRatio/);
  assert.deepEqual(cropBuckets(img, new Float32Array(0), 0), []);
});

test('maxColumns splits a bucket so that no batch holds more columns than that; a wider crop goes alone', () => {
  const img = image(1000, 300, []);
  // Six crops 240 wide at 48 px high (within one bucket), one 1008 wide.
  const widths = [100, 100, 100, 100, 100, 100, 420];
  const boxes = new Float32Array(widths.flatMap((w, i) => box(0, i * 30, w, i * 30 + 20)));
  const buckets = cropBuckets(img, boxes, widths.length, { ...tight, minWidth: 0 }, 1.25, 960);
  assert.deepEqual(
    buckets.map((b) => [b.dims[0], b.dims[3]]),
    [
      [4, 240],
      [2, 240],
      [1, 1008],
    ],
  );
  assert.deepEqual(
    buckets.flatMap((b) => Array.from(b.lines)),
    [0, 1, 2, 3, 4, 5, 6],
  );
  // The rows are the same pixels as uncapped: splitting a bucket keeps its batch width here.
  const uncapped = cropBuckets(img, boxes, widths.length, { ...tight, minWidth: 0 }, 1.25);
  assert.deepEqual(uncapped[0]!.batch.subarray(0, 4 * 3 * 48 * 240), buckets[0]!.batch);
  assert.throws(() => cropBuckets(img, boxes, widths.length, tight, 1.25, 0), /maxColumns/);
});
