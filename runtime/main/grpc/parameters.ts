/**
 * InferParameter maps (a oneof of bool, int64, string, double and uint64 per key) to the plain
 * values REST requests carry, and back. 64-bit integers that JavaScript numbers hold exactly
 * become numbers; larger ones stay bigints, so no value is rounded on the way.
 */
import { HttpError } from '../../shared/errors.ts';
import type { InferParameter, Parameters } from './proto.ts';

function integer(text: string | number): number | bigint {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

function valueOf(p: InferParameter, where: string): unknown {
  switch (p.parameter_choice) {
    case 'bool_param':
      return p.bool_param;
    case 'string_param':
      return p.string_param;
    case 'double_param':
      return p.double_param;
    case 'int64_param':
      return integer(p.int64_param!);
    case 'uint64_param':
      return integer(p.uint64_param!);
    default:
      throw new HttpError(400, `${where}: a parameter has no value (set one of bool_param, int64_param, string_param, double_param, uint64_param)`);
  }
}

/** Plain values, or undefined for an empty map. */
export function fromParameters(params: Parameters, where: string): Record<string, unknown> | undefined {
  const keys = Object.keys(params);
  if (keys.length === 0) return undefined;
  // A null prototype: a "__proto__" key is then only a key.
  const out: Record<string, unknown> = Object.create(null);
  for (const k of keys) out[k] = valueOf(params[k]!, `${where}.${k}`);
  return out;
}

const INT64_MAX = 2n ** 63n - 1n;

function parameterOf(v: unknown): InferParameter {
  if (typeof v === 'boolean') return { bool_param: v };
  if (typeof v === 'string') return { string_param: v };
  if (typeof v === 'bigint') return v > INT64_MAX ? { uint64_param: String(v) } : { int64_param: String(v) };
  if (typeof v === 'number') return Number.isSafeInteger(v) ? { int64_param: v } : { double_param: v };
  // Objects and arrays have no InferParameter form: they travel as JSON text.
  return { string_param: JSON.stringify(v) ?? String(v) };
}

export function toParameters(values: Record<string, unknown>): Parameters {
  const out: Parameters = {};
  for (const [k, v] of Object.entries(values)) out[k] = parameterOf(v);
  return out;
}
