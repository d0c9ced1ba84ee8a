/**
 * The V2 tensor datatypes: how each is read from JSON values and from binary tensor data, and
 * written back to either. Binary data is little-endian, row-major, unpadded; BOOL is one byte
 * (0 or 1); BYTES elements are a 4-byte little-endian length followed by the bytes. Which
 * datatypes exist, their sizes, ranges and typed arrays come from the one table,
 * shared/datatypes.ts.
 */
import { isUtf8 } from 'node:buffer';
import { HttpError, ThreadserveError } from '../../shared/errors.ts';
import { codedError } from '../../shared/error-codes.ts';
import { DATATYPE_TABLE, datatypeInfo, V2_DATATYPES } from '../../shared/datatypes.ts';
import type { DatatypeInfo, TypedArray, V2Datatype } from '../../shared/datatypes.ts';
import { floatToHalf, halfToFloat, shortestText } from '../../shared/float16.ts';

/** Decoded input data: typed array, BOOL as boolean[], BYTES as string[] or Uint8Array[]. */
export type TensorData = TypedArray | boolean[] | string[] | Uint8Array[];

/** The canonical form of output data before it is written: BOOL as 0/1 bytes. */
export type OutputData = TypedArray | (string | Uint8Array)[];

/** Typed arrays of either element kind, written through one index signature. */
type Writable = { [i: number]: number | bigint };

/** The table's entry for a numeric datatype (not BOOL or BYTES), whose `array` and `size` are set. */
function numeric(dt: string): Required<Pick<DatatypeInfo, 'array' | 'size'>> & DatatypeInfo {
  return DATATYPE_TABLE[dt as V2Datatype] as Required<Pick<DatatypeInfo, 'array' | 'size'>> & DatatypeInfo;
}

export const DATATYPES: readonly string[] = V2_DATATYPES;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function isDatatype(dt: string): boolean {
  return datatypeInfo(dt) !== undefined;
}

/** Bytes per element, or undefined for BYTES (variable length). */
export function elementSize(dt: string): number | undefined {
  return datatypeInfo(dt)?.size;
}

function bad(where: string, i: number, v: unknown, needs: string): HttpError {
  const shown = (typeof v === 'number' && !Number.isFinite(v) ? String(v) : JSON.stringify(v)) ?? String(v);
  return new HttpError(400, `${where}: element ${i} is ${shown.length > 40 ? `${shown.slice(0, 40)}...` : shown}; expected ${needs}`);
}

/** Magnitudes from which a float rounds to FP16 infinity (65504 is the largest finite half). */
const FP16_OVERFLOW = 65520;

/** Converts flat JSON values to the datatype's form, rejecting wrong types and out-of-range values. */
export function fromJson(dt: string, values: unknown[], where: string): TensorData {
  if (dt === 'BOOL' || dt === 'BYTES') {
    const type = dt === 'BOOL' ? 'boolean' : 'string';
    values.forEach((v, i) => {
      if (typeof v !== type) throw bad(where, i, v, `a ${type} for ${dt}`);
    });
    return values as boolean[] | string[];
  }
  const t = numeric(dt);
  const out = new t.array(values.length);
  const w = out as unknown as Writable;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (t.kind === 'bigint') {
      // JSON.parse rounds integers past 2^53 silently, so larger ones must come as strings.
      let b: bigint;
      if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
      else if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) b = BigInt(v);
      else throw bad(where, i, v, `an integer for ${dt} (as a string beyond 2^53)`);
      if (b < (t.min as bigint) || b > (t.max as bigint)) throw bad(where, i, v, `a value in ${dt} range`);
      w[i] = b;
    } else if (typeof v !== 'number') {
      throw bad(where, i, v, `a number for ${dt}`);
    } else if (t.kind === 'int') {
      if (!Number.isInteger(v)) throw bad(where, i, v, `an integer for ${dt}`);
      if (v < (t.min as number) || v > (t.max as number)) throw bad(where, i, v, `a value in ${dt} range ${t.min}..${t.max}`);
      w[i] = v;
    } else {
      // JSON's 1e999 parses to Infinity, and a float64 past FP32's range becomes Infinity when stored.
      const stored = dt === 'FP32' ? Math.fround(v) : dt === 'FP16' && Math.abs(v) >= FP16_OVERFLOW ? Infinity : v;
      if (!Number.isFinite(stored)) {
        throw bad(where, i, v, `a finite number in ${dt} range`);
      }
      w[i] = t.kind === 'half' ? floatToHalf(v) : v;
    }
  }
  return out;
}

