/**
 * The one tensor datatype table: every Open Inference Protocol (KServe V2) datatype, the
 * onnxruntime type name that carries it, and the typed array that holds its elements. The V2
 * codecs (REST and gRPC, main/v2/datatypes.ts) and the ONNX deployments (threadserve/onnx)
 * read it; it lives here, exported from the public 'threadserve' entry, because deployments
 * may import only public entries and the runtime must not depend on deployments.
 *
 * What onnxruntime-node 1.30 makes of it, measured: every V2 datatype feeds and fetches, with
 * two catches. FP16 travels as raw IEEE half bits in a Uint16Array (Node 20 has no
 * Float16Array: use floatToHalf/halfToFloat), and BYTES is an onnxruntime `string` tensor (JS
 * strings), so it carries text, not arbitrary bytes. BOOL travels as a Uint8Array of 0/1.
 */

export type TypedArray =
  Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array | Float32Array | Float64Array;

export interface TypedArrayConstructor {
  new (length: number): TypedArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray;
}

/** onnxruntime's names of the types a V2 datatype maps to (a subset of its Tensor.Type). */
export type OnnxType = 'bool' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'int8' | 'int16' | 'int32' | 'int64' | 'float16' | 'float32' | 'float64' | 'string';

export interface DatatypeInfo {
  /** The onnxruntime type that carries it. */
  onnx: OnnxType;
  /**
   * What an element is: a boolean, an integer that fits a JS number, a bigint (64-bit), a
   * float, a half float (held as its bits), or a length-prefixed byte string.
   */
  kind: 'bool' | 'int' | 'bigint' | 'float' | 'half' | 'bytes';
  /** Bytes per element in binary tensor data; BYTES has none (its elements vary in length). */
  size?: number;
  /** The typed array holding the elements; BYTES has none (strings or byte arrays). */
  array?: TypedArrayConstructor;
  /** Integer kinds: the range an element must lie in. */
  min?: number | bigint;
  max?: number | bigint;
}

const int = (onnx: OnnxType, size: number, array: TypedArrayConstructor, min: number, max: number): DatatypeInfo => ({
  onnx,
  kind: 'int',
  size,
  array,
  min,
  max,
});

export const DATATYPE_TABLE = Object.freeze({
  BOOL: { onnx: 'bool', kind: 'bool', size: 1, array: Uint8Array },
  UINT8: int('uint8', 1, Uint8Array, 0, 0xff),
  UINT16: int('uint16', 2, Uint16Array, 0, 0xffff),
  UINT32: int('uint32', 4, Uint32Array, 0, 0xffffffff),
  UINT64: { onnx: 'uint64', kind: 'bigint', size: 8, array: BigUint64Array, min: 0n, max: 2n ** 64n - 1n },
  INT8: int('int8', 1, Int8Array, -0x80, 0x7f),
  INT16: int('int16', 2, Int16Array, -0x8000, 0x7fff),
  INT32: int('int32', 4, Int32Array, -0x80000000, 0x7fffffff),
  INT64: { onnx: 'int64', kind: 'bigint', size: 8, array: BigInt64Array, min: -(2n ** 63n), max: 2n ** 63n - 1n },
  FP16: { onnx: 'float16', kind: 'half', size: 2, array: Uint16Array },
  FP32: { onnx: 'float32', kind: 'float', size: 4, array: Float32Array },
  FP64: { onnx: 'float64', kind: 'float', size: 8, array: Float64Array },
  BYTES: { onnx: 'string', kind: 'bytes' },
} satisfies Record<string, DatatypeInfo>) as Readonly<Record<V2Datatype, DatatypeInfo>>;

export const V2_DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'] as const;
export type V2Datatype = (typeof V2_DATATYPES)[number];

/** The table's entry for a V2 name, or undefined when it is none. */
export function datatypeInfo(dt: string): DatatypeInfo | undefined {
  return Object.hasOwn(DATATYPE_TABLE, dt) ? DATATYPE_TABLE[dt as V2Datatype] : undefined;
}

/** The V2 name of an onnxruntime type, or undefined (onnxruntime's int4, uint4, bfloat16... have none). */
export function v2FromOnnx(type: string): V2Datatype | undefined {
  return V2_DATATYPES.find((dt) => DATATYPE_TABLE[dt].onnx === type);
}
