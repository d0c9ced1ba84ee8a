/**
 * Text boxes + RGB image -> one recognition batch [N, 3, 48, W].
 *
 * Each box is sampled straight from the original image into its slot of the batch: the warp
 * (rotated boxes come out upright), the resize to height 48 and the normalisation happen in
 * one pass per output pixel, with no intermediate crop images.
 */
import { channelAffine, PADDLE_REC_NORM, type Normalization } from '../image/tensor.ts';

export interface CropOptions {
  /** Recognition input height; PP-OCRv4 rec is trained at 48. */
  height: number;
  /**
   * Narrowest batch width. PaddleOCR pads every batch to at least 320 (its training shape
   * 3x48x320); keeping that reproduces its results on short words, at some compute cost.
   */
  minWidth: number;
  /**
   * Widest batch width. All crops share the widest one's width, so one very long line would
   * make every crop's tensor huge; lines wider than this (a 26:1 aspect at 1280) are squeezed
   * horizontally instead, which costs accuracy only on such extreme lines.
   */
  maxWidth: number;
  /** Batch width is rounded up to this (the recogniser downsamples width by 8). */
  widthMultiple: number;
  /** A box this much taller than wide is read as vertical text and turned 90 degrees (as PaddleOCR). */
  verticalRatio: number;
  /**
   * Background added above and below each box before it is read, as a fraction of the box's
   * height (on each side). DB boxes hug the glyphs; read that tight, the text fills the whole
   * 48-pixel input and the PP-OCRv4 recogniser drops the narrow gaps between words
   * ("PACKMYBOX"). The margin is a fixed share of the line's height, so it is the same for a
   * one-word sign and a long line (DB's unclip distance, area * ratio / perimeter, is not).
   */
  marginY: number;
  /**
   * Background added left and right, as a fraction of the box's height (on each side). It
   * helps as well: the recogniser reads the first and last words of a tight line poorly.
   */
  marginX: number;
  /**
   * Crops that are enlarged to the recogniser's height (small text: the box with its margins
   * is under `height` pixels) are read this much wider than their shape. Enlarging blurs the
   * narrow gaps between words, and the margins shrink them inside the input, to less than one
   * of the recogniser's time steps (8 input columns). On the bench's 160 images: merged words
   * 15 -> 6, mean CER 0.0151 -> 0.0071, for 6-9% more time one image at a time and ~20% less
   * throughput served. Stretching every crop read slightly better (3 merged, 0.0062) but cost
   * 12-16% more time alone and 36% more CPU per image served.
   */
  stretchX: number;
  norm: Normalization;
}

export const CROP_DEFAULTS: CropOptions = {
  height: 48,
  minWidth: 320,
  maxWidth: 1280,
  widthMultiple: 8,
  verticalRatio: 1.5,
  marginY: 0.4,
  marginX: 0.25,
  stretchX: 1.25,
  norm: PADDLE_REC_NORM,
};

export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface CropBatch {
  /** N x 3 x height x width, normalised; padding is 0 (the mean after normalisation). */
  batch: Float32Array;
  dims: [number, number, number, number];
  /** Content width of each crop inside the batch width. */
  widths: Int32Array;
}

/** Where each box is read from (upright quad) and how wide its crop is at the recogniser's height. */
interface Planned {
  quads: Float64Array[];
  widths: Int32Array;
}

