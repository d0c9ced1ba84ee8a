/**
 * One reader of the evaluation set, in its own process (the peer brings its own sharp and
 * libvips, which must not share a process with ours):
 *
 *   ocr/accuracy-case.ts threadserve|peer <dir with truth.json> [rounds]
 *
 * Reads every image one after the other (sequential: one image in flight), `rounds` times,
 * and prints one JSON line: each image's boxes from the first round, and the images/s of the
 * best round. threadserve runs its raw pipeline (createRawOcr, the code /ocr serves) with its
 * default options; the peer (@gutenye/ocr-node, same PP-OCRv4 models) with its defaults.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EvalSet } from '../../test/fixtures/ocr-eval-set.ts';
import type { ScoredBox } from '../../test/fixtures/ocr-score.ts';

export interface AccuracyCaseResult {
  reader: string;
  /** file -> boxes read from it. */
  answers: Record<string, ScoredBox[]>;
  imagesPerS: number;
  /** Milliseconds per image, first round. */
  ms: Record<string, number>;
}

type Reader = (bytes: Buffer) => Promise<ScoredBox[]>;

async function threadserveReader(): Promise<{ read: Reader; close: () => Promise<void> }> {
  const { createRawOcr } = await import('../../deployments/ocr/raw.ts');
  const ocr = await createRawOcr();
  return { read: async (bytes) => (await ocr.run(new Uint8Array(bytes))).lines, close: () => ocr.close() };
}

interface PeerLine {
  text: string;
  box?: [number, number][];
}

async function peerReader(): Promise<{ read: Reader; close: () => Promise<void> }> {
  const { default: Ocr } = await import('@gutenye/ocr-node');
  const ocr = await Ocr.create();
  return {
    // The peer's detect() takes a path, and hands it to sharp(), which also takes image bytes.
    read: async (bytes) =>
      ((await ocr.detect(bytes as unknown as string)) as PeerLine[]).filter((l) => l.box !== undefined).map((l) => ({ text: l.text, box: l.box! })),
    close: async () => {},
  };
}

const [which, dir, roundsArg] = process.argv.slice(2);
if ((which !== 'threadserve' && which !== 'peer') || !dir) {
  console.error('usage: ocr/accuracy-case.ts threadserve|peer <dir> [rounds]');
  process.exit(2);
}
const set = JSON.parse(readFileSync(join(dir, 'truth.json'), 'utf8')) as EvalSet;
const images = set.images.map((s) => ({ file: s.file, bytes: readFileSync(join(dir, s.file)) }));
const reader = which === 'peer' ? await peerReader() : await threadserveReader();
const result: AccuracyCaseResult = { reader: which, answers: {}, imagesPerS: 0, ms: {} };
await reader.read(images[0]!.bytes); // warm-up: first runs allocate the sessions' buffers
for (let round = 0; round < Number(roundsArg ?? 1); round++) {
  const t0 = performance.now();
  for (const img of images) {
    const t = performance.now();
    const boxes = await reader.read(img.bytes);
    if (round === 0) {
      result.answers[img.file] = boxes.map((b) => ({ text: b.text, box: b.box.map((p) => [p[0], p[1]] as [number, number]) }));
      result.ms[img.file] = performance.now() - t;
    }
  }
  result.imagesPerS = Math.max(result.imagesPerS, images.length / ((performance.now() - t0) / 1000));
}
await reader.close();
console.log(JSON.stringify(result));
