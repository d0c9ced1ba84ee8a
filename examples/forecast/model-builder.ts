/**
 * Builds a small demand-forecasting ONNX model per country, from scratch (no training, no
 * Python): a two-layer MLP whose weights come from a seeded PRNG, with a little structure so
 * the answers look like forecasts rather than noise.
 *
 * Graph (ONNX IR 8, default-domain opset 13):
 *
 *   features float32 [N, F] ── MatMul W1 [F, H] ── Add b1 [H] ── Relu ── MatMul W2 [H, 1] ── Add b2 [1] ── forecast float32 [N, 1]
 *
 * N is a symbolic batch dimension ("N"); F = weeks + CALENDAR_FEATURES is fixed per model.
 * The feature layout (see features.ts, which builds it):
 *
 *   [0 .. weeks-1]  past weekly sales, oldest first, each divided by the history's mean
 *   [weeks]         sin(2π·(isoWeek-1)/weeksInIsoYear) of the week being forecast
 *   [weeks+1]       cos(same angle)
 *   [weeks+2]       holiday flag: 1 if the forecast week contains a holiday, else 0
 *
 * The output is next week's demand in the same normalised unit; multiply by the history mean
 * (toForecast in features.ts) to get units sold.
 *
 * Weights depend only on (country, seed) and are byte-for-byte reproducible on any platform:
 * the PRNG is integer-only (FNV-1a seed hash, mulberry32), weights are uniform draws and
 * products/sums of them, no Math.sin/log, all rounded to float32. The structure:
 *   hidden 0: exponentially weighted average of the normalised sales (recent weeks weigh more)
 *   hidden 1: 1 + a·sin + b·cos + boost·holiday   (a, b, boost per country; always > 0)
 *   hidden 2..H-1: random units with small output weights (a bit of nonlinearity)
 *   forecast = growth·hidden0 + (hidden1 - 1) + Σ small·hidden_k + small bias
 * growth (0.80 .. 1.25) differs per country, so countries answer clearly differently.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** Number of calendar features after the sales weeks: week sin, week cos, holiday flag. */
export const CALENDAR_FEATURES = 3;
export const DEFAULT_WEEKS = 8;
export const DEFAULT_HIDDEN = 16;
export const DEFAULT_SEED = 1;
export const DEFAULT_VERSION = '1';
export const IR_VERSION = 8;
export const OPSET_VERSION = 13;
export const INPUT_NAME = 'features';
export const OUTPUT_NAME = 'forecast';
/** Name of the symbolic batch dimension of the input and output. */
export const BATCH_DIM = 'N';

export interface ForecastModelOptions {
  /** Country id (ISO 3166-1 alpha-2 like "DE", or a synthetic id like "XA001"). */
  country: string;
  /** Model version, stored in metadata_props and doc_string; a digit string or a non-negative
   * integer also sets ModelProto.model_version. Does not change the weights. Default "1". */
  version?: string | number;
  /** Weeks of past sales the model takes. Default 8. */
  weeks?: number;
  /** Hidden units (at least 2). Default 16. */
  hidden?: number;
  /** Weight seed (uint32). Default 1. Change it to get new weights for the same country. */
  seed?: number;
}

/** The per-country parameters drawn from the PRNG, exposed for tests and docs. */
export interface ForecastModelParams {
  growth: number;
  seasonSin: number;
  seasonCos: number;
  holidayBoost: number;
}

/** Number of input features for a model that takes `weeks` weeks of sales. */
export function featureCount(weeks: number = DEFAULT_WEEKS): number {
  return weeks + CALENDAR_FEATURES;
}

/** Human-readable feature layout, also stored in the model's metadata_props. */
export function featureLayout(weeks: number = DEFAULT_WEEKS): string {
  return `sales[0..${weeks - 1}]/mean (oldest first), week_sin, week_cos, holiday`;
}

/** 32-bit FNV-1a over the UTF-16 code units of a string. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a small, fast, integer-only PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function checkOptions(options: ForecastModelOptions) {
  const { country, version = DEFAULT_VERSION, weeks = DEFAULT_WEEKS, hidden = DEFAULT_HIDDEN, seed = DEFAULT_SEED } = options;
  if (typeof country !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(country)) {
    throw new TypeError(`country must be 1-32 letters, digits, '_' or '-', got ${JSON.stringify(country)}`);
  }
  if (!Number.isInteger(weeks) || weeks < 1 || weeks > 520) throw new RangeError(`weeks must be an integer 1..520, got ${weeks}`);
  if (!Number.isInteger(hidden) || hidden < 2 || hidden > 4096) throw new RangeError(`hidden must be an integer 2..4096, got ${hidden}`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be a uint32, got ${seed}`);
  const versionText = String(version);
  if (versionText.length === 0 || (typeof version === 'number' && !(Number.isInteger(version) && version >= 0))) {
    throw new RangeError(`version must be a non-empty string or a non-negative integer, got ${JSON.stringify(version)}`);
  }
  return { country, version: versionText, weeks, hidden, seed };
}

/** The PRNG for a (country, seed) pair: the same pair always gives the same stream. */
function rngFor(country: string, seed: number): () => number {
  return mulberry32(fnv1a(`${country}\u0000${seed}`) ^ Math.imul(seed, 0x9e3779b1));
}

