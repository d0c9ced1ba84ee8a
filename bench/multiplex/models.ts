/**
 * Model files for bench/multiplex/run.ts.
 *
 * - buildMlp(): an MLP with the forecast models' interface (input "features" [N, 11], output
 *   "forecast" [N, 1]) but wide hidden layers, so one run does real work. The forecast example's
 *   own models (11 -> 16 -> 1, ~1 KB) cost a few microseconds per row: far less than the HTTP
 *   and thread hops around them, so batching them can only save the per-run overhead.
 * - forecastRepo(): the example's per-country models (generateModels), cached per count.
 * - fatRepo(): n per-country ids that are hard links to one wide MLP file: every id is a model
 *   of its own to the repository (its own session, its own memory), but the disk holds one copy,
 *   so 1000 "countries" of several MB each cost nothing to create.
 */
import { existsSync } from 'node:fs';
import { link, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { countryIds } from '../../examples/forecast/countries.ts';
import { generateModels } from '../../examples/forecast/generate-models.ts';

const { onnx } = onnxProto;

export interface MlpShape {
  /** Width of every hidden layer. */
  hidden: number;
  /** Hidden layers (Gemm + Relu each); at least 1. */
  layers: number;
}

/** Parameters of an 11 -> hidden^layers -> 1 MLP. */
export function mlpParams({ hidden, layers }: MlpShape): number {
  return 11 * hidden + hidden + (layers - 1) * (hidden * hidden + hidden) + hidden + 1;
}

/** Deterministic small weights (an LCG), as float32 little-endian raw data. */
function weights(count: number, seed: number, scale: number): Uint8Array {
  const raw = new Uint8Array(count * 4);
  const view = new DataView(raw.buffer);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    view.setFloat32(i * 4, ((s / 4294967296) * 2 - 1) * scale, true);
  }
  return raw;
}

function init(name: string, dims: number[], seed: number, scale: number) {
  const count = dims.reduce((a, b) => a * b, 1);
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: weights(count, seed, scale) };
}

function valueInfo(name: string, width: number) {
  return {
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: width }] } } },
  };
}

/** Serialized ONNX model: features [N, 11] -> (MatMul, Add, Relu) x layers -> forecast [N, 1]. */
export function buildMlp(shape: MlpShape, version = '1'): Uint8Array {
  const { hidden, layers } = shape;
  if (!Number.isInteger(hidden) || hidden < 1 || !Number.isInteger(layers) || layers < 1) throw new RangeError('bad MLP shape');
  const node: object[] = [];
  const initializer: object[] = [];
  let input = 'features';
  let width = 11;
  for (let l = 0; l < layers; l++) {
    initializer.push(init(`W${l}`, [width, hidden], 11 + l, Math.sqrt(2 / width)), init(`b${l}`, [hidden], 101 + l, 0.01));
    node.push(
      { name: `mm${l}`, opType: 'MatMul', input: [input, `W${l}`], output: [`mm${l}`] },
      { name: `add${l}`, opType: 'Add', input: [`mm${l}`, `b${l}`], output: [`pre${l}`] },
      { name: `relu${l}`, opType: 'Relu', input: [`pre${l}`], output: [`h${l}`] },
    );
    input = `h${l}`;
    width = hidden;
  }
  initializer.push(init('Wout', [width, 1], 7, Math.sqrt(1 / width)), init('bout', [1], 8, 0.01));
  node.push(
    { name: 'mmout', opType: 'MatMul', input: [input, 'Wout'], output: ['mmout'] },
    { name: 'addout', opType: 'Add', input: ['mmout', 'bout'], output: ['forecast'] },
  );
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'threadserve-bench-multiplex',
    metadataProps: [{ key: 'version', value: version }],
    graph: { name: `mlp_${hidden}x${layers}`, node, initializer, input: [valueInfo('features', 11)], output: [valueInfo('forecast', 1)] },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Writes buildMlp(shape) to `file` unless it is there already; returns the path. */
export async function mlpFile(dir: string, shape: MlpShape): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, `mlp-${shape.hidden}x${shape.layers}.onnx`);
  if (!existsSync(file)) await writeFile(file, buildMlp(shape));
  return file;
}

/** Directory with the forecast example's first `count` country models (generated once). */
export async function forecastRepo(root: string, count: number): Promise<string> {
  const dir = join(root, `forecast-${count}`);
  if (!existsSync(join(dir, 'manifest.json'))) await generateModels(dir, count);
  return dir;
}

/** Directory with `count` ids, each a hard link to the same wide MLP file (see the header). */
export async function fatRepo(root: string, count: number, shape: MlpShape): Promise<string> {
  const source = await mlpFile(root, shape);
  const dir = join(root, `fat-${shape.hidden}x${shape.layers}-${count}`);
  const ids = countryIds(count);
  if (existsSync(dir) && (await readdir(dir)).length === count) return dir;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const id of ids) await link(source, join(dir, `${id}.onnx`));
  return dir;
}
