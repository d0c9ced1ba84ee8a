/**
 * Plane geometry for text boxes: convex hull, minimum-area rotated rectangle, and the
 * corner order the rest of the pipeline relies on.
 *
 * A box everywhere in the OCR modules is 8 numbers, the corners in the order
 * top-left, top-right, bottom-right, bottom-left (x, y each), in pixel coordinates where
 * pixel i's centre is at i (OpenCV's convention, which PaddleOCR's boxes use).
 */

/** A rotated rectangle: centre, unit axis u (along the text), half-extents along u and its normal. */
export interface RotatedRect {
  cx: number;
  cy: number;
  ux: number;
  uy: number;
  halfU: number;
  halfN: number;
}

/**
 * Convex hull by Andrew's monotone chain (counter-clockwise with y up, so clockwise on screen), collinear
 * points dropped. `xs`/`ys` hold `n` points; returns the hull as a flat [x0, y0, x1, y1, ...].
 */
export function convexHull(xs: Int32Array | Float64Array, ys: Int32Array | Float64Array, n: number): Float64Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => xs[a]! - xs[b]! || ys[a]! - ys[b]!);
  const hull = new Int32Array(2 * n + 2); // indices into xs/ys
  let k = 0;
  const cross = (o: number, a: number, b: number) => (xs[a]! - xs[o]!) * (ys[b]! - ys[o]!) - (ys[a]! - ys[o]!) * (xs[b]! - xs[o]!);
  for (let i = 0; i < n; i++) {
    // lower chain
    const p = order[i]!;
    while (k >= 2 && cross(hull[k - 2]!, hull[k - 1]!, p) <= 0) k--;
    hull[k++] = p;
  }
  for (let i = n - 2, lower = k + 1; i >= 0; i--) {
    // upper chain
    const p = order[i]!;
    while (k >= lower && cross(hull[k - 2]!, hull[k - 1]!, p) <= 0) k--;
    hull[k++] = p;
  }
  const count = Math.max(0, k - 1); // the last point repeats the first
  const out = new Float64Array(2 * Math.min(count, n));
  for (let i = 0; i < out.length / 2; i++) {
    out[2 * i] = xs[hull[i]!]!;
    out[2 * i + 1] = ys[hull[i]!]!;
  }
  return out;
}

/**
 * Minimum-area enclosing rectangle of a convex polygon. The optimum has one side collinear
 * with a hull edge (Freeman & Shapira), so trying every edge direction is exact; O(h^2) is
 * cheap because text-region hulls have tens of vertices. Returns null for degenerate hulls.
 */
export function minAreaRect(hull: Float64Array): RotatedRect | null {
  const h = hull.length / 2;
  if (h < 3) return null;
  let best: RotatedRect | null = null;
  let bestArea = Infinity;
  for (let i = 0; i < h; i++) {
    const j = (i + 1) % h;
    let ux = hull[2 * j]! - hull[2 * i]!;
    let uy = hull[2 * j + 1]! - hull[2 * i + 1]!;
    const len = Math.hypot(ux, uy);
    if (len === 0) continue;
    ux /= len;
    uy /= len;
    let minU = Infinity,
      maxU = -Infinity,
      minN = Infinity,
      maxN = -Infinity;
    for (let k = 0; k < h; k++) {
      const x = hull[2 * k]!,
        y = hull[2 * k + 1]!;
      const pu = x * ux + y * uy;
      const pn = -x * uy + y * ux;
      if (pu < minU) minU = pu;
      if (pu > maxU) maxU = pu;
      if (pn < minN) minN = pn;
      if (pn > maxN) maxN = pn;
    }
    const area = (maxU - minU) * (maxN - minN);
    if (area < bestArea - 1e-9) {
      bestArea = area;
      const cu = (minU + maxU) / 2,
        cn = (minN + maxN) / 2;
      best = { cx: cu * ux - cn * uy, cy: cu * uy + cn * ux, ux, uy, halfU: (maxU - minU) / 2, halfN: (maxN - minN) / 2 };
    }
  }
  return best;
}

/** Corners of a rotated rectangle, ordered top-left, top-right, bottom-right, bottom-left. */
export function rectCorners(r: RotatedRect): Float64Array {
  const ax = r.ux * r.halfU,
    ay = r.uy * r.halfU; // along u
  const bx = -r.uy * r.halfN,
    by = r.ux * r.halfN; // along the normal
  const pts = new Float64Array([
    r.cx - ax - bx,
    r.cy - ay - by,
    r.cx + ax - bx,
    r.cy + ay - by,
    r.cx + ax + bx,
    r.cy + ay + by,
    r.cx - ax + bx,
    r.cy - ay + by,
  ]);
  return orderCorners(pts);
}

/**
 * Put 4 corners in reading order, as PaddleOCR does: the two leftmost points are the left
 * side (upper one top-left), the two rightmost the right side (upper one top-right). Cropping
 * uses this order to decide which way is "up" for the text.
 */
export function orderCorners(pts: Float64Array): Float64Array {
  const idx = [0, 1, 2, 3].sort((a, b) => pts[2 * a]! - pts[2 * b]! || pts[2 * a + 1]! - pts[2 * b + 1]!);
  const [l0, l1, r0, r1] = idx as [number, number, number, number];
  const [tl, bl] = pts[2 * l0 + 1]! <= pts[2 * l1 + 1]! ? [l0, l1] : [l1, l0];
  const [tr, br] = pts[2 * r0 + 1]! <= pts[2 * r1 + 1]! ? [r0, r1] : [r1, r0];
  const out = new Float64Array(8);
  [tl, tr, br, bl].forEach((p, i) => {
    out[2 * i] = pts[2 * p]!;
    out[2 * i + 1] = pts[2 * p + 1]!;
  });
  return out;
}
