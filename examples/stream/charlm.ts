/**
 * A character language model, trained here and shipped as ONNX: the probability of the next
 * character given the two before it (a trigram model), smoothed by deleted interpolation with
 * the bigram and unigram models (Brants, 2000: each trigram votes for the order that predicts
 * it best when it is held out). Deterministic: the same corpus gives the same bytes.
 *
 * Graph (ONNX IR 8, opset 13), one node:
 *
 *   context int64 [N, 2] ── GatherND(table float32 [V, V, V]) ── logprobs float32 [N, V]
 *
 * `context` holds the ids of the two previous characters; `logprobs[i][c]` is
 * log P(c | context[i]). Sampling (with a temperature and a seeded generator) is the caller's.
 */
import onnxProto from 'onnx-proto';
// The forecast example's generator: small, seeded, the same on every platform.
export { mulberry32 as seededRandom } from '../forecast/model-builder.ts';

const { onnx } = onnxProto;

/** The characters the model knows; anything else reads as a space. Id 0 is the space. */
export const VOCAB = " abcdefghijklmnopqrstuvwxyz.,;:'!?-\n";
export const V = VOCAB.length;
export const INPUT_NAME = 'context';
export const OUTPUT_NAME = 'logprobs';

const ids = new Map([...VOCAB].map((c, i) => [c, i]));

/** Character ids of a text: lower-cased, unknown characters as spaces. */
export function encode(text: string): number[] {
  return [...text.toLowerCase()].map((c) => ids.get(c) ?? 0);
}

/** log P(c | a, b) for every (a, b, c), row-major [a][b][c]. */
export function train(corpus: string): Float32Array {
  const text = encode(corpus.replace(/\s+/g, (w) => (w.includes('\n\n') ? '\n' : ' ')).trim());
  const uni = new Float64Array(V);
  const bi = new Float64Array(V * V);
  const tri = new Float64Array(V * V * V);
  for (let i = 0; i < text.length; i++) {
    uni[text[i]!]++;
    if (i >= 1) bi[text[i - 1]! * V + text[i]!]++;
    if (i >= 2) tri[(text[i - 2]! * V + text[i - 1]!) * V + text[i]!]++;
  }
  // Context counts: how often a pair (or a character) is followed by anything.
  const pairs = new Float64Array(V * V);
  const singles = new Float64Array(V);
  for (let ab = 0; ab < V * V; ab++) for (let c = 0; c < V; c++) pairs[ab] += tri[ab * V + c]!;
  for (let b = 0; b < V; b++) for (let c = 0; c < V; c++) singles[b] += bi[b * V + c]!;
  const n = text.length;

  // Deleted interpolation: each trigram's count goes to the order that best predicts it held out.
  const lambda = [0, 0, 0];
  for (let ab = 0; ab < V * V; ab++) {
    const b = ab % V;
    for (let c = 0; c < V; c++) {
      const f = tri[ab * V + c]!;
      if (f === 0) continue;
      const p3 = pairs[ab]! > 1 ? (f - 1) / (pairs[ab]! - 1) : 0;
      const p2 = singles[b]! > 1 ? (bi[b * V + c]! - 1) / (singles[b]! - 1) : 0;
      const p1 = (uni[c]! - 1) / (n - 1);
      const best = p3 >= p2 && p3 >= p1 ? 2 : p2 >= p1 ? 1 : 0;
      lambda[best]! += f;
    }
  }
  const total = lambda[0]! + lambda[1]! + lambda[2]!;
  const [l1, l2, l3] = lambda.map((l) => l / total) as [number, number, number];

  const table = new Float32Array(V * V * V);
  for (let ab = 0; ab < V * V; ab++) {
    const b = ab % V;
    for (let c = 0; c < V; c++) {
      const p3 = pairs[ab]! > 0 ? tri[ab * V + c]! / pairs[ab]! : 0;
      const p2 = singles[b]! > 0 ? bi[b * V + c]! / singles[b]! : 0;
      // Add-one on the unigram: no character is ever impossible.
      const p1 = (uni[c]! + 1) / (n + V);
      table[ab * V + c] = Math.log(l3 * p3 + l2 * p2 + l1 * p1);
    }
  }
  return table;
}

/** The serialized ONNX model around a trained table. */
export function buildModel(table: Float32Array): Uint8Array {
  if (table.length !== V * V * V) throw new RangeError(`table must hold ${V}^3 values, got ${table.length}`);
  const raw = new Uint8Array(table.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < table.length; i++) view.setFloat32(i * 4, table[i]!, true);
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'threadserve-stream-example',
    producerVersion: '1',
    docString: `Character trigram model: log P(next | two previous) over ${JSON.stringify(VOCAB)}.`,
    metadataProps: [{ key: 'vocab', value: VOCAB }],
    graph: {
      name: 'charlm',
      node: [{ name: 'lookup', opType: 'GatherND', input: ['table', INPUT_NAME], output: [OUTPUT_NAME] }],
      initializer: [{ name: 'table', dims: [V, V, V], dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw }],
      input: [tensorInfo(INPUT_NAME, onnx.TensorProto.DataType.INT64, ['N', 2])],
      output: [tensorInfo(OUTPUT_NAME, onnx.TensorProto.DataType.FLOAT, ['N', V])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

function tensorInfo(name: string, elemType: number, dims: Array<number | string>) {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } };
}

/** Picks the next character id from log-probabilities; temperature 0 takes the most likely. */
export function sample(logprobs: ArrayLike<number>, temperature: number, random: () => number): number {
  let best = 0;
  for (let i = 1; i < logprobs.length; i++) if (logprobs[i]! > logprobs[best]!) best = i;
  if (temperature === 0) return best;
  const max = logprobs[best]!;
  const weights = Array.from(logprobs, (lp) => Math.exp((lp - max) / temperature));
  let r = random() * weights.reduce((a, w) => a + w, 0);
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i]!;
    if (r < 0) return i;
  }
  return best;
}
