/**
 * Request tensors checked against a session's input metadata before `session.run`, so a bad
 * request answers 400 with a message naming the input, instead of a 500 from deep in
 * onnxruntime. onnxruntime-node would also silently ignore feeds it does not know.
 *
 * Plus the datatype tables: Open Inference Protocol (KServe V2) names, onnxruntime-node's type
 * names and the typed arrays that hold them.
 *
 * What onnxruntime-node 1.30 can take, measured:
 * - every V2 datatype maps to an onnxruntime type it feeds and fetches, with two catches:
 *   FP16 travels as raw IEEE half bits in a Uint16Array (Node 20 has no Float16Array; use
 *   `floatToHalf()` from runtime/shared/float16.ts), and BYTES becomes an onnxruntime `string` tensor (an array
 *   of JS strings), so it carries text, not arbitrary bytes.
 * - BOOL travels as a Uint8Array of 0/1.
 * - onnxruntime's `int4`/`uint4` have no V2 name, and onnxruntime-node refuses them as inputs
 *   ("Tensor.type is not supported: uint4"). A model whose inputs or outputs are bfloat16 or
 *   float8 does not even load in onnxruntime-node ("Unsupported data type").
 */
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { HttpError } from 'threadserve';
import { floatToHalf } from 'threadserve';

export const V2_DATATYPES = [
  'BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES',
] as const;
export type V2Datatype = (typeof V2_DATATYPES)[number];
export type OrtType = Tensor.Type;

export const V2_TO_ORT: Readonly<Record<V2Datatype, OrtType>> = Object.freeze({
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
});

/** onnxruntime type to V2 name; `int4` and `uint4` have none. */
export const ORT_TO_V2: Readonly<Partial<Record<OrtType, V2Datatype>>> = Object.freeze(
  Object.fromEntries(Object.entries(V2_TO_ORT).map(([v2, ort]) => [ort, v2])),
);

export type TypedArray =
  | Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array;
type TypedArrayConstructor =
  | Float32ArrayConstructor | Float64ArrayConstructor | Int8ArrayConstructor | Int16ArrayConstructor
  | Int32ArrayConstructor | BigInt64ArrayConstructor | Uint8ArrayConstructor | Uint16ArrayConstructor
  | Uint32ArrayConstructor | BigUint64ArrayConstructor;

/** The typed array onnxruntime-node wants for each numeric type; `string` takes string[]. */
export const ORT_TYPED_ARRAY: Readonly<Partial<Record<OrtType, TypedArrayConstructor>>> = Object.freeze({
  bool: Uint8Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  float16: Uint16Array,
  float32: Float32Array,
  float64: Float64Array,
});

/** The V2 name of an onnxruntime type, or the type upper-cased when V2 has none. */
export function v2Datatype(type: string): string {
  return ORT_TO_V2[type as OrtType] ?? type.toUpperCase();
}

/** Accepts a V2 name ("FP32") or an onnxruntime name ("float32"); undefined when neither. */
export function toOrtType(datatype: string): OrtType | undefined {
  if (Object.hasOwn(V2_TO_ORT, datatype)) return V2_TO_ORT[datatype as V2Datatype];
  if (Object.hasOwn(ORT_TO_V2, datatype)) return datatype as OrtType;
  return undefined;
}

/** One request tensor: typed array (or plain JSON array) plus its shape. */
export interface TensorInput {
  /** JSON lists are element-checked: numbers (bigints too for 64-bit ints), booleans or 0/1 for BOOL, strings for BYTES. */
  data: TypedArray | readonly (number | bigint | boolean | string)[];
  dims: readonly number[];
  /** Optional declared type (V2 or onnxruntime name); checked against the model when present. */
  datatype?: string;
}

/** A checked input, ready for `new Tensor(type, data, dims)`. */
export interface CheckedInput {
  type: OrtType;
  data: TypedArray | string[];
  dims: number[];
}

type TensorMeta = InferenceSession.TensorValueMetadata;