/** Reads `count` elements from a binary slice whose byte length the caller has checked (not for BYTES). */
export function fromBinary(dt: string, bytes: Buffer, count: number, where: string): TensorData {
  if (dt === 'BYTES') return bytesFromBinary(bytes, count, where);
  if (dt === 'BOOL') {
    const out = new Array<boolean>(count);
    for (let i = 0; i < count; i++) {
      if (bytes[i]! > 1) throw new HttpError(400, `${where}: BOOL byte ${i} is ${bytes[i]}; expected 0 or 1`);
      out[i] = bytes[i] === 1;
    }
    return out;
  }
  assertLittleEndian();
  const t = numeric(dt);
  // A view needs its byte offset to be a multiple of the element size; the JSON header in front
  // of the tensor has any length, so a misaligned tensor is copied into its own buffer instead.
  if (bytes.byteOffset % t.size === 0) return new t.array(bytes.buffer, bytes.byteOffset, count);
  const copy = new t.array(count);
  new Uint8Array(copy.buffer, 0, bytes.length).set(bytes);
  return copy;
}

function bytesFromBinary(bytes: Buffer, count: number, where: string): string[] | Uint8Array[] {
  if (count * 4 > bytes.length) {
    throw new HttpError(400, `${where}: ${count} BYTES elements need at least ${count * 4} bytes of length prefixes, got ${bytes.length}`);
  }
  const items: Buffer[] = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    if (off + 4 > bytes.length) throw new HttpError(400, `${where}: BYTES element ${i} has no room for its 4-byte length prefix`);
    const n = bytes.readUInt32LE(off);
    off += 4;
    if (n > bytes.length - off) {
      throw new HttpError(400, `${where}: BYTES element ${i} declares ${n} bytes but only ${bytes.length - off} remain`);
    }
    items.push(bytes.subarray(off, off + n));
    off += n;
  }
  if (off !== bytes.length) {
    throw new HttpError(400, `${where}: ${bytes.length - off} bytes left over after ${count} BYTES elements; binary_data_size does not match`);
  }
  return textOrBytes(items);
}

/**
 * BYTES elements as a model sees them. Text is the common case (tritonclient sends str arrays
 * this way); bytes that are not UTF-8 (images, audio) stay raw for the whole tensor so a model
 * sees one form per tensor.
 */
export function textOrBytes(items: Buffer[]): string[] | Uint8Array[] {
  return items.every((b) => isUtf8(b)) ? items.map((b) => b.toString('utf8')) : items;
}

function outputError(where: string, message: string): ThreadserveError {
  return codedError('INVALID_OUTPUT', `${where}: ${message}`);
}

/** Brings model output data to the datatype's typed array (BOOL: 0/1 bytes); BYTES stay elements. */
export function toOutputData(dt: string, data: ArrayLike<unknown>, where: string): OutputData {
  if (dt === 'BYTES') {
    const items = Array.from(data);
    for (const v of items) {
      if (typeof v !== 'string' && !(v instanceof Uint8Array)) throw outputError(where, 'BYTES elements must be strings or Uint8Arrays');
    }
    return items as (string | Uint8Array)[];
  }
  // Always a copy: a Uint8Array from a model may hold bytes other than 0 and 1.
  if (dt === 'BOOL') return Uint8Array.from(data, (v) => (v ? 1 : 0));
  const t = numeric(dt);
  if (data instanceof t.array) return data as TypedArray;
  const out = new t.array(data.length);
  const w = out as unknown as Writable;
  try {
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (t.kind === 'bigint') w[i] = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)));
      else w[i] = t.kind === 'half' ? floatToHalf(Number(v)) : Number(v);
    }
  } catch (err) {
    throw outputError(where, `cannot convert data to ${dt}: ${(err as Error).message}`);
  }
  return out;
}

export function toBinary(data: OutputData): Buffer {
  if (!Array.isArray(data)) {
    assertLittleEndian();
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }
  const parts = data.map((v) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v));
  const out = Buffer.allocUnsafe(parts.reduce((n, p) => n + 4 + p.length, 0));
  let off = 0;
  for (const p of parts) {
    off = out.writeUInt32LE(p.length, off);
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** JSON array text for output data; non-finite floats become null, as JSON has no NaN. */
export function toJsonText(dt: string, data: OutputData): string {
  if (Array.isArray(data)) {
    return JSON.stringify(data.map((v) => (typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8'))));
  }
  let fmt: (v: number | bigint) => string;
  if (dt === 'BOOL') fmt = (v) => (v ? 'true' : 'false');
  // Float32 values widened to double print as 0.30000001192092896; the shortest text that
  // reads back to the same float32 is what clients expect to see.
  else if (dt === 'FP32') fmt = (v) => shortestText(v as number, 6, 9, (x) => Math.fround(x));
  else if (dt === 'FP16') fmt = (v) => shortestText(halfToFloat(v as number), 3, 5, (x) => halfToFloat(floatToHalf(x)));
  else if (dt === 'FP64') fmt = (v) => (Number.isFinite(v) ? String(v) : 'null');
  else fmt = String; // integers, bigints included: JSON numbers have no precision limit
  return `[${Array.from(data as ArrayLike<number | bigint>, fmt).join(',')}]`;
}

function assertLittleEndian(): void {
  if (!LITTLE_ENDIAN) throw codedError('UNSUPPORTED', 'binary tensor data needs a little-endian host');
}
