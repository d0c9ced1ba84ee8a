/**
 * Open Inference Protocol (KServe V2) infer bodies: decodes a request (JSON, or JSON header plus
 * binary tail per the binary tensor data extension) into checked, flat tensors, and encodes a
 * response as JSON or, when the request asks, with binary outputs. Every malformed request is an
 * HttpError 400 whose message names the input and what is wrong; malformed model outputs are 500.
 */
import { z } from 'zod';
import { HttpError } from '../../shared/errors.ts';
import { codedError } from '../../shared/error-codes.ts';
import { RESERVED_NAMES, checkParsedValues } from '../body-guard.ts';
import { DATATYPES, elementSize, fromBinary, fromJson, isDatatype, toBinary, toJsonText, toOutputData } from './datatypes.ts';
import type { OutputData, TensorData } from './datatypes.ts';
import type { V2RequestedOutput, V2Tensor } from './model-registry.ts';

/** Deeper tensors are not real models; the cap bounds the recursion that checks nested data. */
const MAX_RANK = 32;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
// z.custom keeps the parsed object as is; rebuilding it key by key would let a `__proto__` key set a prototype.
const params = z.custom<Record<string, unknown>>(isObject, 'expected an object');
const requestSchema = z.object({
  id: z.string().optional(),
  parameters: params.optional(),
  inputs: z.array(
    z.object({
      name: z.string().min(1),
      datatype: z.string(),
      shape: z.array(z.int().min(0)).max(MAX_RANK),
      data: z.unknown().optional(),
      parameters: params.optional(),
    }),
  ),
  outputs: z.array(z.object({ name: z.string().min(1), parameters: params.optional() })).optional(),
});

export interface DecodedInput {
  name: string;
  datatype: string;
  shape: number[];
  data: TensorData;
  parameters?: Record<string, unknown>;
}

export interface DecodedRequest {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: DecodedInput[];
  outputs?: V2RequestedOutput[];
}

export interface InferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, unknown>;
  outputs: V2Tensor[];
}

export interface EncodedResponse {
  body: string | Buffer;
  contentType: string;
  /** Set when the body has a binary tail: the value of the Inference-Header-Content-Length header. */
  headerLength?: number;
}

const bad = (message: string) => new HttpError(400, message);

/** Elements in a shape; `status` says whose fault a bad shape is (client 400, model 500). */
export function elementCount(shape: unknown, where: string, status: number): number {
  const ok = Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && d >= 0);
  const count = ok ? shape.reduce((n: number, d: number) => n * d, 1) : NaN;
  if (!Number.isSafeInteger(count)) {
    const message = `${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers with a safe element count`;
    throw status === 400 ? bad(message) : codedError('INVALID_OUTPUT', message);
  }
  return count;
}

/** Flattens JSON data given flat (row-major) or nested exactly as the shape says. */
function flatten(data: unknown, shape: number[], count: number, where: string): unknown[] {
  if (!Array.isArray(data)) throw bad(`${where}: data must be an array`);
  if (!data.some(Array.isArray)) {
    if (data.length !== count) throw bad(`${where}: data has ${data.length} elements but shape [${shape}] needs ${count}`);
    return data;
  }
  const out: unknown[] = [];
  const walk = (node: unknown, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (Array.isArray(node)) throw bad(`${where}: ${path} is nested deeper than shape [${shape}]`);
      out.push(node);
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw bad(`${where}: ${path} must be an array of ${shape[depth]} elements to match shape [${shape}]`);
    }
    node.forEach((child, i) => walk(child, depth + 1, `${path}[${i}]`));
  };
  walk(data, 0, 'data');
  return out;
}

