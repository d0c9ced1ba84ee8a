/**
 * Trains the example's character model on corpus.ts and writes it as ONNX.
 *
 *   node --import ./runtime/source-hooks.mjs examples/stream/train.ts [--out file]
 *
 * Default: examples/stream/model/charlm.onnx, the file the example serves (committed; the
 * suite checks that training gives it back byte for byte).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildModel, train } from './charlm.ts';
import { CORPUS } from './corpus.ts';

export const MODEL_PATH = fileURLToPath(new URL('./model/charlm.onnx', import.meta.url));

/** The model's bytes, trained from the corpus. */
export function trainedModel(): Uint8Array {
  return buildModel(train(CORPUS));
}

export async function writeModel(file = MODEL_PATH): Promise<string> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, trainedModel());
  return file;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const file = await writeModel(values.out ? resolve(values.out) : MODEL_PATH);
  console.log(`wrote ${file}`);
}