function plan(boxes: Float32Array, count: number, opt: CropOptions): Planned {
  if (boxes.length < count * 8) throw new RangeError(`cropBatch: ${count} boxes need ${count * 8} numbers, got ${boxes.length}`);
  const quads: Float64Array[] = [];
  const widths = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    let q = Float64Array.from(boxes.subarray(i * 8, i * 8 + 8));
    let w = Math.max(span(q, 0, 1), span(q, 3, 2));
    let h = Math.max(span(q, 0, 3), span(q, 1, 2));
    if (h >= opt.verticalRatio * w) {
      // Vertical text: read the box with its right side as the top (numpy rot90, as PaddleOCR).
      q = Float64Array.from([q[2]!, q[3]!, q[4]!, q[5]!, q[6]!, q[7]!, q[0]!, q[1]!]);
      [w, h] = [h, w];
    }
    if (opt.marginX > 0 || opt.marginY > 0) q = widen(q, opt.marginX * h, opt.marginY * h);
    w += 2 * opt.marginX * h;
    h += 2 * opt.marginY * h;
    quads.push(q);
    // The epsilon keeps float32 noise in the corners (110.00001) from adding a whole column.
    const stretch = h < opt.height ? opt.stretchX : 1;
    widths[i] = Math.min(opt.maxWidth, Math.max(1, Math.ceil((stretch * opt.height * w) / Math.max(h, 1) - 1e-3)));
  }
  return { quads, widths };
}

/** Batch width for crops whose widest is `widest`: a multiple of widthMultiple, within [minWidth, maxWidth]. */
function batchWidth(widest: number, opt: CropOptions): number {
  const m = opt.widthMultiple;
  return Math.min(Math.ceil(opt.maxWidth / m) * m, Math.max(opt.minWidth, Math.ceil(widest / m) * m));
}

function fill(image: RgbImage, p: Planned, rows: ArrayLike<number>, opt: CropOptions): CropBatch {
  let widest = 0;
  for (let k = 0; k < rows.length; k++) widest = Math.max(widest, p.widths[rows[k]!]!);
  const H = opt.height,
    W = batchWidth(widest, opt),
    n = rows.length;
  const batch = new Float32Array(n * 3 * H * W); // zero-filled = padding
  const widths = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    widths[k] = p.widths[rows[k]!]!;
    sampleQuad(image, p.quads[rows[k]!]!, widths[k]!, H, W, batch, k * 3 * H * W, opt.norm);
  }
  return { batch, dims: [n, 3, H, W], widths };
}

/** `boxes` holds `count` boxes of 8 numbers (tl, tr, br, bl) in image pixels; every crop is padded to the widest. */
export function cropBatch(image: RgbImage, boxes: Float32Array, count: number, options: Partial<CropOptions> = {}): CropBatch {
  const opt = { ...CROP_DEFAULTS, ...options };
  return fill(
    image,
    plan(boxes, count, opt),
    Array.from({ length: count }, (_, i) => i),
    opt,
  );
}

export interface CropBucket extends CropBatch {
  /** Which box each row of the batch reads (indices into `boxes`). */
  lines: Int32Array;
}

/**
 * Crops grouped by width: one batch per group of crops whose padded widths are within
 * `bucketRatio` of each other, so a short word is not padded to the width of the page's
 * longest line (the recogniser's cost grows with the batch width). Groups come narrowest first.
 * A group is split further so that no batch holds more than `maxColumns` columns (crops x
 * padded width; a crop wider than that goes alone): on CPU a large batch costs more per crop
 * than small ones (PP-OCRv4 rec, 1 thread: 74 ms a crop at 640 alone, 126 ms in a batch of 8).
 */
export function cropBuckets(
  image: RgbImage,
  boxes: Float32Array,
  count: number,
  options: Partial<CropOptions> = {},
  bucketRatio = 1.25,
  maxColumns = Infinity,
): CropBucket[] {
  if (!(bucketRatio >= 1)) throw new RangeError(`cropBuckets: bucketRatio must be at least 1, got ${bucketRatio}`);
  if (!(maxColumns >= 1)) throw new RangeError(`cropBuckets: maxColumns must be at least 1, got ${maxColumns}`);
  const opt = { ...CROP_DEFAULTS, ...options };
  const p = plan(boxes, count, opt);
  const order = Array.from({ length: count }, (_, i) => i).sort((a, b) => p.widths[a]! - p.widths[b]! || a - b);
  const width = (k: number) => batchWidth(p.widths[order[k]!]!, opt);
  const buckets: CropBucket[] = [];
  for (let s = 0; s < order.length;) {
    const first = width(s);
    let e = s + 1;
    // Sorted narrowest first, so crop e is the widest yet: the batch would be (e - s + 1) x width(e).
    while (e < order.length && width(e) <= first * bucketRatio && (e - s + 1) * width(e) <= maxColumns) e++;
    const lines = Int32Array.from(order.slice(s, e));
    buckets.push({ ...fill(image, p, lines, opt), lines });
    s = e;
  }
  return buckets;
}

