/**
 * `npm run bench:ocr [-- options]`: the OCR example served grouped and separated against the raw
 * limit (the two models back to back on bare threads), on the same images, at the same offered
 * load, printed as markdown.
 *
 *   --duration=S     measured seconds per case and round (default 7), after --warmup=S (default 2)
 *   --rounds=N       interleaved rounds of every case (default 2); each case is reported by its best
 *   --concurrency=C  closed-loop HTTP clients (default 4)
 *   --only=a,b       run these parts only (keys: accuracy, served8 (which needs accuracy), raw1 grouped1
 *                    raw2 grouped2 sepIngress (npm start's shape: pre/post in the ingress) sep1 sep1recx2
 *                    (pre/post on replicas of their own), and, only when named, sep2 (two pre and two post
 *                    replicas) and sep2rec2 (the recogniser with 2 intra-op threads))
 *   --accuracy-rounds=N  rounds of the accuracy part's sequential reads (default 1; the best counts)
 *   --quiet-wait=S   before each case, wait up to S seconds (default 0) for the machine to be idle
 *                    (other processes below 0.2 cores for 3 s in a row), for shared machines
 *   --prof=DIR       write V8 CPU profiles of each measured process (and its threads) under
 *                    DIR/<case>-r<round>/; summarise with bench/lib/profile-summary.ts. Profiling slows the
 *                    measured process: do not quote those numbers.
 *
 * First the accuracy part (bench/ocr/accuracy.ts): the evaluation set (160 JPEGs rendered with
 * real fonts; needs the Debian font packages named in test/fixtures/ocr-eval-set.ts) read by
 * threadserve's pipeline and by @gutenye/ocr-node on the same models, CER and space errors,
 * sequential images/s; then npm start's app serving that set to 8 clients (served8).
 *
 * Flow of the serving cases: render 8 images of known text once (640 px wide, 2-3 lines), read each with the raw
 * pipeline (the reference answers), then run every case in its own process, one after the
 * other: the raw limit (ocr/raw-case.ts), or a server (ocr/server.ts) loaded over loopback HTTP
 * by a load generator in another process (lib/loadgen/ocr.ts). Meanwhile this process samples the
 * measured process's RSS and CPU time from /proc. Every answer is checked against the reference.
 * The machine has 2 cores and may be shared: compare figures within one run, and run twice.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { loadavg, machine } from '../lib/machine.ts';
import { SERVING_ALLOCATOR_ENV } from '../lib/proc.ts';
import { waitQuiet } from '../lib/procfs.ts';
import { fmtNum, fmtRatio } from '../lib/stats.ts';
import { accuracyBench } from './accuracy.ts';
import { CASES } from './cases.ts';
import type { Args } from './cases.ts';
import { runRaw, runServed } from './measure.ts';
import { prepareImages } from './render.ts';
import { accuracy, best, DISTURBED_CORES, detailsTable, resultsTable, targetsReport } from './report.ts';
import type { Rounds } from './report.ts';
import { stepCosts } from './step-costs.ts';

function parseArgs(argv: string[]): Args {
  const args: Args = { durationS: 7, warmupS: 2, concurrency: 4, rounds: 2, quietWaitS: 0, accuracyRounds: 1 };
  for (const a of argv) {
    const [flag, value] = a.split('=', 2) as [string, string | undefined];
    const num = Number(value);
    if (flag === '--duration' && num > 0) args.durationS = num;
    else if (flag === '--warmup' && num >= 0 && value !== '') args.warmupS = num;
    else if (flag === '--quiet-wait' && num >= 0 && value !== '') args.quietWaitS = num;
    else if (flag === '--rounds' && Number.isInteger(num) && num > 0) args.rounds = num;
    else if (flag === '--concurrency' && Number.isInteger(num) && num > 0) args.concurrency = num;
    else if (flag === '--only' && value) args.only = new Set(value.split(','));
    else if (flag === '--prof' && value) args.profDir = value;
    else if (flag === '--accuracy-rounds' && Number.isInteger(num) && num > 0) args.accuracyRounds = num;
    else throw new Error(`bench:ocr: unknown argument ${a}; see the top of bench/ocr/run.ts`);
  }
  if (args.only) {
    for (const k of args.only) if (k !== 'accuracy' && !CASES.some((c) => c.key === k)) throw new Error(`bench:ocr: unknown case ${k}`);
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const dir = mkdtempSync(join(os.tmpdir(), 'threadserve-ocr-bench-'));
  try {
    console.log('## threadserve OCR bench (PP-OCRv4, examples/ocr)\n');
    console.log(machine());
    const runs = (k: string) => !args.only || args.only.has(k);
    let evalManifest: string | undefined;
    let peerSequential = Number.NaN;
    if (runs('accuracy')) {
      process.stderr.write('bench:ocr: accuracy (rendering the evaluation set, then threadserve and the peer read it)\n');
      const acc = await accuracyBench(join(dir, 'eval'), args.accuracyRounds);
      evalManifest = acc.manifestPath;
      peerSequential = acc.peer.imagesPerS;
      console.log(acc.markdown);
      console.log();
      process.stderr.write('bench:ocr: step costs (width batches, direction classifier)\n');
      console.log(await stepCosts(join(dir, 'eval'), args.accuracyRounds + 1));
      console.log();
    }
    const { manifestPath, manifest } = await prepareImages(dir);
    console.log(
      `- ${manifest.images.length} PNG images, 640 px wide, 2-3 lines of 36 px text; closed loop, ${args.concurrency} HTTP clients ` +
        `(raw: one image at a time per thread); ${args.warmupS} s warm-up, ${args.durationS} s measured per case and round${args.quietWaitS > 0 ? ` (each after up to ${args.quietWaitS} s waiting for an idle machine)` : ''}${args.profDir ? `; CPU profiles in ${args.profDir} (numbers slowed by profiling)` : ''}`,
    );
    console.log(
      `- every case runs with npm start's allocator settings: ${Object.entries(SERVING_ALLOCATOR_ENV)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
    );
    console.log(accuracy(manifest));
    console.log();

    // Rounds interleave the cases (raw1, grouped1, raw2, ..., raw1, ...): other work on the
    // machine comes and goes, and each case is reported by its least disturbed round.
    const rounds: Rounds = new Map();
    for (let round = 1; round <= args.rounds; round++) {
      for (const c of CASES) {
        if (args.only ? !args.only.has(c.key) : c.extra) continue;
        if (c.evalSet && !evalManifest) continue;
        if (args.quietWaitS > 0) {
          const waited = await waitQuiet(args.quietWaitS);
          if (waited > 3.5) process.stderr.write(`bench:ocr: waited ${waited.toFixed(0)} s for the machine to be idle\n`);
        }
        process.stderr.write(`bench:ocr: round ${round}/${args.rounds}: ${c.key} (${c.label})\n`);
        const m = c.evalSet ? evalManifest! : manifestPath;
        const r = c.served ? await runServed(c, args, m, round) : await runRaw(c, args, m, round);
        const list = rounds.get(c.key) ?? [];
        list.push(r);
        rounds.set(c.key, list);
      }
    }

    console.log(`Best round of ${args.rounds} per case (most images/s):\n`);
    console.log(resultsTable(rounds, args));
    console.log();
    console.log(
      [
        '- model copies: detector + recogniser pairs held in memory. Model threads: threads running ONNX sessions at once, as',
        '  session threads x intra-op threads (every session here: 1 intra-op thread, 1 inter-op thread, unless noted). JS',
        '  threads: the main thread plus replica (or raw worker) threads; separated: ingress + N pre + N post + det + rec replicas.',
        '- "equal thread count" = equal model threads: grouped N runs N replicas that each run det then rec on their own thread,',
        '  as raw N runs N threads with createRawOcr; the serving machinery (fastify on the main thread, the routers, the thread',
        '  hops, the pre/post threads) comes on top, and is the cost being measured. "vs raw" = images/s over that raw case.',
        '- latency: from the client, send to answer; with 4 clients in a closed loop and fewer model threads, it includes queueing',
        "  (raw: one image's service time). CPU ms/image: the measured process's user+system time (all threads) over the window,",
        '  per image. RSS idle: once every replica is up; RSS peak: largest VmRSS sampled every 100 ms during warm-up and window.',
        `- (!): other processes kept more than ${DISTURBED_CORES} of the 2 cores busy during that round (see "Every round"): its`,
        '  images/s and latencies understate the case; CPU ms/image is less affected.',
      ].join('\n'),
    );
    console.log();
    console.log('Every round:\n');
    console.log(detailsTable(rounds, args));
    console.log();
    console.log(targetsReport(rounds, args));
    const served8 = best(rounds, 'served8');
    if (served8 && Number.isFinite(peerSequential)) {
      const ratio = served8.load.imagesPerS / peerSequential;
      console.log();
      console.log(
        `- served throughput (npm start's app, 8 clients, evaluation set) / @gutenye/ocr-node sequential on the same images: ` +
          `${fmtNum(served8.load.imagesPerS, 2)} / ${fmtNum(peerSequential, 2)} images/s = **${fmtRatio(ratio)}** (target >= 2x: ${ratio >= 2 ? 'met' : 'missed'})`,
      );
    }
    console.log();
    console.log(`- load average at end: ${loadavg()}; bench took ${fmtNum((performance.now() - started) / 1000, 0)} s`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