/** `[N,3,48,W]`: the model's shape as people read it. */
export function formatShape(shape: readonly (number | string)[]): string {
  return `[${shape.join(',')}]`;
}

const bad = (name: string, problem: string): HttpError => new HttpError(400, `input "${name}": ${problem}`);

/**
 * Checks every request input against the model's inputs and converts plain arrays to the typed
 * arrays onnxruntime wants. Throws HttpError(400) on the first problem: unknown or missing
 * input, wrong datatype, wrong rank, a fixed dimension of the wrong size, bad dims, or a data
 * length that is not the product of the dims.
 */
export function checkInputs(
  inputs: Readonly<Record<string, TensorInput>>,
  metadata: readonly InferenceSession.ValueMetadata[],
): Record<string, CheckedInput> {
  if (inputs === null || typeof inputs !== 'object') throw new HttpError(400, 'inputs must be an object of named tensors');
  const byName = new Map(metadata.map((m) => [m.name, m]));
  const names = metadata.map((m) => `"${m.name}"`).join(', ');
  for (const name of Object.keys(inputs)) {
    if (!byName.has(name)) throw new HttpError(400, `unknown input "${name}"; the model takes ${names}`);
  }
  const out: Record<string, CheckedInput> = {};
  for (const meta of metadata) {
    const input = inputs[meta.name];
    if (input === undefined) {
      const what = meta.isTensor ? ` (${meta.type} ${formatShape(meta.shape)})` : '';
      throw new HttpError(400, `missing input "${meta.name}"${what}`);
    }
    if (!meta.isTensor) throw bad(meta.name, 'the model takes a sequence or map here, which cannot be sent as a tensor');
    out[meta.name] = checkInput(meta.name, input, meta);
  }
  return out;
}

/** Checks one input against one tensor's metadata. */
export function checkInput(name: string, input: TensorInput, meta: TensorMeta): CheckedInput {
  if (input === null || typeof input !== 'object') throw bad(name, 'must be an object with data and dims');
  const expected = meta.type;
  if (input.datatype !== undefined) {
    const declared = toOrtType(input.datatype);
    if (declared === undefined) {
      throw bad(name, `unknown datatype ${JSON.stringify(input.datatype)}; use one of ${V2_DATATYPES.join(', ')}`);
    }
    if (declared !== expected) throw bad(name, `expected ${expected}, got ${declared}`);
  }
  const dims = checkDims(name, input.dims, meta.shape);
  const data = toData(name, input.data, expected);
  const count = dims.reduce((p, d) => p * d, 1);
  if (data.length !== count) {
    throw bad(name, `shape ${formatShape(dims)} needs ${count} values, got ${data.length}`);
  }
  return { type: expected, data, dims };
}

function checkDims(name: string, dims: unknown, shape: readonly (number | string)[]): number[] {
  if (!Array.isArray(dims) || !dims.every((d) => Number.isInteger(d) && d >= 0)) {
    throw bad(name, `dims must be a list of non-negative integers, got ${JSON.stringify(dims)}`);
  }
  // onnxruntime reports both a scalar and a tensor with no declared shape as [], so an empty
  // shape cannot be checked here; onnxruntime checks a scalar's rank itself when it runs.
  if (shape.length === 0) return [...dims];
  if (dims.length !== shape.length) {
    throw bad(name, `expected ${shape.length} dimensions ${formatShape(shape)}, got ${dims.length} ${formatShape(dims)}`);
  }
  shape.forEach((want, i) => {
    if (typeof want === 'number' && dims[i] !== want) {
      throw bad(name, `dimension ${i} must be ${want}, got ${dims[i]} (expected shape ${formatShape(shape)}, got ${formatShape(dims)})`);
    }
  });
  return [...dims];
}