/** Move the corners of quad tl,tr,br,bl outwards by dx along its top edge and dy along its left edge. */
function widen(q: Float64Array, dx: number, dy: number): Float64Array<ArrayBuffer> {
  const top = span(q, 0, 1),
    left = span(q, 0, 3);
  const ux = top > 0 ? (q[2]! - q[0]!) / top : 1,
    uy = top > 0 ? (q[3]! - q[1]!) / top : 0; // along the text
  const nx = left > 0 ? (q[6]! - q[0]!) / left : 0,
    ny = left > 0 ? (q[7]! - q[1]!) / left : 1; // down the text
  const out = new Float64Array(8);
  const signs = [
    [-1, -1],
    [1, -1],
    [1, 1],
    [-1, 1],
  ] as const; // tl, tr, br, bl
  signs.forEach(([su, sn], i) => {
    out[2 * i] = q[2 * i]! + su * dx * ux + sn * dy * nx;
    out[2 * i + 1] = q[2 * i + 1]! + su * dx * uy + sn * dy * ny;
  });
  return out;
}

function span(q: Float64Array, a: number, b: number): number {
  return Math.hypot(q[2 * a]! - q[2 * b]!, q[2 * a + 1]! - q[2 * b + 1]!);
}

/**
 * Fill a outW x outH region (row stride `stride`) of CHW planes at `offset` by sampling the
 * quad tl,tr,br,bl: output pixel (u, v) reads the source at the bilinear blend of the corners,
 * which is exact for the rectangles the detector produces. When shrinking, several
 * sub-samples per output pixel are averaged so thin strokes do not alias away.
 */
function sampleQuad(img: RgbImage, q: Float64Array, outW: number, outH: number, stride: number, out: Float32Array, offset: number, norm: Normalization): void {
  const { mul, add, plane } = channelAffine(norm);
  const x0 = q[0]!,
    y0 = q[1]!,
    x1 = q[2]!,
    y1 = q[3]!,
    x2 = q[4]!,
    y2 = q[5]!,
    x3 = q[6]!,
    y3 = q[7]!;
  const shrink = Math.max(Math.hypot(x1 - x0, y1 - y0) / outW, Math.hypot(x3 - x0, y3 - y0) / outH);
  const n = Math.min(4, Math.max(1, Math.ceil(shrink))); // sub-samples per axis
  const inv = 1 / (n * n);
  const planeSize = outH * stride;
  const rgb = new Float64Array(3);
  for (let v = 0; v < outH; v++) {
    for (let u = 0; u < outW; u++) {
      rgb[0] = rgb[1] = rgb[2] = 0;
      for (let sv = 0; sv < n; sv++) {
        const b = (v + (sv + 0.5) / n) / outH;
        for (let su = 0; su < n; su++) {
          const a = (u + (su + 0.5) / n) / outW;
          // (a, b) in the unit square -> bilinear blend of the corners: a runs tl->tr, b runs tl->bl.
          const wa = (1 - a) * (1 - b),
            wb = a * (1 - b),
            wc = a * b,
            wd = (1 - a) * b;
          const sx = wa * x0 + wb * x1 + wc * x2 + wd * x3;
          const sy = wa * y0 + wb * y1 + wc * y2 + wd * y3;
          // Enlarging (small text to the recogniser's 48 px): bicubic, as PaddleOCR's crop
          // (warpPerspective with INTER_CUBIC). Bilinear blurred small glyphs and the gaps
          // between words: on the 160-image set, 21 merged words and CER 0.0170 against 15 and
          // 0.0151, at the same CPU. Shrinking averages n x n bilinear samples instead.
          if (n === 1) addBicubic(img, sx, sy, rgb);
          else addBilinear(img, sx, sy, rgb);
        }
      }
      const o = offset + v * stride + u;
      for (let c = 0; c < 3; c++) out[o + plane[c]! * planeSize] = rgb[c]! * inv * mul[c]! + add[c]!;
    }
  }
}

