/**
 * Writes one forecast model per country, <ID>.onnx, plus manifest.json (id, version, file,
 * sha256, bytes), into a directory.
 *
 *   node --import ./runtime/source-hooks.mjs examples/forecast/generate-models.ts [--out dir] [--count n]
 *        [--version v] [--seed s] [--weeks w] [--hidden h]
 *
 * Defaults: --out examples/forecast/models (next to this file), --count 100, version "1",
 * seed 1, 8 weeks, 16 hidden units. The same options give byte-identical files. Existing
 * files for the same ids are overwritten; other files in the directory are left alone, so the
 * manifest (written last) is the list to trust.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { countryIds } from './countries.ts';
import {
  BATCH_DIM,
  DEFAULT_HIDDEN,
  DEFAULT_SEED,
  DEFAULT_VERSION,
  DEFAULT_WEEKS,
  INPUT_NAME,
  IR_VERSION,
  OPSET_VERSION,
  OUTPUT_NAME,
  buildForecastModel,
  featureCount,
  featureLayout,
} from './model-builder.ts';

export const DEFAULT_OUT_DIR = fileURLToPath(new URL('./models', import.meta.url));
export const DEFAULT_COUNT = 100;

export interface GenerateOptions {
  version?: string | number;
  seed?: number;
  weeks?: number;
  hidden?: number;
}

export interface ManifestEntry {
  id: string;
  version: string;
  /** File name inside the manifest's directory. */
  file: string;
  sha256: string;
  bytes: number;
}

export interface ForecastManifest {
  irVersion: number;
  opset: number;
  weeks: number;
  hidden: number;
  seed: number;
  input: { name: string; type: 'float32'; shape: [string, number]; layout: string };
  output: { name: string; type: 'float32'; shape: [string, number] };
  models: ManifestEntry[];
}

/** Builds `count` models (ids from countryIds) into `dir` (created if missing); returns the manifest. */
export async function generateModels(dir: string, count: number = DEFAULT_COUNT, options: GenerateOptions = {}): Promise<ForecastManifest> {
  const { version = DEFAULT_VERSION, seed = DEFAULT_SEED, weeks = DEFAULT_WEEKS, hidden = DEFAULT_HIDDEN } = options;
  const ids = countryIds(count);
  await mkdir(dir, { recursive: true });
  const models: ManifestEntry[] = [];
  for (const id of ids) {
    const bytes = buildForecastModel({ country: id, version, seed, weeks, hidden });
    const file = `${id}.onnx`;
    await writeFile(join(dir, file), bytes);
    models.push({ id, version: String(version), file, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length });
  }
  const manifest: ForecastManifest = {
    irVersion: IR_VERSION,
    opset: OPSET_VERSION,
    weeks,
    hidden,
    seed,
    input: { name: INPUT_NAME, type: 'float32', shape: [BATCH_DIM, featureCount(weeks)], layout: featureLayout(weeks) },
    output: { name: OUTPUT_NAME, type: 'float32', shape: [BATCH_DIM, 1] },
    models,
  };
  await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

function intArg(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new Error(`--${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

async function main(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      count: { type: 'string' },
      version: { type: 'string' },
      seed: { type: 'string' },
      weeks: { type: 'string' },
      hidden: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('usage: generate-models.ts [--out dir] [--count n] [--version v] [--seed s] [--weeks w] [--hidden h]');
    return;
  }
  const dir = values.out === undefined ? DEFAULT_OUT_DIR : resolve(values.out);
  const count = intArg('count', values.count) ?? DEFAULT_COUNT;
  const started = performance.now();
  const manifest = await generateModels(dir, count, {
    version: values.version,
    seed: intArg('seed', values.seed),
    weeks: intArg('weeks', values.weeks),
    hidden: intArg('hidden', values.hidden),
  });
  const ms = performance.now() - started;
  const total = manifest.models.reduce((sum, m) => sum + m.bytes, 0);
  console.log(`wrote ${manifest.models.length} models (${total} bytes) and manifest.json to ${dir} in ${ms.toFixed(0)} ms`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
