/**
 * Dynamic batching for ONNX models: requests whose inputs agree on names, types and every
 * dimension but the first are stacked along the first dimension, run once, and the outputs
 * are split back by each request's rows. Requests that differ in any other dimension form
 * their own groups. Pure functions on already-checked inputs.
 */
import type { CheckedInput, TypedArray } from './tensor-check.ts';

export interface OutputTensor {
  data: TypedArray | string[];
  dims: number[];
  datatype: string;
}

export interface StackGroup {
  /** Positions of the grouped requests in the batch, in order. */
  members: number[];
  /** Rows (first dimension) each member contributed. */
  rows: number[];
  feeds: Record<string, CheckedInput>;
}

/** Requests stack when every input has the same type and the same dims after the first. */
function signature(inputs: Record<string, CheckedInput>, outputNames: readonly string[] | undefined): string {
  const parts = Object.keys(inputs)
    .sort()
    .map((name) => {
      const t = inputs[name]!;
      return `${name}:${t.type}:${t.dims.slice(1).join('x')}:${t.dims.length}`;
    });
  return `${parts.join('|')}>${outputNames ? outputNames.join(',') : '*'}`;
}

function concat(parts: Array<TypedArray | string[]>): TypedArray | string[] {
  const first = parts[0]!;
  if (parts.length === 1) return first;
  if (Array.isArray(first)) return (parts as string[][]).flat();
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new (first.constructor as new (n: number) => TypedArray)(length);
  let offset = 0;
  for (const p of parts as TypedArray[]) {
    (out as unknown as { set(a: ArrayLike<number | bigint>, o: number): void }).set(p as ArrayLike<number>, offset);
    offset += p.length;
  }
  return out;
}

/** Groups requests that can share one run and stacks their inputs. Scalars (rank 0) never stack. */
export function stackRequests(requests: ReadonlyArray<{ inputs: Record<string, CheckedInput>; outputNames?: readonly string[] | undefined }>): StackGroup[] {
  const groups = new Map<string, { members: number[]; rows: number[] }>();
  requests.forEach((r, i) => {
    const ranks = Object.values(r.inputs).map((t) => t.dims.length);
    const key = ranks.some((n) => n === 0) ? `solo:${i}` : signature(r.inputs, r.outputNames);
    const rows = Object.values(r.inputs)[0]?.dims[0] ?? 1;
    const g = groups.get(key) ?? { members: [], rows: [] };
    g.members.push(i);
    g.rows.push(rows);
    groups.set(key, g);
  });
  return [...groups.values()].map(({ members, rows }) => {
    const first = requests[members[0]!]!.inputs;
    const feeds: Record<string, CheckedInput> = {};
    for (const name of Object.keys(first)) {
      const parts = members.map((m) => requests[m]!.inputs[name]!);
      const total = parts.reduce((n, p) => n + p.dims[0]!, 0);
      feeds[name] = { type: parts[0]!.type, data: concat(parts.map((p) => p.data)), dims: [total, ...parts[0]!.dims.slice(1)] };
    }
    return { members, rows, feeds };
  });
}

/**
 * Splits each output along its first dimension by the members' rows. An output whose first
 * dimension is not the batch (a per-run constant) is given whole to every member.
 */
export function splitOutputs(outputs: Record<string, OutputTensor>, rows: readonly number[]): Array<Record<string, OutputTensor>> {
  const total = rows.reduce((a, b) => a + b, 0);
  const out = rows.map(() => ({}) as Record<string, OutputTensor>);
  for (const [name, t] of Object.entries(outputs)) {
    if (t.dims[0] !== total) {
      out.forEach((o) => (o[name] = t));
      continue;
    }
    const per = total === 0 ? 0 : t.data.length / total;
    let row = 0;
    rows.forEach((n, i) => {
      const start = row * per;
      const end = (row + n) * per;
      // slice, not subarray: each caller gets a buffer of its own, which then moves to its thread.
      const data = Array.isArray(t.data) ? t.data.slice(start, end) : (t.data.slice(start, end) as TypedArray);
      out[i]![name] = { data, dims: [n, ...t.dims.slice(1)], datatype: t.datatype };
      row += n;
    });
  }
  return out;
}
