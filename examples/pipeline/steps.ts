// The three steps of an image classifier, written once and composed two ways (grouped.ts,
// separated.ts). The model is a fixed linear layer in plain TypeScript; examples/ocr serves
// real ONNX models the same way.
import { HttpError } from 'threadserve';

export const SIDE = 16;
export const LABELS = ['circle', 'square', 'triangle', 'line'] as const;

/** Deterministic weights: the same in every replica and every run. */
function makeWeights(): Float32Array {
  const w = new Float32Array(LABELS.length * SIDE * SIDE);
  let seed = 42;
  for (let i = 0; i < w.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    w[i] = (seed / 0x7fffffff - 0.5) * 0.1;
  }
  return w;
}
const WEIGHTS = makeWeights();

/** Pre-process: validate, scale 0..255 grey pixels to 0..1 and centre them (CPU work). */
export function preProcess(pixels: readonly number[]): Float32Array {
  if (pixels.length !== SIDE * SIDE) {
    throw new HttpError(400, `pixels must hold ${SIDE * SIDE} values (${SIDE}x${SIDE} grey image), got ${pixels.length}`);
  }
  const out = new Float32Array(SIDE * SIDE);
  let mean = 0;
  for (let i = 0; i < out.length; i++) {
    const v = pixels[i]!;
    if (!(v >= 0 && v <= 255)) throw new HttpError(400, `pixels[${i}] must be 0..255, got ${v}`);
    out[i] = v / 255;
    mean += out[i]!;
  }
  mean /= out.length;
  for (let i = 0; i < out.length; i++) out[i]! -= mean;
  return out;
}

/** Predict: logits = W x. */
export function predict(features: Float32Array): Float32Array {
  const n = SIDE * SIDE;
  const logits = new Float32Array(LABELS.length);
  for (let k = 0; k < LABELS.length; k++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += WEIGHTS[k * n + i]! * features[i]!;
    logits[k] = s;
  }
  return logits;
}

/** Post-process: softmax, then class ids to names, best first. */
export function postProcess(logits: Float32Array): { label: string; score: number; scores: Record<string, number> } {
  const max = Math.max(...logits);
  const exps = Array.from(logits, (l) => Math.exp(l - max));
  const total = exps.reduce((a, b) => a + b, 0);
  const scores: Record<string, number> = {};
  let best = 0;
  exps.forEach((e, k) => {
    scores[LABELS[k]!] = e / total;
    if (e > exps[best]!) best = k;
  });
  return { label: LABELS[best]!, score: exps[best]! / total, scores };
}
