/**
 * DB (Differentiable Binarization) post-processing: detector probability map -> text boxes.
 *
 * The DB head predicts, per pixel, the probability of lying in a *shrunk* text kernel. We
 * binarise it, take 8-connected regions, fit each a minimum-area rotated rectangle, score it
 * by the mean probability inside, grow it back by the inverse of the training-time shrink
 * ("unclip"), map it to original image pixels and return boxes in reading order.
 * Pure functions on typed arrays; no image library.
 */
import { convexHull, minAreaRect, rectCorners, type RotatedRect } from './geometry.ts';

export interface DbOptions {
  /** Binarisation threshold on the probability map. */
  thresh: number;
  /** Drop regions whose mean probability inside the box is below this. */
  boxThresh: number;
  /** Growth factor: offset = area * ratio / perimeter (DB paper, PaddleOCR default 1.5). */
  unclipRatio: number;
  /** Stop after this many regions (bounds the work on noise-filled maps). */
  maxCandidates: number;
  /** Shortest box side, in map pixels, before unclip (after unclip: minSize + 2). */
  minSize: number;
  /** Shortest box side in original pixels; boxes at or under it are dropped. */
  minSideOut: number;
}

export const DB_DEFAULTS: DbOptions = {
  thresh: 0.3,
  boxThresh: 0.6,
  unclipRatio: 1.5,
  maxCandidates: 1000,
  minSize: 3,
  minSideOut: 3,
};

/** How the probability map relates to the original image (see tensor.planDetSize). */
export interface MapGeometry {
  mapWidth: number;
  mapHeight: number;
  /** map pixels per original pixel (same on both axes; padding is right/bottom only). */
  scale: number;
  imageWidth: number;
  imageHeight: number;
}

export interface DetectedBoxes {
  count: number;
  /** count * 8 numbers: tl, tr, br, bl corners in original image pixels. */
  boxes: Float32Array;
  /** count box scores (mean probability inside, before unclip). */
  scores: Float32Array;
}

export function findBoxes(prob: Float32Array, geom: MapGeometry, options: Partial<DbOptions> = {}): DetectedBoxes {
  const opt = { ...DB_DEFAULTS, ...options };
  const { mapWidth: w, mapHeight: h } = geom;
  if (prob.length < w * h) throw new RangeError(`probability map has ${prob.length} values, expected ${w * h}`);

  const bitmap = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) bitmap[i] = prob[i]! > opt.thresh ? 1 : 0;

  const found: { corners: Float64Array; score: number }[] = [];
  const queue = new Int32Array(w * h); // BFS queue; after a fill it lists the region's pixels
  const rowMin = new Int32Array(h);
  const rowMax = new Int32Array(h);
  let regions = 0;
  for (let seed = 0; seed < w * h && regions < opt.maxCandidates; seed++) {
    if (bitmap[seed] === 0) continue;
    regions++;
    const n = fillRegion(bitmap, w, h, seed, queue);
    const rect = regionRect(queue, n, w, rowMin, rowMax);
    if (rect === null || 2 * Math.min(rect.halfU, rect.halfN) < opt.minSize) continue;
    const score = meanInside(prob, w, h, rect);
    if (score < opt.boxThresh) continue;
    // Unclipping a rectangle by d (round joins) and taking the min-area rectangle of the
    // result gives the rectangle grown by d on every side, so no polygon clipper is needed.
    const side = 2 * rect.halfU,
      other = 2 * rect.halfN;
    const d = (side * other * opt.unclipRatio) / (2 * (side + other));
    const grown = { ...rect, halfU: rect.halfU + d, halfN: rect.halfN + d };
    if (2 * Math.min(grown.halfU, grown.halfN) < opt.minSize + 2) continue;
    const corners = toImage(rectCorners(grown), geom);
    if (Math.min(dist(corners, 0, 1), dist(corners, 0, 3)) <= opt.minSideOut) continue;
    found.push({ corners, score });
  }

  const order = readingOrder(found.map((f) => f.corners));
  const boxes = new Float32Array(order.length * 8);
  const scores = new Float32Array(order.length);
  order.forEach((k, i) => {
    boxes.set(found[k]!.corners, i * 8);
    scores[i] = found[k]!.score;
  });
  return { count: order.length, boxes, scores };
}

/** 8-connected flood fill from `seed`; clears visited pixels in `bitmap`, returns the size. */
function fillRegion(bitmap: Uint8Array, w: number, h: number, seed: number, queue: Int32Array): number {
  let head = 0,
    tail = 0;
  queue[tail++] = seed;
  bitmap[seed] = 0;
  while (head < tail) {
    const p = queue[head++]!;
    const x = p % w,
      y = (p - x) / w;
    for (let dy = -1; dy <= 1; dy++) {
      const yy = y + dy;
      if (yy < 0 || yy >= h) continue;
      for (let dx = -1; dx <= 1; dx++) {
        const xx = x + dx;
        if (xx < 0 || xx >= w) continue;
        const q = yy * w + xx;
        if (bitmap[q] !== 0) {
          bitmap[q] = 0;
          queue[tail++] = q;
        }
      }
    }
  }
  return tail;
}

