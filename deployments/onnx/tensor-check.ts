/**
 * Request tensors checked against a session's input metadata before `session.run`, so a bad
 * request answers 400 with a message naming the input, instead of a 500 from deep in
 * onnxruntime. onnxruntime-node would also silently ignore feeds it does not know.
 *
 * The datatype names come from threadserve's one table (DATATYPE_TABLE: V2 name, onnxruntime
 * type, typed array), which the V2 codecs read too. Beyond it, measured with onnxruntime-node
 * 1.30: its `int4`/`uint4` have no V2 name, and onnxruntime-node refuses them as inputs
 * ("Tensor.type is not supported: uint4"). A model whose inputs or outputs are bfloat16 or
 * float8 does not even load in onnxruntime-node ("Unsupported data type").
 */
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { DATATYPE_TABLE, datatypeInfo, HttpError, V2_DATATYPES, v2FromOnnx } from 'threadserve';
import { floatToHalf } from 'threadserve';
import type { TypedArray, TypedArrayConstructor, V2Datatype } from 'threadserve';

export { V2_DATATYPES };
export type { TypedArray, V2Datatype };
export type OrtType = Tensor.Type;

/** The typed array onnxruntime-node wants for an onnxruntime type; `string` (BYTES) takes string[]. */
function typedArrayOf(type: OrtType): TypedArrayConstructor | undefined {
  return DATATYPE_TABLE[v2FromOnnx(type) ?? 'BYTES'].array;
}

/** The V2 name of an onnxruntime type, or the type upper-cased when V2 has none. */
export function v2Datatype(type: string): string {
  return v2FromOnnx(type) ?? type.toUpperCase();
}

/** Accepts a V2 name ("FP32") or an onnxruntime name ("float32"); undefined when neither. */
export function toOrtType(datatype: string): OrtType | undefined {
  const info = datatypeInfo(datatype);
  if (info) return info.onnx;
  if (v2FromOnnx(datatype)) return datatype as OrtType;
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
export function checkInputs(inputs: Readonly<Record<string, TensorInput>>, metadata: readonly InferenceSession.ValueMetadata[]): Record<string, CheckedInput> {
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

/**
 * The type a typed array most plainly holds: the table's numeric rows (a Uint8Array is uint8,
 * though bool also uses it; a Uint16Array uint16, though float16 also does).
 */
const ARRAY_TYPE: readonly [TypedArrayConstructor, OrtType][] = V2_DATATYPES.map((dt) => DATATYPE_TABLE[dt])
  .filter((t) => t.kind === 'int' || t.kind === 'bigint' || t.kind === 'float')
  .map((t) => [t.array!, t.onnx]);

function toData(name: string, data: TensorInput['data'], type: OrtType): TypedArray | string[] {
  if (ArrayBuffer.isView(data)) {
    const ctor = typedArrayOf(type);
    // instanceof, not constructor equality, so a Node Buffer counts as the Uint8Array it is.
    if (ctor && data instanceof ctor) return data as TypedArray;
    const arrayName = (data.constructor as { name: string }).name;
    const got = ARRAY_TYPE.find(([c]) => data instanceof c)?.[1];
    throw bad(name, got ? `expected ${type}, got ${got} (${arrayName})` : `expected ${type}, got a ${arrayName}`);
  }
  if (!Array.isArray(data)) throw bad(name, 'data must be a typed array or a list of values');
  return fromList(name, data as readonly unknown[], type);
}

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
      const { min: lo, max: hi } = DATATYPE_TABLE[v2FromOnnx(type)!] as { min: bigint; max: bigint };
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
      const info = datatypeInfo(v2FromOnnx(type) ?? '');
      if (info?.kind !== 'int') throw bad(name, `onnxruntime-node cannot take ${type} inputs`);
      const range = [info.min as number, info.max as number] as const;
      const out = new info.array!(list.length) as Int32Array;
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