/** The type a typed array most plainly holds (a Uint8Array is uint8, though bool also uses it). */
const ARRAY_TYPE: readonly [TypedArrayConstructor, OrtType][] = [
  [Float32Array, 'float32'], [Float64Array, 'float64'], [Int8Array, 'int8'], [Int16Array, 'int16'],
  [Int32Array, 'int32'], [BigInt64Array, 'int64'], [Uint8Array, 'uint8'], [Uint16Array, 'uint16'],
  [Uint32Array, 'uint32'], [BigUint64Array, 'uint64'],
];

function toData(name: string, data: TensorInput['data'], type: OrtType): TypedArray | string[] {
  if (ArrayBuffer.isView(data)) {
    const ctor = ORT_TYPED_ARRAY[type];
    // instanceof, not constructor equality, so a Node Buffer counts as the Uint8Array it is.
    if (ctor && data instanceof ctor) return data as TypedArray;
    const arrayName = (data.constructor as { name: string }).name;
    const got = ARRAY_TYPE.find(([c]) => data instanceof c)?.[1];
    throw bad(name, got ? `expected ${type}, got ${got} (${arrayName})` : `expected ${type}, got a ${arrayName}`);
  }
  if (!Array.isArray(data)) throw bad(name, 'data must be a typed array or a list of values');
  return fromList(name, data as readonly unknown[], type);
}

const INT_RANGE: Partial<Record<OrtType, [number, number]>> = {
  uint8: [0, 0xff],
  uint16: [0, 0xffff],
  uint32: [0, 0xffffffff],
  int8: [-0x80, 0x7f],
  int16: [-0x8000, 0x7fff],
  int32: [-0x80000000, 0x7fffffff],
};

/** Converts a JSON list (V2 `data`, already flat) to the typed array of `type`, element-checked. */
function fromList(name: string, list: readonly unknown[], type: OrtType): TypedArray | string[] {
  const wrong = (i: number, what: string): HttpError =>
    bad(name, `element ${i} is ${JSON.stringify(typeof list[i] === 'bigint' ? String(list[i]) : list[i])}, expected ${what} (${type})`);
  switch (type) {
    case 'string':
      list.forEach((v, i) => {
        if (typeof v !== 'string') throw wrong(i, 'a string');
      });
      return [...(list as string[])];
    case 'bool': {
      const out = new Uint8Array(list.length);
      list.forEach((v, i) => {
        if (typeof v === 'boolean') out[i] = v ? 1 : 0;
        else if (v === 0 || v === 1) out[i] = v;
        else throw wrong(i, 'true, false, 0 or 1');
      });
      return out;
    }
    case 'int64':
    case 'uint64': {
      const [lo, hi] = type === 'int64' ? [-(2n ** 63n), 2n ** 63n - 1n] : [0n, 2n ** 64n - 1n];
      const out = type === 'int64' ? new BigInt64Array(list.length) : new BigUint64Array(list.length);
      list.forEach((v, i) => {
        const b = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : undefined;
        if (b === undefined || b < lo || b > hi) throw wrong(i, 'an integer in range');
        out[i] = b;
      });
      return out;
    }
    case 'float16': {
      const out = new Uint16Array(list.length);
      list.forEach((v, i) => {
        if (typeof v !== 'number') throw wrong(i, 'a number');
        out[i] = floatToHalf(v);
      });
      return out;
    }
    case 'float32':
    case 'float64': {
      const out = type === 'float32' ? new Float32Array(list.length) : new Float64Array(list.length);
      list.forEach((v, i) => {
        if (typeof v !== 'number') throw wrong(i, 'a number');
        out[i] = v;
      });
      return out;
    }
    default: {
      const range = INT_RANGE[type];
      const ctor = ORT_TYPED_ARRAY[type];
      if (!range || !ctor) throw bad(name, `onnxruntime-node cannot take ${type} inputs`);
      const out = new (ctor as Int32ArrayConstructor)(list.length);
      list.forEach((v, i) => {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < range[0] || v > range[1]) {
          throw wrong(i, `an integer from ${range[0]} to ${range[1]}`);
        }
        out[i] = v;
      });
      return out;
    }
  }
}