/** Draws the weights; returned arrays are row-major float32. */
function drawWeights(country: string, seed: number, weeks: number, hidden: number) {
  const rand = rngFor(country, seed);
  const uniform = (lo: number, hi: number) => lo + (hi - lo) * rand();
  const F = featureCount(weeks);

  const params: ForecastModelParams = {
    growth: Math.fround(uniform(0.8, 1.25)),
    seasonSin: Math.fround(uniform(-0.2, 0.2)),
    seasonCos: Math.fround(uniform(-0.2, 0.2)),
    holidayBoost: Math.fround(uniform(0.05, 0.4)),
  };

  const w1 = new Float32Array(F * hidden); // [F, H], w1[f * hidden + h]
  const b1 = new Float32Array(hidden);
  const w2 = new Float32Array(hidden); // [H, 1]
  const b2 = new Float32Array(1);

  // hidden 0: exponentially weighted average of the sales weeks, newest weighs most.
  const decay = 0.7;
  const ew: number[] = [];
  let weight = 1;
  let total = 0;
  for (let i = weeks - 1; i >= 0; i--) {
    ew[i] = weight;
    total += weight;
    weight *= decay;
  }
  for (let i = 0; i < weeks; i++) w1[i * hidden] = ew[i]! / total;
  // hidden 1: seasonal and holiday factor around 1 (≥ 1 - 0.4 > 0, so Relu passes it).
  w1[weeks * hidden + 1] = params.seasonSin;
  w1[(weeks + 1) * hidden + 1] = params.seasonCos;
  w1[(weeks + 2) * hidden + 1] = params.holidayBoost;
  b1[1] = 1;
  // hidden 2..H-1: random units, Glorot-like uniform limit.
  const limit = Math.sqrt(6 / (F + hidden));
  for (let h = 2; h < hidden; h++) {
    for (let f = 0; f < F; f++) w1[f * hidden + h] = uniform(-limit, limit);
    b1[h] = uniform(-0.1, 0.1);
  }
  w2[0] = params.growth;
  w2[1] = 1;
  for (let h = 2; h < hidden; h++) w2[h] = uniform(-0.05, 0.05);
  b2[0] = -1 + uniform(-0.02, 0.02);
  return { params, w1, b1, w2, b2 };
}

/** The per-country parameters that buildForecastModel would use. */
export function forecastModelParams(options: ForecastModelOptions): ForecastModelParams {
  const o = checkOptions(options);
  return drawWeights(o.country, o.seed, o.weeks, o.hidden).params;
}

/** A float32 initializer with its data as little-endian raw_data. */
function floatInitializer(name: string, dims: number[], values: Float32Array) {
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw };
}

function floatValueInfo(name: string, dims: Array<number | string>) {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Returns the serialized ONNX ModelProto of the forecast MLP for one country. */
export function buildForecastModel(options: ForecastModelOptions): Uint8Array {
  const { country, version, weeks, hidden, seed } = checkOptions(options);
  const F = featureCount(weeks);
  const { w1, b1, w2, b2 } = drawWeights(country, seed, weeks, hidden);
  const doc =
    `Demand forecast for ${country}, version ${version}: next week's demand from ${weeks} weeks of sales ` +
    `and calendar features. Input ${INPUT_NAME} float32 [${BATCH_DIM}, ${F}] = ${featureLayout(weeks)}; ` +
    `output ${OUTPUT_NAME} float32 [${BATCH_DIM}, 1] in units of the history mean.`;
  const metadata: Record<string, string> = {
    country,
    version,
    weeks: String(weeks),
    hidden: String(hidden),
    seed: String(seed),
    features: featureLayout(weeks),
    feature_count: String(F),
    output_unit: 'history mean (multiply by the mean of the input sales weeks)',
  };
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET_VERSION }],
    producerName: 'threadserve-forecast-example',
    producerVersion: '1',
    domain: 'threadserve.examples.forecast',
    modelVersion: /^\d{1,15}$/.test(version) ? Number(version) : 0,
    docString: doc,
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: `forecast_${country}`,
      node: [
        { name: 'dense1_matmul', opType: 'MatMul', input: [INPUT_NAME, 'W1'], output: ['dense1_mm'] },
        { name: 'dense1_bias', opType: 'Add', input: ['dense1_mm', 'b1'], output: ['dense1_pre'] },
        { name: 'dense1_relu', opType: 'Relu', input: ['dense1_pre'], output: ['dense1'] },
        { name: 'dense2_matmul', opType: 'MatMul', input: ['dense1', 'W2'], output: ['dense2_mm'] },
        { name: 'dense2_bias', opType: 'Add', input: ['dense2_mm', 'b2'], output: [OUTPUT_NAME] },
      ],
      initializer: [
        floatInitializer('W1', [F, hidden], w1),
        floatInitializer('b1', [hidden], b1),
        floatInitializer('W2', [hidden, 1], w2),
        floatInitializer('b2', [1], b2),
      ],
      input: [floatValueInfo(INPUT_NAME, [BATCH_DIM, F])],
      output: [floatValueInfo(OUTPUT_NAME, [BATCH_DIM, 1])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Reads the metadata_props of a serialized model (e.g. one built above) into a plain object. */
export function readModelMetadata(bytes: Uint8Array): Record<string, string> {
  const model = onnx.ModelProto.decode(bytes);
  return Object.fromEntries(model.metadataProps.map((p) => [p.key ?? '', p.value ?? '']));
}
