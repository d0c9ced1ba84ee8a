/**
 * Batching and multiplexing, measured: `node --import ./runtime/source-hooks.mjs bench/multiplex/run.ts [options]`
 *
 *   1. Batching on vs off: 64 closed-loop clients against one OnnxModelDeployment, 1 and 2
 *      replicas, over HTTP (V2 infer, load generator in its own process); for the forecast
 *      example's tiny model also over handles from the server's main thread. Models: the tiny
 *      forecast model and wider MLPs with the same interface.
 *   2. Multiplexing: Zipf(1.1) traffic over 10 / 100 / 1000 country models on the repository
 *      deployment (2 replicas x 8 models): hit rate, warm vs cold latency, loads and evictions
 *      per second, RSS; against a single-model deployment under the same load. Twice: with the
 *      example's ~1 KiB models, and with multi-MiB per-country models (so that the model budget
 *      is big enough to see in RSS).
 *   3. The naive alternative: one single-replica deployment per country: startup time, RSS and
 *      throughput under the same Zipf load, next to the multiplexed repository.
 *
 * Every server runs in a child process of its own (RSS = VmRSS of that process, sampled every
 * 100 ms while measured); load generators too. This process only orchestrates and prints.
 * The machine may be shared: compare ratios within one run, and run it twice.
 *
 *   --parts=1,2,3         which parts (default all)
 *   --mlp=1024x2,2048x2   the wider models of part 1 (hidden x layers)
 *   --counts=10,100,1000  countries for part 2
 *   --fat=1024x2          the per-country model of part 2's second run ("none" to skip)
 *   --naive=10,50         countries for part 3 (every replica is a thread: here ~70 MB and
 *                         ~1 CPU-s to start, worse than linear on 2 cores: 50 took ~1 min, 100
 *                         took ~10 min and ~6 GB, so 100 is opt-in)
 *   --clients2=16         closed-loop clients for parts 2 and 3
 *   --rounds2=3           paired rounds of (single-model baseline, 100 countries or else the
 *                         fewest) for the warm-latency ratio, whose target is within this
 *                         machine's noise
 *   --duration=3          measured seconds per case (after --warmup=1 s of the same load)
 *   --profile=DIR         afterwards, re-run the cases that missed a target under --cpu-prof
 *                         into DIR/<case>/ and print where their time went (measured span only)
 *   --json=FILE           also write every measurement as JSON
 *   --glibc-defaults      run the servers without npm start's allocator settings
 *                         (MALLOC_ARENA_MAX=2, MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_
 *                         131072, which every server gets by default)
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { machine } from '../lib/machine.ts';
import { SERVING_ALLOCATOR_ENV } from '../lib/proc.ts';
import { targetsTable } from '../lib/stats.ts';
import type { Target } from '../lib/stats.ts';
import { args, CLIENTS1, forecastModel, log, loadavg, MAX_ONGOING2, mlpLabel, MODELS_ROOT, note, REPLICAS2, TINY_LABEL } from './args.ts';
import { formatCosts, httpCase, lastWindow, modelCosts, resetWindow } from './measure.ts';
import { mlpFile, mlpParams } from './models.ts';
import { formatPart1, part1, part1Models, part1Ratio, part1Targets, singleConfig } from './part1.ts';
import type { Part1 } from './part1.ts';
import { families, part2, repoCase } from './part2.ts';
import type { Part2 } from './part2.ts';
import { formatPart2, part2Targets } from './part2-report.ts';
import { formatPart3, part3 } from './part3.ts';
import type { Part3Row } from './part3.ts';
import { formatProfiles, summarizeDir } from './profile.ts';

async function profileMissed(dir: string, p1: Part1 | undefined, p2: Part2 | undefined): Promise<string> {
  const out: string[] = ['## Profiles of the cases that missed a target (measured span only)', ''];
  const runs: Array<{ name: string; run: (d: string) => Promise<unknown> }> = [];
  if (p1) {
    for (const m of p1.models) {
      for (const replicas of [1, 2]) {
        const ratio = part1Ratio(p1, m.label, 'HTTP', replicas);
        if (!(ratio < 2)) continue;
        for (const batching of [true, false]) {
          const name = `p1-${m.label.replace(/[^A-Za-z0-9]+/g, '_')}-${replicas}r-${batching ? 'batch' : 'nobatch'}`;
          runs.push({ name, run: (d) => httpCase(singleConfig(m.path, replicas, batching), ['M'], CLIENTS1, { profDir: d }) });
        }
      }
    }
  }
  const tiny = p2?.families[0];
  if (p2 && tiny) {
    const missed = tiny.rows.filter((r) => r.warm.p50 / tiny.baseline.latency.p50 > 1.2);
    if (missed.length) {
      const family = families()[0]!;
      const path = await family.single();
      runs.push({
        name: 'p2-baseline',
        run: (d) => httpCase({ kind: 'single', path, numReplicas: REPLICAS2, maxOngoingRequests: MAX_ONGOING2, flag: true }, ['M'], p2.clients, { profDir: d }),
      });
      // The smallest and the largest country count that missed: the warm path alone, and under load churn.
      for (const r of new Set([missed[0]!, missed[missed.length - 1]!])) {
        runs.push({ name: `p2-repo-${r.countries}`, run: (d) => repoCase(family, r.countries, p2.clients, d) });
      }
    }
  }
  for (const r of runs) {
    const d = join(dir, r.name);
    rmSync(d, { recursive: true, force: true });
    note(`profiling ${r.name} into ${d}`);
    resetWindow();
    await r.run(d);
    out.push(`### ${r.name}`, formatProfiles(summarizeDir(d, 10, lastWindow), 10), '');
  }
  if (runs.length === 0) out.push('(nothing to profile)');
  return out.join('\n');
}

// Ctrl-C: exit through process.exit, so lib/proc.ts kills the server still running.
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

const started = performance.now();
log('# threadserve: batching and multiplexing');
log('');
log(machine());
log(`- ${args.durationS} s measured per case after ${args.warmupS} s of warm-up; every server and load generator in its own process`);
log(
  args.allocatorEnv
    ? `- servers run with npm start's allocator settings: ${Object.entries(SERVING_ALLOCATOR_ENV)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`
    : "- servers run with glibc's default allocator settings (--glibc-defaults)",
);
log('');

let p1: Part1 | undefined;
let p2: Part2 | undefined;
let p3: Part3Row[] | undefined;
const targets: Target[] = [];

const models = args.parts.has(1) ? await part1Models() : [];
if (args.parts.has(2) && args.fat && !models.some((m) => m.label === mlpLabel(args.fat!))) {
  models.push({ label: mlpLabel(args.fat), path: await mlpFile(MODELS_ROOT, args.fat), bytes: mlpParams(args.fat) * 4 });
}
if (args.parts.has(2) && !models.some((m) => m.label === TINY_LABEL)) {
  models.unshift({ label: TINY_LABEL, path: await forecastModel(), bytes: 0 });
}
const costs = models.length ? await modelCosts(models) : [];
if (costs.length) {
  log('## Model costs in onnxruntime alone (one session, one thread, no HTTP)');
  log('');
  log(formatCosts(costs, models));
  log('');
}
if (args.parts.has(1)) {
  p1 = await part1(models.filter((m) => m.label === TINY_LABEL || args.mlps.some((s) => mlpLabel(s) === m.label)));
  log(formatPart1(p1));
  log('');
  targets.push(...part1Targets(p1));
}
if (args.parts.has(2)) {
  p2 = await part2();
  log(formatPart2(p2));
  log('');
  targets.push(...part2Targets(p2));
}
if (args.parts.has(3) && args.naive.length) {
  p3 = await part3(p2);
  log(formatPart3(p3));
  log('');
}
log('## Targets');
log('');
log(targetsTable(targets));
log('');
log(`Total ${((performance.now() - started) / 1000).toFixed(0)} s; load average at end ${loadavg()}.`);
if (args.json)
  writeFileSync(args.json, JSON.stringify({ args: { ...args, parts: [...args.parts] }, costs, part1: p1, part2: p2, part3: p3, targets }, null, 2));
if (args.profileDir) log(`\n${await profileMissed(args.profileDir, p1, p2)}`);
