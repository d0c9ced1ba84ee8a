/**
 * Pixels -> model input: size planning, resampling, normalisation, HWC uint8 -> CHW float32.
 *
 * Pure TypeScript on typed arrays, synchronous, no per-pixel objects: it runs the same in any
 * thread, and its outputs are fresh Float32Arrays that can be transferred between threads.
 */

/** Per-channel normalisation: out = (x * scale - mean[c]) / std[c]. */
export interface Normalization {
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  scale: number;
  /**
   * Write planes in B,G,R order. PaddleOCR reads images with OpenCV (BGR) and applies
   * `mean`/`std` in that order, so its models were trained on BGR planes; feeding RGB works
   * for black-on-white text but drifts on coloured text.
   */
  bgr: boolean;
}

/** PaddleOCR detection: ImageNet statistics, applied to BGR planes (see `bgr`). */
export const PADDLE_DET_NORM: Normalization = {
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  scale: 1 / 255,
  bgr: true,
};

/** PaddleOCR recognition: (x/255 - 0.5) / 0.5, i.e. pixels mapped to [-1, 1]. */
export const PADDLE_REC_NORM: Normalization = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], scale: 1 / 255, bgr: true };

export interface DetSize {
  /** Size the image content is resized to (aspect ratio kept, one scale for both axes). */
  width: number;
  height: number;
  /** Tensor size: content padded right/bottom up to a multiple of `multiple`. */
  paddedWidth: number;
  paddedHeight: number;
  /** resized / original, the same on both axes. */
  scale: number;
}

/**
 * Plan the detector input size: shrink so the longer side is at most `maxSide` (never
 * enlarge: PaddleOCR's 'max' limit mode), then pad up to a multiple of 32 because the DB
 * network downsamples by 32 and upsamples back. Padding instead of PaddleOCR's rounding
 * keeps one exact scale for both axes, so boxes map back with a single division.
 */
