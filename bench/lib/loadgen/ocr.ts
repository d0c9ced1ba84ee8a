/**
 * bench/ocr/run.ts's HTTP load generator, in a process of its own (never the server's):
 *   lib/loadgen/ocr.ts <url> <concurrency> <warmupS> <durationS> <manifest.json>
 * A closed loop: `concurrency` clients, each POSTing the next image of the set (raw body,
 * image/png or image/jpeg) as soon as its previous answer arrived, over keep-alive connections. Every answer,
 * warm-up included, is checked against the raw pipeline's lines for that image. Answers that
 * complete inside the measured window count for images/s and latency.
 *
 * Prints `MEASURE-START` and `MEASURE-END` when the window opens and closes (the orchestrator
 * reads the server's CPU time then), and one JSON line (OcrLoadResult) last.
 */
import { loadImages, sameTexts, textsOf } from '../../ocr/images.ts';
import { summarize } from '../stats.ts';
import type { LatencySummary } from '../stats.ts';

export interface OcrLoadResult {
  concurrency: number;
  durationS: number;
  /** Answers completed inside the measured window. */
  images: number;
  imagesPerS: number;
  latencyMs: LatencySummary;
  /** Every 200 answer, warm-up included, and how many of them differ from the raw pipeline's text. */
  answers: number;
  mismatches: number;
  non2xx: number;
  errors: number;
  /** The first mismatch, error or non-2xx answer, for the report. */
  firstProblem?: string;
  /** CPU the load generator itself used during the window (it shares the machine's cores). */
  clientCpuMs: number;
}

async function main(): Promise<void> {
  const [url, cArg, wArg, dArg, manifest] = process.argv.slice(2);
  if (!url || !manifest) throw new Error('usage: lib/loadgen/ocr.ts <url> <concurrency> <warmupS> <durationS> <manifest.json>');
  const concurrency = Number(cArg);
  const warmupS = Number(wArg);
  const durationS = Number(dArg);
  const images = loadImages(manifest);

  const t0 = performance.now();
  const windowStart = t0 + warmupS * 1000;
  const windowEnd = windowStart + durationS * 1000;
  let next = 0;
  let answers = 0;
  let mismatches = 0;
  let non2xx = 0;
  let errors = 0;
  let firstProblem: string | undefined;
  const latencies: number[] = [];

  let cpuAtStart: NodeJS.CpuUsage | undefined;
  let cpuInWindow: NodeJS.CpuUsage | undefined;
  const startTimer = setTimeout(() => {
    cpuAtStart = process.cpuUsage();
    process.stdout.write('MEASURE-START\n');
  }, windowStart - performance.now());
  const endTimer = setTimeout(() => {
    cpuInWindow = process.cpuUsage(cpuAtStart);
    process.stdout.write('MEASURE-END\n');
  }, windowEnd - performance.now());

  async function client(): Promise<void> {
    while (performance.now() < windowEnd) {
      const i = next++ % images.length;
      const img = images[i]!;
      const sent = performance.now();
      try {
        const res = await fetch(url!, { method: 'POST', headers: { 'content-type': img.type }, body: img.bytes });
        const text = await res.text();
        const done = performance.now();
        if (res.status !== 200) {
          non2xx++;
          firstProblem ??= `image ${i}: HTTP ${res.status} ${text.slice(0, 200)}`;
          continue;
        }
        answers++;
        const got = textsOf(JSON.parse(text));
        if (!sameTexts(got, img.expected)) {
          mismatches++;
          firstProblem ??= `image ${i}: got ${JSON.stringify(got)}, raw pipeline gave ${JSON.stringify(img.expected)}`;
        }
        if (done >= windowStart && done < windowEnd) latencies.push(done - sent);
      } catch (err) {
        errors++;
        firstProblem ??= `image ${i}: ${(err as Error).message}`;
        // A refused connection would otherwise spin.
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  await Promise.all(Array.from({ length: concurrency }, client));
  clearTimeout(startTimer);
  clearTimeout(endTimer);
  cpuInWindow ??= process.cpuUsage(cpuAtStart);
  const result: OcrLoadResult = {
    concurrency,
    durationS,
    images: latencies.length,
    imagesPerS: latencies.length / durationS,
    latencyMs: summarize(latencies),
    answers,
    mismatches,
    non2xx,
    errors,
    ...(firstProblem ? { firstProblem } : {}),
    clientCpuMs: (cpuInWindow.user + cpuInWindow.system) / 1000,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
