/**
 * Small pieces of OnnxModel that do not need its state: what the runtime says about this
 * replica, and converting onnxruntime's metadata and outputs into the shapes callers get.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { HttpError, ownsWholeBuffer, replicaContext } from 'threadserve';
import { v2Datatype } from './tensor-check.ts';
import type { TypedArray } from './tensor-check.ts';

/** Name, V2 datatype and shape (-1 for a dynamic dimension) of a model input or output. */
export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

/** The device the runtime assigned to this replica, if any (read defensively: older contexts lack it). */
export function assignedDevice(): number | undefined {
  try {
    const id = (replicaContext() as { deviceId?: unknown }).deviceId;
    return typeof id === 'number' ? id : undefined;
  } catch {
    return undefined;
  }
}

/** Replicas in this process (from the runtime), so default intra-op threads share the cores; 1 outside a replica. */
export function replicasInProcess(): number {
  try {
    const n = (replicaContext() as { replicasInProcess?: unknown }).replicasInProcess;
    return typeof n === 'number' && n > 0 ? n : 1;
  } catch {
    return 1;
  }
}

export function describeTensor(m: InferenceSession.ValueMetadata): TensorMetadata {
  if (!m.isTensor) return { name: m.name, datatype: 'NON_TENSOR', shape: [] };
  return {
    name: m.name,
    datatype: v2Datatype(m.type),
    shape: m.shape.map((d) => (typeof d === 'number' ? d : -1)),
  };
}

export function checkOutputNames(names: readonly string[], known: readonly string[]): void {
  if (!Array.isArray(names)) throw new HttpError(400, 'outputs must be a list of output names');
  for (const n of names) {
    if (!known.includes(n)) {
      throw new HttpError(400, `unknown output "${n}"; the model gives ${known.map((k) => `"${k}"`).join(', ')}`);
    }
  }
}

/** The tensor's data, in a buffer of its own (so it can be transferred). */
export function ownedData(t: Tensor): TypedArray | string[] {
  const data = t.data as TypedArray | string[];
  if (Array.isArray(data)) return data;
  return ownsWholeBuffer(data) ? data : (data.slice() as TypedArray);
}