function parseHeader(json: Buffer): z.infer<typeof requestSchema> {
  let value: unknown;
  try {
    value = JSON.parse(json.toString('utf8'));
  } catch (err) {
    throw bad(`request JSON is malformed: ${(err as Error).message}`);
  }
  if (!isObject(value)) throw bad('request body must be a JSON object');
  const parsed = requestSchema.safeParse(value);
  if (parsed.success) {
    // Parameters pass to models as they came: no reserved keys, no non-finite numbers in them.
    checkParsedValues(parsed.data.parameters, 'parameters');
    parsed.data.inputs.forEach((x, i) => checkParsedValues(x.parameters, `inputs[${i}].parameters`));
    parsed.data.outputs?.forEach((x, i) => checkParsedValues(x.parameters, `outputs[${i}].parameters`));
    return parsed.data;
  }
  const path = (keys: PropertyKey[]) =>
    keys
      .map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`))
      .join('')
      .replace(/^\./, '');
  const issues = parsed.error.issues.map((i) => `${path(i.path) || '(body)'}: ${i.message}`);
  throw bad(`invalid inference request: ${issues.join('; ')}`);
}

function binaryFlag(params: Record<string, unknown> | undefined, key: string, where: string): void {
  if (params?.[key] !== undefined && typeof params[key] !== 'boolean') throw bad(`${where}: parameters.${key} must be a boolean`);
}

/**
 * Decodes an infer request body. `headerLength` is the Inference-Header-Content-Length header:
 * when present, the first that many bytes are JSON and the rest is binary tensor data, taken
 * in input order by each input's `parameters.binary_data_size`.
 */
export function decodeInferRequest(body: Buffer | undefined, headerLength: string | undefined): DecodedRequest {
  if (body === undefined || body.length === 0) throw bad('request body is empty; expected an inference request JSON object');
  let jsonEnd = body.length;
  if (headerLength !== undefined) {
    if (!/^\d+$/.test(headerLength.trim())) throw bad(`Inference-Header-Content-Length must be a non-negative integer, got '${headerLength}'`);
    jsonEnd = Number(headerLength.trim());
    if (jsonEnd > body.length) throw bad(`Inference-Header-Content-Length is ${jsonEnd} but the body has only ${body.length} bytes`);
  }
  const header = parseHeader(body.subarray(0, jsonEnd));
  binaryFlag(header.parameters, 'binary_data_output', 'request');
  const tail = body.subarray(jsonEnd);
  let offset = 0;
  const names = new Set<string>();
  const inputs = header.inputs.map((input): DecodedInput => {
    const where = `input '${input.name}'`;
    if (RESERVED_NAMES.has(input.name)) throw bad(`inputs[${names.size}].name: '${input.name}' is a reserved name and cannot name an input`);
    if (names.has(input.name)) throw bad(`duplicate input name '${input.name}'`);
    names.add(input.name);
    if (!isDatatype(input.datatype)) throw bad(`${where}: unknown datatype '${input.datatype}'; expected one of ${DATATYPES.join(', ')}`);
    const count = elementCount(input.shape, where, 400);
    const { binary_data_size: size, ...rest } = input.parameters ?? {};
    let data: TensorData;
    if (size === undefined) {
      if (input.data === undefined) throw bad(`${where}: has neither data nor parameters.binary_data_size`);
      data = fromJson(input.datatype, flatten(input.data, input.shape, count, where), where);
    } else {
      if (input.data !== undefined) throw bad(`${where}: has both data and parameters.binary_data_size`);
      if (!Number.isSafeInteger(size) || (size as number) < 0) {
        throw bad(`${where}: binary_data_size must be a non-negative integer, got ${JSON.stringify(size)}`);
      }
      const n = size as number;
      const per = elementSize(input.datatype);
      if (per !== undefined && n !== per * count) {
        throw bad(`${where}: binary_data_size is ${n} but shape [${input.shape}] of ${input.datatype} needs ${per * count} bytes`);
      }
      if (n > tail.length - offset) {
        const hint = headerLength === undefined ? ' (no Inference-Header-Content-Length header was sent)' : '';
        throw bad(`${where}: binary_data_size is ${n} but only ${tail.length - offset} bytes of binary data remain${hint}`);
      }
      data = fromBinary(input.datatype, tail.subarray(offset, offset + n), count, where);
      offset += n;
    }
    const out: DecodedInput = { name: input.name, datatype: input.datatype, shape: input.shape, data };
    if (Object.keys(rest).length > 0) out.parameters = rest;
    return out;
  });
  if (offset !== tail.length) throw bad(`${tail.length - offset} bytes of binary data are not claimed by any input's binary_data_size`);
  const outputNames = new Set<string>();
  for (const o of header.outputs ?? []) {
    if (RESERVED_NAMES.has(o.name)) throw bad(`outputs: '${o.name}' is a reserved name and cannot name an output`);
    if (outputNames.has(o.name)) throw bad(`duplicate requested output name '${o.name}'`);
    outputNames.add(o.name);
    binaryFlag(o.parameters, 'binary_data', `output '${o.name}'`);
  }
  const decoded: DecodedRequest = { inputs };
  if (header.id !== undefined) decoded.id = header.id;
  if (header.parameters !== undefined) decoded.parameters = header.parameters;
  if (header.outputs !== undefined) decoded.outputs = header.outputs;
  return decoded;
}

