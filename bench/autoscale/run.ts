/**
 * Step load against autoscaling: `npm run bench:autoscale`.
 * Starts `threadserve run bench/autoscale/app.ts` in a process of its own (admin API on a free
 * port), then sends an open-loop load (requests at a fixed rate, whatever the answers do) in
 * three phases, low, high, low, from this process. Every 0.5 s it reads the replica counts from
 * the admin API. Prints replicas per deployment over time (one row per second), and p50/p99 and
 * failures per phase, with the targets: the slow step scales and the fast one does not; p99 is
 * back within 2x its steady high-phase level within upscaleDelayS + 5 s of the step up; no
 * request fails (scale-down included).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { percentile, summarize } from '../lib/stats.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const PHASES = [
  { name: 'low', rps: 20, seconds: 10 },
  { name: 'high', rps: 120, seconds: 30 },
  { name: 'low', rps: 20, seconds: 30 },
];
const UPSCALE_DELAY_S = 3;
/** Room for the slow step's 6 replicas next to the fast one (the default, twice the cores, is 4 on 2 cores). */
const MAX_REPLICA_THREADS = 8;

interface Sample {
  at: number;
  ms: number;
  ok: boolean;
  phase: number;
}

const child = spawn(
  process.execPath,
  [
    'bin/threadserve.js',
    'run',
    'bench/autoscale/app.ts',
    '--port',
    '0',
    '--admin-port',
    '0',
    '--log-level',
    'warn',
    '--log-format',
    'pretty',
    '--max-replica-threads',
    String(MAX_REPLICA_THREADS),
  ],
  {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
let out = '';
child.stdout!.on('data', (d) => (out += d));
while (!/admin API at (\S+)/.test(out)) {
  if (child.exitCode !== null) throw new Error(`server exited:\n${out}`);
  await new Promise((r) => setTimeout(r, 50));
}
const url = /threadserve is serving at (\S+)/.exec(out)![1]!;
const admin = /admin API at (\S+)/.exec(out)![1]!;

const samples: Sample[] = [];
const counts: Array<{ at: number; Slow: number; Fast: number }> = [];
const t0 = performance.now();
const body = JSON.stringify({ values: [1, 2, 3, 4] });
const poll = setInterval(async () => {
  const s = (await (await fetch(`${admin}/api/status`)).json()) as { deployments: Array<{ name: string; running: number }> };
  const of = (n: string) => s.deployments.find((d) => d.name === n)!.running;
  counts.push({ at: (performance.now() - t0) / 1000, Slow: of('Slow'), Fast: of('Fast') });
}, 500);

const inFlight: Promise<void>[] = [];
for (const [i, phase] of PHASES.entries()) {
  // Progress on stderr (the report on stdout comes at the end, after some 70 s).
  process.stderr.write(`bench:autoscale: phase ${i + 1}/${PHASES.length}: ${phase.name}, ${phase.rps} req/s for ${phase.seconds} s\n`);
  const interval = 1000 / phase.rps;
  const start = performance.now();
  for (let n = 0; ; n++) {
    const due = start + n * interval;
    if (due - start >= phase.seconds * 1000) break;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const sent = performance.now();
    inFlight.push(
      fetch(`${url}/step`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(
        async (r) => {
          const ok = r.status === 200 && ((await r.json()) as { sum: number }).sum === 10;
          samples.push({ at: (sent - t0) / 1000, ms: performance.now() - sent, ok, phase: i });
        },
        () => void samples.push({ at: (sent - t0) / 1000, ms: performance.now() - sent, ok: false, phase: i }),
      ),
    );
  }
}
await Promise.all(inFlight);
clearInterval(poll);
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));

// Replicas over time, one row per second.
console.log('\n| t (s) | load (req/s) | Slow replicas | Fast replicas | p99 of requests sent that second (ms) |\n|---|---|---|---|---|');
const ends = PHASES.map((_, i) => PHASES.slice(0, i + 1).reduce((a, q) => a + q.seconds, 0));
const phaseAt = (t: number) => ends.findIndex((end) => end > t);
const total = PHASES.reduce((a, p) => a + p.seconds, 0);
for (let t = 0; t < total; t++) {
  const c = counts.filter((x) => x.at >= t && x.at < t + 1).at(-1) ?? counts.filter((x) => x.at < t + 1).at(-1);
  const second = samples
    .filter((s) => s.at >= t && s.at < t + 1)
    .map((s) => s.ms)
    .sort((a, b) => a - b);
  console.log(`| ${t} | ${PHASES[phaseAt(t)]!.rps} | ${c?.Slow ?? '-'} | ${c?.Fast ?? '-'} | ${second.length ? percentile(second, 99).toFixed(0) : '-'} |`);
}

console.log('\n| phase | load (req/s) | requests | failed | p50 (ms) | p99 (ms) |\n|---|---|---|---|---|---|');
for (const [i, p] of PHASES.entries()) {
  const mine = samples.filter((s) => s.phase === i);
  const sum = summarize(mine.map((s) => s.ms));
  console.log(`| ${i + 1}. ${p.name} | ${p.rps} | ${mine.length} | ${mine.filter((s) => !s.ok).length} | ${sum.p50.toFixed(1)} | ${sum.p99.toFixed(1)} |`);
}

// Targets.
const highStart = PHASES[0]!.seconds;
const highEnd = highStart + PHASES[1]!.seconds;
const steady = summarize(samples.filter((s) => s.at >= highEnd - 10 && s.at < highEnd).map((s) => s.ms)).p99;
let recovered = Number.NaN;
for (let t = highStart; t < highEnd; t++) {
  const ok = (from: number) => {
    for (let u = from; u < highEnd; u++) {
      const w = samples
        .filter((s) => s.at >= u && s.at < u + 1)
        .map((s) => s.ms)
        .sort((a, b) => a - b);
      if (w.length && percentile(w, 99) > 2 * steady) return false;
    }
    return true;
  };
  if (ok(t)) {
    recovered = t - highStart;
    break;
  }
}
const peak = (n: 'Slow' | 'Fast') => Math.max(...counts.map((c) => c[n]));
const failed = samples.filter((s) => !s.ok).length;
console.log(`\nSlow step peak replicas: ${peak('Slow')} (target: > 1) ${peak('Slow') > 1 ? 'met' : 'MISSED'}`);
console.log(`Fast step peak replicas: ${peak('Fast')} (target: 1) ${peak('Fast') === 1 ? 'met' : 'MISSED'}`);
console.log(
  `p99 back within 2x its steady high-phase level (${steady.toFixed(1)} ms) ${recovered} s after the step (target: <= ${UPSCALE_DELAY_S + 5} s) ${recovered <= UPSCALE_DELAY_S + 5 ? 'met' : 'MISSED'}`,
);
console.log(`Slow step back to ${counts.at(-1)?.Slow} replica(s) at the end; failed requests: ${failed} (target: 0) ${failed === 0 ? 'met' : 'MISSED'}`);
