/**
 * The raw OCR limit for bench/ocr/run.ts, in a process of its own:
 *   ocr/raw-case.ts <threads> <warmupS> <durationS> <manifest.json>
 * Starts <threads> worker threads; each creates its own createRawOcr (both models, 1 intra-op
 * thread per session) and runs the image set back to back, one image at a time, with no
 * serving in between. Every answer is checked against the manifest. The main thread only
 * starts the workers, opens and closes the measured window (printing MEASURE-START and
 * MEASURE-END, like lib/loadgen/ocr.ts) and prints one JSON line (OcrLoadResult) last.
 */
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { epochMs, loadImages, sameTexts } from './images.ts';
import type { OcrLoadResult } from '../lib/loadgen/ocr.ts';
import { summarize } from '../lib/stats.ts';

interface WorkerInput {
  manifest: string;
  index: number;
  /** This module's URL, for ocr/raw-worker.mjs to import. */
  entry: string;
}
interface Go {
  windowStart: number;
  windowEnd: number;
}
interface WorkerResult {
  latencies: number[];
  answers: number;
  mismatches: number;
  firstProblem?: string;
}

const HOOKS = fileURLToPath(new URL('../../runtime/source-hooks.mjs', import.meta.url));

async function workerMain(): Promise<void> {
  const { manifest, index } = workerData as WorkerInput;
  const { createRawOcr } = await import('../../deployments/ocr/raw.ts');
  const images = loadImages(manifest);
  const ocr = await createRawOcr({ intraOpNumThreads: 1 });
  const go = await new Promise<Go>((resolve) => {
    parentPort!.once('message', resolve);
    parentPort!.postMessage('ready');
  });
  const out: WorkerResult = { latencies: [], answers: 0, mismatches: 0 };
  // Threads start on different images, so they do not run the same one in lockstep.
  for (let k = index * 3; epochMs() < go.windowEnd; k++) {
    const i = k % images.length;
    const t = performance.now();
    const { lines } = await ocr.run(images[i]!.bytes);
    const ms = performance.now() - t;
    const done = epochMs();
    out.answers++;
    const texts = lines.map((l) => l.text);
    if (!sameTexts(texts, images[i]!.expected)) {
      out.mismatches++;
      out.firstProblem ??= `image ${i}: got ${JSON.stringify(texts)}, expected ${JSON.stringify(images[i]!.expected)}`;
    }
    if (done >= go.windowStart && done < go.windowEnd) out.latencies.push(ms);
  }
  await ocr.close();
  parentPort!.postMessage(out);
}

async function main(): Promise<void> {
  const [tArg, wArg, dArg, manifest] = process.argv.slice(2);
  const threads = Number(tArg);
  const warmupS = Number(wArg);
  const durationS = Number(dArg);
  if (!(threads >= 1) || !manifest) throw new Error('usage: ocr/raw-case.ts <threads> <warmupS> <durationS> <manifest.json>');

  // Node 20 workers do not inherit tsx's loader hooks: start a plain .mjs with the same preload
  // the runtime gives replica threads, which then imports this module.
  const workers = Array.from(
    { length: threads },
    (_, index) =>
      new Worker(new URL('./raw-worker.mjs', import.meta.url), {
        // --cpu-prof (bench:ocr --prof) carries over, so each worker writes its own profile.
        execArgv: [...process.execArgv.filter((a) => a.startsWith('--cpu-prof')), '--import', HOOKS],
        workerData: { manifest, index, entry: import.meta.url } satisfies WorkerInput,
      }),
  );
  const results: Promise<WorkerResult>[] = [];
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          w.once('error', reject);
          w.once('message', () => {
            results.push(new Promise((res) => w.once('message', res)));
            resolve();
          });
        }),
    ),
  );

  const now = epochMs();
  const go: Go = { windowStart: now + warmupS * 1000, windowEnd: now + (warmupS + durationS) * 1000 };
  setTimeout(() => process.stdout.write('MEASURE-START\n'), go.windowStart - epochMs());
  setTimeout(() => process.stdout.write('MEASURE-END\n'), go.windowEnd - epochMs());
  for (const w of workers) w.postMessage(go);
  const all = await Promise.all(results);

  const latencies = all.flatMap((r) => r.latencies);
  const result: OcrLoadResult = {
    concurrency: threads,
    durationS,
    images: latencies.length,
    imagesPerS: latencies.length / durationS,
    latencyMs: summarize(latencies),
    answers: all.reduce((s, r) => s + r.answers, 0),
    mismatches: all.reduce((s, r) => s + r.mismatches, 0),
    non2xx: 0,
    errors: 0,
    ...(all.find((r) => r.firstProblem) ? { firstProblem: all.find((r) => r.firstProblem)!.firstProblem! } : {}),
    clientCpuMs: 0,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (isMainThread) await main();
else await workerMain();