/** Bytes the decoded tensors hold: typed arrays exactly, BOOL and BYTES lists estimated (8 bytes a slot plus string lengths). */
export function tensorBytes(req: DecodedRequest): number {
  let bytes = 0;
  for (const x of req.inputs) {
    if (ArrayBuffer.isView(x.data)) bytes += x.data.byteLength;
    else for (const v of x.data as unknown[]) bytes += 8 + (typeof v === 'string' ? v.length * 2 : v instanceof Uint8Array ? v.byteLength : 0);
  }
  return bytes;
}

/** The model's outputs the client asked for, in the order asked; all of them when it did not ask. */
function selectOutputs(model: string, outputs: V2Tensor[], requested: V2RequestedOutput[] | undefined): V2Tensor[] {
  if (requested === undefined) return outputs;
  const byName = new Map(outputs.map((o) => [o.name, o]));
  return requested.map((r) => {
    const found = byName.get(r.name);
    if (!found) throw bad(`model '${model}' has no output '${r.name}'; it produced ${[...byName.keys()].join(', ') || 'none'}`);
    return found;
  });
}

/** An output to send: the model's tensor and its data in the datatype's canonical form. */
export interface CheckedOutput {
  tensor: V2Tensor;
  data: OutputData;
}

/**
 * The outputs the client asked for (all when it did not ask), each checked against its
 * datatype and shape; a model that broke the protocol is an INVALID_OUTPUT (500) naming the output.
 */
export function checkedOutputs(model: string, outputs: V2Tensor[], requested: V2RequestedOutput[] | undefined): CheckedOutput[] {
  return selectOutputs(model, outputs, requested).map((o) => {
    const where = `output '${o.name}'`;
    if (!isDatatype(o.datatype)) throw codedError('INVALID_OUTPUT', `${where}: unknown datatype '${o.datatype}'`);
    const count = elementCount(o.shape, where, 500);
    const data = toOutputData(o.datatype, o.data, where);
    if (data.length !== count) {
      throw codedError('INVALID_OUTPUT', `${where}: data has ${data.length} elements but shape [${o.shape}] needs ${count}`);
    }
    return { tensor: o, data };
  });
}

/**
 * Encodes an infer response. An output is binary when its requested `parameters.binary_data`
 * says so, else when the request's `parameters.binary_data_output` is true.
 */
export function encodeInferResponse(res: InferResponse, req: Pick<DecodedRequest, 'parameters' | 'outputs'>): EncodedResponse {
  const binaryDefault = req.parameters?.binary_data_output === true;
  const perOutput = new Map((req.outputs ?? []).map((o) => [o.name, o.parameters?.binary_data]));
  const parts: string[] = [];
  const tails: Buffer[] = [];
  for (const { tensor: o, data } of checkedOutputs(res.model_name, res.outputs, req.outputs)) {
    const flag = perOutput.get(o.name);
    const head = { name: o.name, datatype: o.datatype, shape: o.shape };
    if (typeof flag === 'boolean' ? flag : binaryDefault) {
      const bin = toBinary(data);
      tails.push(bin);
      parts.push(JSON.stringify({ ...head, parameters: { ...o.parameters, binary_data_size: bin.length } }));
    } else {
      // Data is spliced in as text: JSON.stringify cannot write bigints or shortest float32s.
      const json = JSON.stringify(o.parameters ? { ...head, parameters: o.parameters } : head);
      parts.push(`${json.slice(0, -1)},"data":${toJsonText(o.datatype, data)}}`);
    }
  }
  const top: Record<string, unknown> = { model_name: res.model_name };
  if (res.model_version !== undefined) top.model_version = res.model_version;
  if (res.id !== undefined) top.id = res.id;
  if (res.parameters !== undefined) top.parameters = res.parameters;
  const json = `${JSON.stringify(top).slice(0, -1)},"outputs":[${parts.join(',')}]}`;
  if (tails.length === 0) return { body: json, contentType: 'application/json; charset=utf-8' };
  const head = Buffer.from(json, 'utf8');
  return { body: Buffer.concat([head, ...tails]), contentType: 'application/octet-stream', headerLength: head.length };
}
