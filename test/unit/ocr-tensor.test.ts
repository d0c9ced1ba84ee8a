// Image -> tensor helpers: size planning, resampling, CHW layout and normalisation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planDetSize, resizeRgb, toChw, PADDLE_DET_NORM, type Normalization } from '../../deployments/image/tensor.ts';

test('planDetSize keeps small images, shrinks big ones to maxSide, pads to multiples of 32', () => {
  assert.deepEqual(planDetSize(640, 200), { width: 640, height: 200, paddedWidth: 640, paddedHeight: 224, scale: 1 });
  assert.deepEqual(planDetSize(1920, 1080), { width: 960, height: 540, paddedWidth: 960, paddedHeight: 544, scale: 0.5 });
  assert.deepEqual(planDetSize(10, 5), { width: 10, height: 5, paddedWidth: 32, paddedHeight: 32, scale: 1 });
  const tall = planDetSize(300, 3000);
  assert.equal(tall.height, 960);
  assert.equal(tall.width, 96);
  assert.throws(() => planDetSize(0, 10), RangeError);
});

test('resizeRgb: upscaling interpolates linearly between pixel centres', () => {
  const src = new Uint8Array([0, 0, 0, 100, 200, 40]); // 2x1
  const out = resizeRgb(src, 2, 1, 4, 1);
  assert.deepEqual(Array.from(out.filter((_, i) => i % 3 === 0)), [0, 25, 75, 100]);
  assert.deepEqual(Array.from(out.filter((_, i) => i % 3 === 1)), [0, 50, 150, 200]);
});

test('resizeRgb: downscaling averages (antialias), constant images stay constant', () => {
  const checker = new Uint8Array([0, 0, 0, 255, 255, 255, 255, 255, 255, 0, 0, 0]); // 2x2
  assert.deepEqual(Array.from(resizeRgb(checker, 2, 2, 1, 1)), [128, 128, 128]);
  const flat = new Uint8Array(37 * 23 * 3).fill(77);
  const small = resizeRgb(flat, 37, 23, 11, 7);
  assert.equal(small.length, 11 * 7 * 3);
  assert.ok(small.every((v) => v === 77));
  // Thin stripes survive a 4x shrink as grey instead of aliasing to all-black or all-white.
  const stripes = new Uint8Array(64 * 1 * 3);
  for (let x = 0; x < 64; x++) if (x % 2 === 0) stripes.fill(255, x * 3, x * 3 + 3);
  const s = resizeRgb(stripes, 64, 1, 16, 1);
  for (const v of s.subarray(3, 45)) assert.ok(v > 100 && v < 155, `stripe average ${v}`);
});

test('toChw: planes in B, G, R order, normalised, padding filled', () => {
  const id: Normalization = { mean: [0, 0, 0], std: [1, 1, 1], scale: 1, bgr: true };
  const src = new Uint8Array([10, 20, 30, 40, 50, 60]); // 2x1: (R,G,B) = (10,20,30), (40,50,60)
  const t = toChw(src, 2, 1, id, 3, 2, -9);
  assert.deepEqual(Array.from(t), [30, 60, -9, -9, -9, -9, 20, 50, -9, -9, -9, -9, 10, 40, -9, -9, -9, -9]);
  const rgb = toChw(src, 2, 1, { ...id, bgr: false });
  assert.deepEqual(Array.from(rgb), [10, 40, 20, 50, 30, 60]);
});

test('toChw: PaddleOCR detection normalisation applies each statistic to its BGR plane', () => {
  const t = toChw(new Uint8Array([255, 0, 51]), 1, 1, PADDLE_DET_NORM);
  const expectB = (51 / 255 - 0.485) / 0.229,
    expectG = (0 - 0.456) / 0.224,
    expectR = (1 - 0.406) / 0.225;
  [expectB, expectG, expectR].forEach((e, i) => assert.ok(Math.abs(t[i]! - e) < 1e-5, `plane ${i}: ${t[i]} vs ${e}`));
});

test('toChw writes one batch item at an offset and rejects undersized outputs', () => {
  const id: Normalization = { mean: [0, 0, 0], std: [1, 1, 1], scale: 1, bgr: false };
  const out = new Float32Array(6).fill(5);
  toChw(new Uint8Array([1, 2, 3]), 1, 1, id, 1, 1, 0, out, 3);
  assert.deepEqual(Array.from(out), [5, 5, 5, 1, 2, 3]);
  assert.throws(() => toChw(new Uint8Array(12), 2, 2, id, 1, 2), RangeError);
});
