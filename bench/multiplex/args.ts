/**
 * bench:multiplex's options (see the top of multiplex/run.ts), parsed once when first imported,
 * the constants every part shares, and the report's small formatters.
 */
import os from 'node:os';
import { join } from 'node:path';
import { loadavg as machineLoad } from '../lib/machine.ts';
import { fmtNum } from '../lib/stats.ts';
import { forecastRepo } from './models.ts';
import type { MlpShape } from './models.ts';

export interface Args {
  parts: Set<number>;
  mlps: MlpShape[];
  counts: number[];
  fat: MlpShape | undefined;
  naive: number[];
  clients2: number;
  rounds2: number;
  durationS: number;
  warmupS: number;
  profileDir?: string;
  json?: string;
  /** Servers run with npm start's glibc settings (SERVING_ALLOCATOR_ENV); --glibc-defaults: without. */
  allocatorEnv: boolean;
}

function shape(text: string): MlpShape {
  const m = /^(\d+)x(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`a model shape is HIDDENxLAYERS (e.g. 2048x2), got ${JSON.stringify(text)}`);
  return { hidden: Number(m[1]), layers: Number(m[2]) };
}

function parseArgs(argv: string[]): Args {
  const list = (v: string) =>
    v
      .split(',')
      .map((x) => Number(x.trim()))
      .filter((x) => Number.isInteger(x) && x > 0);
  const a: Args = {
    parts: new Set([1, 2, 3]),
    mlps: [shape('1024x2'), shape('2048x2')],
    counts: [10, 100, 1000],
    fat: shape('1024x2'),
    naive: [10, 50],
    clients2: 16,
    rounds2: 3,
    durationS: 3,
    warmupS: 1,
    allocatorEnv: true,
  };
  for (const arg of argv) {
    const [flag, value = ''] = arg.split('=', 2) as [string, string | undefined];
    if (flag === '--parts') a.parts = new Set(list(value));
    else if (flag === '--mlp') a.mlps = value === '' ? [] : value.split(',').map(shape);
    else if (flag === '--counts') a.counts = list(value);
    else if (flag === '--fat') a.fat = value === 'none' ? undefined : shape(value);
    else if (flag === '--naive') a.naive = list(value);
    else if (flag === '--clients2' && Number(value) > 0) a.clients2 = Number(value);
    else if (flag === '--rounds2' && Number.isInteger(Number(value)) && Number(value) > 0) a.rounds2 = Number(value);
    else if (flag === '--duration' && Number(value) > 0) a.durationS = Number(value);
    else if (flag === '--warmup' && Number(value) >= 0) a.warmupS = Number(value);
    else if (flag === '--profile' && value) a.profileDir = value;
    else if (flag === '--json' && value) a.json = value;
    else if (flag === '--glibc-defaults' && value === '') a.allocatorEnv = false;
    else throw new Error(`bench/multiplex/run.ts: unknown argument ${arg}; see the top of the file`);
  }
  return a;
}

export const args = parseArgs(process.argv.slice(2));
export const MODELS_ROOT = join(os.tmpdir(), 'threadserve-multiplex-bench');
export const BATCHING = { maxBatchSize: 32, batchWaitTimeoutS: 0.002 };
export const CLIENTS1 = 64;
export const ZIPF_S = 1.1;
export const REPLICAS2 = 2;
export const MAX_MODELS = 8;
export const SLOTS = REPLICAS2 * MAX_MODELS;
export const MAX_ONGOING2 = 16;
export const TINY_LABEL = 'forecast AD (11-16-1)';

export const log = (s = '') => process.stdout.write(`${s}\n`);
export const note = (s: string) => process.stderr.write(`[multiplex] ${s}\n`);
export const loadavg = machineLoad;
export const ms = (x: number) => fmtNum(x, 2);
export const mb = (x: number) => fmtNum(x, 0);
export const mlpLabel = (s: MlpShape) => `MLP ${s.hidden}x${s.layers}`;
export const mib = (bytes: number) => `${fmtNum(bytes / 2 ** 20, 1)} MiB`;

/** The forecast example's AD model: the tiny model of every part. */
export async function forecastModel(): Promise<string> {
  return join(await forecastRepo(MODELS_ROOT, 100), 'AD.onnx');
}