/**
 * Minimum-area rectangle of a region. The convex hull of a pixel set is the hull of each
 * row's leftmost and rightmost pixel, so at most 2 points per row go into the hull.
 */
function regionRect(pixels: Int32Array, n: number, w: number, rowMin: Int32Array, rowMax: Int32Array): RotatedRect | null {
  let top = Infinity,
    bottom = -1;
  for (let i = 0; i < n; i++) {
    const y = Math.floor(pixels[i]! / w);
    if (y < top) top = y;
    if (y > bottom) bottom = y;
  }
  rowMin.fill(w, top, bottom + 1);
  rowMax.fill(-1, top, bottom + 1);
  for (let i = 0; i < n; i++) {
    const p = pixels[i]!,
      x = p % w,
      y = (p - x) / w;
    if (x < rowMin[y]!) rowMin[y] = x;
    if (x > rowMax[y]!) rowMax[y] = x;
  }
  const rows = bottom - top + 1;
  const xs = new Int32Array(2 * rows),
    ys = new Int32Array(2 * rows);
  let k = 0;
  for (let y = top; y <= bottom; y++) {
    if (rowMax[y]! < 0) continue;
    xs[k] = rowMin[y]!;
    ys[k++] = y;
    if (rowMax[y] !== rowMin[y]) {
      xs[k] = rowMax[y]!;
      ys[k++] = y;
    }
  }
  return minAreaRect(convexHull(xs, ys, k));
}

/** Mean probability over pixels whose centres lie in the rectangle (PaddleOCR's "fast" score). */
function meanInside(prob: Float32Array, w: number, h: number, r: RotatedRect): number {
  const ex = Math.abs(r.ux) * r.halfU + Math.abs(r.uy) * r.halfN; // half bounding-box extents
  const ey = Math.abs(r.uy) * r.halfU + Math.abs(r.ux) * r.halfN;
  const x0 = Math.max(0, Math.floor(r.cx - ex)),
    x1 = Math.min(w - 1, Math.ceil(r.cx + ex));
  const y0 = Math.max(0, Math.floor(r.cy - ey)),
    y1 = Math.min(h - 1, Math.ceil(r.cy + ey));
  const eps = 1e-6; // corners sit exactly on pixel centres: keep the boundary pixels
  let sum = 0,
    n = 0;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x - r.cx,
        dy = y - r.cy;
      if (Math.abs(dx * r.ux + dy * r.uy) <= r.halfU + eps && Math.abs(-dx * r.uy + dy * r.ux) <= r.halfN + eps) {
        sum += prob[y * w + x]!;
        n++;
      }
    }
  }
  return n === 0 ? 0 : sum / n;
}

/** Map corners from map pixels to original pixels (centre-aligned), clamped to the image. */
function toImage(c: Float64Array, g: MapGeometry): Float64Array {
  const out = new Float64Array(8);
  for (let i = 0; i < 4; i++) {
    out[2 * i] = clamp((c[2 * i]! + 0.5) / g.scale - 0.5, 0, g.imageWidth - 1);
    out[2 * i + 1] = clamp((c[2 * i + 1]! + 0.5) / g.scale - 0.5, 0, g.imageHeight - 1);
  }
  return out;
}

/**
 * Reading order: group boxes into rows, rows top to bottom, boxes in a row left to right. Taken
 * by vertical centre, a box joins the current row when its centre lies within half the smaller
 * of the two heights of the row's last box: chaining from box to box keeps the words of a
 * slightly rotated line together (its first and last words can be a whole height apart).
 * Sorting on top edge alone puts a slightly higher second word before the first word of the line.
 */
export function readingOrder(boxes: Float64Array[]): number[] {
  const info = boxes.map((b, i) => {
    const ys = [b[1]!, b[3]!, b[5]!, b[7]!],
      xs = [b[0]!, b[2]!, b[4]!, b[6]!];
    const top = Math.min(...ys),
      bottom = Math.max(...ys);
    return { i, cy: (top + bottom) / 2, half: (bottom - top) / 2, left: Math.min(...xs) };
  });
  info.sort((a, b) => a.cy - b.cy || a.left - b.left);
  const out: number[] = [];
  for (let s = 0; s < info.length;) {
    let e = s + 1;
    while (e < info.length && info[e]!.cy - info[e - 1]!.cy <= Math.min(info[e - 1]!.half, info[e]!.half)) e++;
    out.push(
      ...info
        .slice(s, e)
        .sort((a, b) => a.left - b.left)
        .map((v) => v.i),
    );
    s = e;
  }
  return out;
}

function dist(c: Float64Array, a: number, b: number): number {
  return Math.hypot(c[2 * a]! - c[2 * b]!, c[2 * a + 1]! - c[2 * b + 1]!);
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
