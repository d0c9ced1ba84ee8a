// DB post-processing on small synthetic probability maps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findBoxes, readingOrder, type MapGeometry } from '../../deployments/ocr/detect-postprocess.ts';
import { convexHull, minAreaRect } from '../../deployments/ocr/geometry.ts';

const W = 100,
  H = 60;
const geom: MapGeometry = { mapWidth: W, mapHeight: H, scale: 1, imageWidth: W, imageHeight: H };

/** Fill pixels x0..x1, y0..y1 (inclusive) of a W x H map with p. */
function rect(map: Float32Array, x0: number, y0: number, x1: number, y1: number, p = 0.9, w = W): Float32Array {
  for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) map[y * w + x] = p;
  return map;
}

/** Expected DB box for an axis-aligned block: pixel-centre rectangle grown by area*r/perimeter. */
function expected(x0: number, y0: number, x1: number, y1: number, ratio = 1.5): number[] {
  const w = x1 - x0,
    h = y1 - y0;
  const d = (w * h * ratio) / (2 * (w + h));
  return [x0 - d, y0 - d, x1 + d, y0 - d, x1 + d, y1 + d, x0 - d, y1 + d];
}

function assertClose(actual: ArrayLike<number>, want: number[], tol = 1e-3): void {
  assert.equal(actual.length, want.length, `length ${actual.length} vs ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(actual[i]! - want[i]!) <= tol, `index ${i}: ${actual[i]} vs ${want[i]} in [${Array.from(actual).map((v) => v.toFixed(2))}]`);
  }
}

test('two separate rectangles give two boxes, top one first, grown by the unclip offset', () => {
  const map = new Float32Array(W * H);
  rect(map, 20, 35, 79, 44); // lower block drawn first: order must not depend on scan order
  rect(map, 10, 10, 49, 19);
  const r = findBoxes(map, geom);
  assert.equal(r.count, 2);
  assertClose(r.boxes.subarray(0, 8), expected(10, 10, 49, 19));
  assertClose(r.boxes.subarray(8, 16), expected(20, 35, 79, 44));
  assertClose(r.scores, [0.9, 0.9], 1e-6);
});

test('unclipRatio changes the growth', () => {
  const map = rect(new Float32Array(W * H), 10, 10, 49, 19);
  assertClose(findBoxes(map, geom, { unclipRatio: 2 }).boxes, expected(10, 10, 49, 19, 2));
});

test('regions below boxThresh are dropped; thresh decides what is a region', () => {
  const map = rect(new Float32Array(W * H), 10, 10, 49, 19, 0.5);
  assert.equal(findBoxes(map, geom).count, 0, 'mean 0.5 < boxThresh 0.6');
  assert.equal(findBoxes(map, geom, { boxThresh: 0.4 }).count, 1);
  assert.equal(findBoxes(map, geom, { thresh: 0.5, boxThresh: 0.1 }).count, 0, 'nothing strictly above thresh');
});

test('tiny regions are dropped', () => {
  const map = rect(new Float32Array(W * H), 50, 30, 51, 31); // 2x2 pixels
  rect(map, 10, 5, 60, 5); // one pixel tall line
  assert.equal(findBoxes(map, geom).count, 0);
});

test('boxes map back to the original image by the detector scale and clamp to it', () => {
  const map = rect(new Float32Array(W * H), 10, 10, 49, 19);
  // The map is the image shrunk by 0.5: original coordinate = (x + 0.5) / 0.5 - 0.5 = 2x + 0.5.
  const r = findBoxes(map, { ...geom, scale: 0.5, imageWidth: 200, imageHeight: 120 });
  assertClose(
    r.boxes,
    expected(10, 10, 49, 19).map((v) => 2 * v + 0.5),
  );
  // A block at the corner: growth is clamped at 0.
  const edge = findBoxes(rect(new Float32Array(W * H), 0, 0, 30, 9), geom);
  assert.equal(edge.count, 1);
  assert.equal(Math.min(...edge.boxes), 0);
});

test('a rotated block gives a rotated box with the right angle and size', () => {
  const map = new Float32Array(W * H);
  const angle = (20 * Math.PI) / 180,
    cx = 50,
    cy = 30,
    hu = 30,
    hn = 6;
  const ux = Math.cos(angle),
    uy = Math.sin(angle);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const dx = x - cx,
        dy = y - cy;
      if (Math.abs(dx * ux + dy * uy) <= hu && Math.abs(-dx * uy + dy * ux) <= hn) map[y * W + x] = 1;
    }
  const r = findBoxes(map, geom, { unclipRatio: 0.5 });
  assert.equal(r.count, 1);
  const b = r.boxes;
  const topAngle = (Math.atan2(b[3]! - b[1]!, b[2]! - b[0]!) * 180) / Math.PI;
  assert.ok(Math.abs(topAngle - 20) < 2, `top edge at ${topAngle.toFixed(2)} degrees`);
  const width = Math.hypot(b[2]! - b[0]!, b[3]! - b[1]!),
    height = Math.hypot(b[6]! - b[0]!, b[7]! - b[1]!);
  assert.ok(width > 60 && width < 68 && height > 12 && height < 20, `size ${width.toFixed(1)} x ${height.toFixed(1)}`);
  assert.ok(b[0]! < b[2]! && b[1]! < b[7]!, 'corners ordered tl, tr, br, bl');
});

test('reading order: same line left to right even when the right word sits higher', () => {
  const box = (x0: number, y0: number, x1: number, y1: number) => new Float64Array([x0, y0, x1, y0, x1, y1, x0, y1]);
  const order = readingOrder([box(60, 8, 90, 28), box(5, 60, 40, 80), box(10, 12, 50, 32)]);
  assert.deepEqual(order, [2, 0, 1]);
  // A line rotated by 3 degrees, read as four word boxes (40 high, each 9 px higher than the
  // one to its left), then a second line below: the words chain into one row.
  const words = [0, 1, 2, 3].map((i) => box(40 + 170 * i, 70 - 9 * i, 175 + 170 * i, 110 - 9 * i));
  assert.deepEqual(readingOrder([words[3]!, words[1]!, box(40, 160, 300, 200), words[0]!, words[2]!]), [3, 1, 4, 0, 2]);
});

test('maxCandidates bounds the regions examined', () => {
  const map = new Float32Array(W * H);
  for (let i = 0; i < 5; i++) rect(map, 5 + i * 19, 20, 18 + i * 19, 30);
  assert.equal(findBoxes(map, geom).count, 5);
  assert.equal(findBoxes(map, geom, { maxCandidates: 2 }).count, 2);
});

test('geometry: hull drops interior and collinear points; min-area rect of a rotated square', () => {
  const xs = new Int32Array([0, 2, 4, 4, 0, 2, 1]),
    ys = new Int32Array([0, 0, 0, 4, 4, 2, 1]);
  assert.equal(convexHull(xs, ys, 7).length / 2, 4);
  const s = Math.SQRT1_2 * 10; // diamond with side 10
  const r = minAreaRect(new Float64Array([0, -s, s, 0, 0, s, -s, 0]))!;
  assert.ok(Math.abs(4 * r.halfU * r.halfN - 100) < 1e-6, `area ${4 * r.halfU * r.halfN}`);
  assert.equal(minAreaRect(new Float64Array([0, 0, 5, 5])), null);
});