const A = -0.75;
/** A coordinate clamped to [0, max]: samples past the image's edge repeat its border pixels. */
function clamp(v: number, max: number): number {
  return v < 0 ? 0 : v > max ? max : v;
}

/** Keys' cubic convolution weights for the 4 taps around a sample at fraction t (a = -0.75, OpenCV's INTER_CUBIC). */
function cubicWeights(t: number, w: Float64Array): void {
  const t2 = t * t,
    t3 = t2 * t;
  w[0] = A * (t3 - 2 * t2 + t);
  w[1] = (A + 2) * t3 - (A + 3) * t2 + 1;
  w[2] = -(A + 2) * t3 + (2 * A + 3) * t2 - A * t;
  w[3] = -A * t3 + A * t2;
}
const WX = new Float64Array(4);
const WY = new Float64Array(4);
const XS = new Int32Array(4);
function addBicubic(img: RgbImage, x: number, y: number, acc: Float64Array): void {
  const { data, width, height } = img;
  const cx = clamp(x, width - 1);
  const cy = clamp(y, height - 1);
  const xi = Math.floor(cx),
    yi = Math.floor(cy);
  cubicWeights(cx - xi, WX);
  cubicWeights(cy - yi, WY);
  for (let i = 0; i < 4; i++) {
    const xx = xi - 1 + i;
    XS[i] = (xx < 0 ? 0 : xx >= width ? width - 1 : xx) * 3;
  }
  let r = 0,
    g = 0,
    b = 0;
  for (let j = 0; j < 4; j++) {
    const yy = yi - 1 + j;
    const rowBase = (yy < 0 ? 0 : yy >= height ? height - 1 : yy) * width * 3;
    const wy = WY[j]!;
    for (let i = 0; i < 4; i++) {
      const p = rowBase + XS[i]!;
      const w = WX[i]! * wy;
      r += data[p]! * w;
      g += data[p + 1]! * w;
      b += data[p + 2]! * w;
    }
  }
  // The cubic overshoots at sharp edges: keep the values in the pixel range.
  acc[0]! += r < 0 ? 0 : r > 255 ? 255 : r;
  acc[1]! += g < 0 ? 0 : g > 255 ? 255 : g;
  acc[2]! += b < 0 ? 0 : b > 255 ? 255 : b;
}

/** Add the bilinearly interpolated RGB at (x, y) to `acc`; coordinates clamp to the edges. */
function addBilinear(img: RgbImage, x: number, y: number, acc: Float64Array): void {
  const { data, width, height } = img;
  const cx = clamp(x, width - 1);
  const cy = clamp(y, height - 1);
  const xi = Math.floor(cx),
    yi = Math.floor(cy);
  const fx = cx - xi,
    fy = cy - yi;
  const xj = xi + 1 < width ? xi + 1 : xi,
    yj = yi + 1 < height ? yi + 1 : yi;
  const p00 = (yi * width + xi) * 3,
    p01 = (yi * width + xj) * 3;
  const p10 = (yj * width + xi) * 3,
    p11 = (yj * width + xj) * 3;
  const w00 = (1 - fx) * (1 - fy),
    w01 = fx * (1 - fy),
    w10 = (1 - fx) * fy,
    w11 = fx * fy;
  for (let c = 0; c < 3; c++) {
    acc[c]! += data[p00 + c]! * w00 + data[p01 + c]! * w01 + data[p10 + c]! * w10 + data[p11 + c]! * w11;
  }
}
