/**
 * ModelInfer messages to and from the V2 registry's tensors. Inputs come as typed `contents`
 * (the repeated field that matches the datatype) or as `raw_input_contents` (little-endian,
 * BYTES length-prefixed), checked as strictly as the REST codec checks JSON and binary bodies:
 * every fault is an HttpError 400 naming the input. Outputs go back in the form the request
 * used: raw when it sent raw inputs (tritonclient does, and reads only raw outputs) or when an
 * output is FP16 (which has no typed field), typed contents otherwise.
 */
import { HttpError } from '../../shared/errors.ts';
import { checkedOutputs, elementCount } from '../v2/codec.ts';
import type { CheckedOutput } from '../v2/codec.ts';
import { DATATYPES, elementSize, fromBinary, fromJson, isDatatype, textOrBytes, toBinary } from '../v2/datatypes.ts';
import type { TensorData } from '../v2/datatypes.ts';
import type { V2InferRequest, V2InferResult, V2Tensor } from '../v2/model-registry.ts';
import { fromParameters, toParameters } from './parameters.ts';
import type { InferInputTensor, InferOutputTensor, ModelInferRequest, ModelInferResponse, TensorContents } from './proto.ts';

/** Deeper tensors are not real models (the REST codec has the same cap). */
const MAX_RANK = 32;

/** The typed field each datatype travels in; FP16 has none (raw only). */
const CONTENTS_FIELD: Record<string, keyof TensorContents> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
};

const bad = (message: string) => new HttpError(400, message);

function shapeOf(input: InferInputTensor, where: string): number[] {
  if (input.shape.length > MAX_RANK) throw bad(`${where}: shape has ${input.shape.length} dimensions; at most ${MAX_RANK}`);
  return input.shape.map((d) => {
    const n = Number(d);
    if (!Number.isSafeInteger(n) || n < 0) throw bad(`${where}: shape [${input.shape.join(',')}] must hold non-negative integers`);
    return n;
  });
}

function fromContents(input: InferInputTensor, count: number, where: string): TensorData {
  const dt = input.datatype;
  const field = CONTENTS_FIELD[dt];
  if (field === undefined) throw bad(`${where}: ${dt} has no typed contents field in the protocol; send it in raw_input_contents`);
  const contents = input.contents ?? {};
  for (const [other, values] of Object.entries(contents)) {
    if (other !== field && Array.isArray(values) && values.length > 0) {
      throw bad(`${where}: ${dt} data goes in contents.${field}, got contents.${other}`);
    }
  }
  const values = (contents[field] ?? []) as unknown[];
  if (values.length !== count) {
    throw bad(`${where}: contents.${field} has ${values.length} elements but shape [${input.shape.join(',')}] needs ${count}`);
  }
  if (dt === 'BYTES') return textOrBytes((values as Uint8Array[]).map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)));
  return fromJson(dt, values, where);
}

function fromRaw(input: InferInputTensor, bytes: Buffer, shape: number[], count: number, where: string): TensorData {
  const contents = input.contents;
  if (contents && Object.values(contents).some((v) => Array.isArray(v) && v.length > 0)) {
    throw bad(`${where}: has typed contents, but the request uses raw_input_contents (one or the other for every input)`);
  }
  const per = elementSize(input.datatype);
  if (per !== undefined && bytes.length !== per * count) {
    throw bad(`${where}: raw_input_contents has ${bytes.length} bytes but shape [${shape}] of ${input.datatype} needs ${per * count}`);
  }
  return fromBinary(input.datatype, bytes, count, where);
}

/** A ModelInfer request as the registry takes it; HttpError 400 naming what is wrong. */
export function decodeModelInfer(req: ModelInferRequest): V2InferRequest {
  const raw = req.raw_input_contents;
  if (raw.length > 0 && raw.length !== req.inputs.length) {
    throw bad(`raw_input_contents has ${raw.length} entries but the request has ${req.inputs.length} inputs; send one per input, in input order`);
  }
  const names = new Set<string>();
  const inputs = req.inputs.map((input, i): V2Tensor => {
    if (input.name === '') throw bad(`input ${i}: name is empty`);
    const where = `input '${input.name}'`;
    if (names.has(input.name)) throw bad(`duplicate input name '${input.name}'`);
    names.add(input.name);
    if (!isDatatype(input.datatype)) throw bad(`${where}: unknown datatype '${input.datatype}'; expected one of ${DATATYPES.join(', ')}`);
    const shape = shapeOf(input, where);
    const count = elementCount(shape, where, 400);
    const data = raw.length > 0 ? fromRaw(input, raw[i]!, shape, count, where) : fromContents(input, count, where);
    const tensor: V2Tensor = { name: input.name, datatype: input.datatype, shape, data };
    const parameters = fromParameters(input.parameters, `${where}: parameters`);
    if (parameters !== undefined) tensor.parameters = parameters;
    return tensor;
  });
  const out: V2InferRequest = { inputs };
  if (req.id !== '') out.id = req.id;
  const parameters = fromParameters(req.parameters, 'request parameters');
  if (parameters !== undefined) out.parameters = parameters;
  if (req.outputs.length > 0) {
    const seen = new Set<string>();
    out.outputs = req.outputs.map((o, i) => {
      if (o.name === '') throw bad(`requested output ${i}: name is empty`);
      if (seen.has(o.name)) throw bad(`duplicate requested output name '${o.name}'`);
      seen.add(o.name);
      const p = fromParameters(o.parameters, `output '${o.name}': parameters`);
      return p === undefined ? { name: o.name } : { name: o.name, parameters: p };
    });
  }
  return out;
}

function toContents(datatype: string, data: CheckedOutput['data']): TensorContents {
  const field = CONTENTS_FIELD[datatype]!;
  if (Array.isArray(data)) return { bytes_contents: data.map((v) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v)) };
  // 64-bit integers as decimal text: protobuf's writer takes them exactly that way.
  if (datatype === 'INT64' || datatype === 'UINT64') return { [field]: Array.from(data as BigInt64Array, String) };
  if (datatype === 'BOOL') return { bool_contents: Array.from(data as Uint8Array, (v) => v === 1) };
  return { [field]: Array.from(data as ArrayLike<number>) };
}

/** The ModelInfer response for a registry result; `rawInputs`: the request sent raw inputs. */
export function encodeModelInfer(
  model: string,
  version: string | undefined,
  request: V2InferRequest,
  result: V2InferResult,
  rawInputs: boolean,
): ModelInferResponse {
  const outputs = checkedOutputs(model, result.outputs, request.outputs);
  const raw = rawInputs || outputs.some((o) => o.tensor.datatype === 'FP16');
  const res: ModelInferResponse = { model_name: model, outputs: [] };
  const modelVersion = result.model_version ?? version;
  if (modelVersion !== undefined) res.model_version = modelVersion;
  if (request.id !== undefined) res.id = request.id;
  if (result.parameters !== undefined) res.parameters = toParameters(result.parameters);
  if (raw) res.raw_output_contents = [];
  for (const { tensor, data } of outputs) {
    const out: InferOutputTensor = { name: tensor.name, datatype: tensor.datatype, shape: tensor.shape };
    if (tensor.parameters !== undefined) out.parameters = toParameters(tensor.parameters);
    if (raw) res.raw_output_contents!.push(toBinary(data));
    else out.contents = toContents(tensor.datatype, data);
    res.outputs.push(out);
  }
  return res;
}
