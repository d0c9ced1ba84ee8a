/**
 * The raw OCR limit: detection + recognition back to back on one thread, no serving.
 *   node --import ./runtime/source-hooks.mjs bench/ocr/raw.ts [iterations] [intraOpThreads]
 * Renders a typical 640x200 three-line image, warms up, then times sequential runs and
 * prints images/s and per-step medians (ms) as JSON. Runs are sequential, so images/s is
 * 1000 / mean ms; on the shared 2-core VM compare figures from one run, not across runs.
 */
import sharp from 'sharp';
import { createRawOcr, type StepTimings } from '../../deployments/ocr/raw.ts';

const iterations = Number(process.argv[2] ?? 60);
const threads = Number(process.argv[3] ?? 1);
const WARMUP = 10;
// One libvips worker: the decode step then uses one thread like the models.
sharp.concurrency(threads);

const lines = ['Invoice #2024-07', 'Total due: 1,250.00 EUR', 'Thank you'];
const texts = lines.map((l, i) => `<text x="20" y="${36 * 1.2 + i * 36 * 1.6}" font-family="DejaVu Sans" font-size="36" fill="#000">${l}</text>`).join('');
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="200"><rect width="100%" height="100%" fill="#fff"/>${texts}</svg>`;
const png = new Uint8Array(await sharp(Buffer.from(svg)).png().toBuffer());

const ocr = await createRawOcr({ intraOpNumThreads: threads });
for (let i = 0; i < WARMUP; i++) await ocr.run(png);

const steps: (keyof StepTimings)[] = ['pre', 'detect', 'post', 'recognise', 'ctc'];
const samples: Record<string, number[]> = Object.fromEntries([...steps, 'total'].map((k) => [k, []]));
let text = '';
const start = performance.now();
for (let i = 0; i < iterations; i++) {
  const t0 = performance.now();
  const r = await ocr.runTimed(png);
  samples.total!.push(performance.now() - t0);
  for (const k of steps) samples[k]!.push(r.timings[k]);
  text = r.lines.map((l) => l.text).join(' | ');
}
const wall = performance.now() - start;
await ocr.close();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const round = (v: number) => Math.round(v * 10) / 10;
console.log(
  JSON.stringify(
    {
      image: '640x200 PNG, 3 lines',
      intraOpNumThreads: threads,
      iterations,
      text,
      imagesPerSecond: round((iterations * 1000) / wall),
      msPerImage: { mean: round(mean(samples.total!)), median: round(median(samples.total!)) },
      medianMsPerStep: Object.fromEntries(steps.map((k) => [k, round(median(samples[k]!))])),
      meanMsPerStep: Object.fromEntries(steps.map((k) => [k, round(mean(samples[k]!))])),
    },
    null,
    2,
  ),
);