export function planDetSize(width: number, height: number, maxSide = 960, multiple = 32): DetSize {
  if (!(width > 0 && height > 0)) throw new RangeError(`bad image size ${width}x${height}`);
  const scale = Math.min(1, maxSide / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const padUp = (n: number) => Math.max(multiple, Math.ceil(n / multiple) * multiple);
  return { width: w, height: h, paddedWidth: padUp(w), paddedHeight: padUp(h), scale: w / width };
}

/**
 * Resampling weights for one axis: a triangle (bilinear) kernel widened by the shrink factor
 * when downscaling, so every source pixel contributes (antialiased, like PIL's BILINEAR).
 * Plain bilinear would skip pixels when shrinking more than 2x and alias thin strokes.
 */
function axisWeights(srcLen: number, dstLen: number) {
  const ratio = srcLen / dstLen;
  const support = Math.max(1, ratio);
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(dstLen);
  const count = new Int32Array(dstLen);
  const weight = new Float32Array(dstLen * taps);
  for (let i = 0; i < dstLen; i++) {
    const center = (i + 0.5) * ratio;
    const lo = Math.max(0, Math.floor(center - support));
    const hi = Math.min(srcLen, Math.ceil(center + support));
    let sum = 0;
    let n = 0;
    for (let j = lo; j < hi && n < taps; j++, n++) {
      const w = Math.max(0, 1 - Math.abs((j + 0.5 - center) / support));
      weight[i * taps + n] = w;
      sum += w;
    }
    if (sum === 0) {
      // degenerate (1-pixel source): take the nearest pixel
      weight[i * taps] = 1;
      n = 1;
      sum = 1;
    }
    for (let k = 0; k < n; k++) weight[i * taps + k]! /= sum;
    start[i] = lo;
    count[i] = n;
  }
  return { start, count, weight, taps };
}

/** Resize RGB HWC uint8 to dstW x dstH (no aspect handling here: the caller plans sizes). */
export function resizeRgb(src: Uint8Array, srcW: number, srcH: number, dstW: number, dstH: number): Uint8Array {
  if (src.length < srcW * srcH * 3) throw new RangeError('resizeRgb: source buffer too small');
  if (srcW === dstW && srcH === dstH) return src.slice(0, srcW * srcH * 3);
  const hx = axisWeights(srcW, dstW);
  const vy = axisWeights(srcH, dstH);
  // Horizontal pass into floats (keeps precision for the second pass), then vertical.
  const tmp = new Float32Array(srcH * dstW * 3);
  for (let y = 0; y < srcH; y++) {
    const row = y * srcW * 3;
    const out = y * dstW * 3;
    for (let x = 0; x < dstW; x++) {
      let r = 0,
        g = 0,
        b = 0;
      const s = hx.start[x]!,
        n = hx.count[x]!,
        wb = x * hx.taps;
      for (let k = 0; k < n; k++) {
        const w = hx.weight[wb + k]!;
        const p = row + (s + k) * 3;
        r += src[p]! * w;
        g += src[p + 1]! * w;
        b += src[p + 2]! * w;
      }
      const o = out + x * 3;
      tmp[o] = r;
      tmp[o + 1] = g;
      tmp[o + 2] = b;
    }
  }
  const dst = new Uint8Array(dstW * dstH * 3);
  const stride = dstW * 3;
  const acc = new Float32Array(stride);
  for (let y = 0; y < dstH; y++) {
    const s = vy.start[y]!,
      n = vy.count[y]!,
      wb = y * vy.taps;
    acc.fill(0);
    for (let k = 0; k < n; k++) {
      const w = vy.weight[wb + k]!;
      const row = (s + k) * stride;
      for (let i = 0; i < stride; i++) acc[i]! += tmp[row + i]! * w;
    }
    const out = y * stride;
    // Uint8Array assignment truncates and wraps, so round and clamp explicitly.
    for (let i = 0; i < stride; i++) {
      const v = acc[i]! + 0.5;
      dst[out + i] = v <= 0 ? 0 : v >= 255 ? 255 : v;
    }
  }
  return dst;
}

/** Per-channel multiply-add equivalent of a Normalization, indexed by source RGB channel. */
export function channelAffine(norm: Normalization): { mul: Float32Array; add: Float32Array; plane: Int32Array } {
  const mul = new Float32Array(3);
  const add = new Float32Array(3);
  const plane = new Int32Array(3);
  for (let c = 0; c < 3; c++) {
    // With bgr, source channel c (R=0) lands in plane 2-c and uses that plane's statistics.
    const p = norm.bgr ? 2 - c : c;
    plane[c] = p;
    mul[c] = norm.scale / norm.std[p]!;
    add[c] = -norm.mean[p]! / norm.std[p]!;
  }
  return { mul, add, plane };
}

/**
 * RGB HWC uint8 (w x h) -> normalised CHW float32 of outW x outH, content at the top-left,
 * padding filled with `padValue` (0 = the mean colour after normalisation, PaddleOCR's choice).
 * Writes into `out` at `offset` when given (to fill one item of a batch), else allocates.
 */
export function toChw(
  src: Uint8Array,
  w: number,
  h: number,
  norm: Normalization,
  outW = w,
  outH = h,
  padValue = 0,
  out?: Float32Array,
  offset = 0,
): Float32Array {
  if (outW < w || outH < h) throw new RangeError(`toChw: output ${outW}x${outH} smaller than image ${w}x${h}`);
  const planeSize = outW * outH;
  const dst = out ?? new Float32Array(3 * planeSize);
  if (dst.length < offset + 3 * planeSize) throw new RangeError('toChw: output buffer too small');
  if (outW !== w || outH !== h) dst.fill(padValue, offset, offset + 3 * planeSize);
  const { mul, add, plane } = channelAffine(norm);
  for (let c = 0; c < 3; c++) {
    const m = mul[c]!,
      a = add[c]!;
    const base = offset + plane[c]! * planeSize;
    for (let y = 0; y < h; y++) {
      let si = y * w * 3 + c;
      const di = base + y * outW;
      for (let x = 0; x < w; x++, si += 3) dst[di + x] = src[si]! * m + a;
    }
  }
  return dst;
}
