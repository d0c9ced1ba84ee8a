/**
 * Soak and fault battery (loopback only, bounded in time):
 *   npm run bench:soak [-- --minutes 5]        (3 to 10)
 * Steady load over the OCR, forecast and classify examples while faults run on a schedule
 * (a replica crash, a slow-client flood, 60 MB bodies, malformed bodies and decompression
 * bombs), then SIGTERM under load. Prints requests, outcomes by kind, p99 and RSS per minute
 * and the RSS slope; exits 1 on any lost request (no answer, a reset, a wrong answer or an
 * undocumented error), on RSS growth past the bound, or on a server exit other than 0.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateModels } from '../../examples/forecast/generate-models.ts';
import { renderText } from '../../test/fixtures/render-text.ts';
import { crash, malformed, oversized, slowFlood } from './faults.ts';
import type { Outcome } from './faults.ts';

// Without --minutes, indexOf is -1 and argv[0] (node's path) is no number: default to 5 then,
// since Math.max/min with NaN would give NaN and end the run before its first request.
const minutesAt = process.argv.indexOf('--minutes');
const minutes = Math.max(3, Math.min(10, (minutesAt >= 0 && Number(process.argv[minutesAt + 1])) || 5));
/** Peak RSS after the warm-up may exceed the warm-up's peak by at most this much. */
const RSS_GROWTH_BOUND_MB = 150;
const WARMUP_MINUTES = 2;
const root = fileURLToPath(new URL('../..', import.meta.url));

const dir = await mkdtemp(join(tmpdir(), 'threadserve-soak-'));
const ids = (await generateModels(dir, 20)).models.map((m) => m.id);

const server = spawn(process.execPath, ['--import', './runtime/source-hooks.mjs', 'bench/soak/server.ts', dir], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
});
const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
const url = await new Promise<string>((resolve, reject) => {
  let out = '';
  server.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    const m = /SOAK_URL (\S+)/.exec(out);
    if (m) resolve(m[1]!);
  });
  void exited.then((code) => reject(new Error(`server exited (${code}) before serving`)));
});
const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

const start = performance.now();
const minuteOf = () => Math.floor((performance.now() - start) / 60_000);
const perMinute: Array<{ kinds: Map<string, number>; steadyMs: number[]; rss: number }> = [];
const bucket = (m: number) => (perMinute[m] ??= { kinds: new Map(), steadyMs: [], rss: 0 });
const record = (o: Outcome) => {
  const b = bucket(minuteOf());
  b.kinds.set(o.kind, (b.kinds.get(o.kind) ?? 0) + 1);
  if (o.steady && o.kind.startsWith('ok:')) b.steadyMs.push(o.ms);
};
let sigtermAt = Infinity;

const ocrImage = await renderText(['soak test 42']);
const pixels = Array.from({ length: 784 }, (_, i) => i % 256);
type Check = (status: number, body: unknown) => boolean;
const steadyRoutes: Array<{ path: string; body: () => string | Uint8Array; type: string; check: Check; loops: number }> = [
  {
    path: '/forecast',
    type: 'application/json',
    loops: 4,
    body: () => JSON.stringify({ country: ids[Math.floor(Math.random() * ids.length)], history: [120, 130, 125, 140, 150, 145, 160, 155] }),
    check: (s, b) => s === 200 && typeof (b as { forecast?: unknown }).forecast === 'number',
  },
  {
    path: '/classify',
    type: 'application/json',
    loops: 2,
    body: () => JSON.stringify({ pixels }),
    check: (s, b) => s === 200 && Number.isInteger((b as { label?: unknown }).label),
  },
  {
    path: '/ocr',
    type: 'image/png',
    loops: 1,
    body: () => ocrImage,
    check: (s, b) => s === 200 && (b as { lines?: Array<{ text: string }> }).lines?.[0]?.text === 'soak test 42',
  },
  { path: '/crash', type: 'application/json', loops: 1, body: () => '{}', check: (s, b) => s === 200 && (b as { ok?: boolean }).ok === true },
];
/** Documented answers to steady traffic while faults run: the crasher's replacement, budget waits, shutdown. */
const DOCUMENTED = new Set(['REPLICA_DIED', 'BACKPRESSURE', 'OVER_MEMORY_BUDGET', 'UNAVAILABLE']);

async function steadyLoop(route: (typeof steadyRoutes)[number], until: () => boolean): Promise<void> {
  while (!until()) {
    const sentBeforeSigterm = performance.now() < sigtermAt;
    const t = performance.now();
    let kind: string;
    try {
      const r = await fetch(`${url}${route.path}`, { method: 'POST', body: route.body(), headers: { 'content-type': route.type } });
      const body = (await r.json()) as { error?: { code?: string } };
      const code = body.error?.code;
      kind = route.check(r.status, body)
        ? 'ok:200'
        : code && DOCUMENTED.has(code)
          ? `ok:${code}`
          : `lost:${route.path} ${r.status} ${JSON.stringify(body).slice(0, 80)}`;
    } catch (err) {
      // After SIGTERM, a refused connection is the documented answer; before it, nothing is.
      const why = String((err as Error).cause ?? (err as Error).message);
      kind = sentBeforeSigterm ? `lost:${route.path} ${why}` : 'ok:refused after SIGTERM';
      if (!sentBeforeSigterm) return;
    }
    record({ kind, ms: performance.now() - t, steady: true });
  }
}

const end = start + minutes * 60_000;
let stopLoad = false;
const loops = steadyRoutes.flatMap((r) => Array.from({ length: r.loops }, () => steadyLoop(r, () => stopLoad)));
const sampler = setInterval(() => (bucket(minuteOf()).rss = Math.max(bucket(minuteOf()).rss, rssMb())), 2000);
const faults = [
  ['replica crash', () => crash(url, record)],
  ['slow-client flood (200)', () => slowFlood(url, 200, record)],
  ['60 MB bodies (5)', () => oversized(url, 5, record)],
  ['malformed bodies and bombs', () => malformed(url, record)],
] as const;
for (let i = 0; performance.now() < end - 20_000; i++) {
  const [name, run] = faults[i % faults.length]!;
  process.stderr.write(`[${((performance.now() - start) / 1000).toFixed(0)} s] fault: ${name}\n`);
  await run();
  await new Promise((r) => setTimeout(r, 10_000));
}
while (performance.now() < end) await new Promise((r) => setTimeout(r, 500));

// SIGTERM under load: requests in flight must be answered, the server must exit 0.
sigtermAt = performance.now();
server.kill('SIGTERM');
const code = await exited;
stopLoad = true;
await Promise.all(loops);
clearInterval(sampler);
await rm(dir, { recursive: true, force: true });

const p99 = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]! : NaN);
const totals = new Map<string, number>();
console.log(`\n| minute | requests | p99 ms (steady) | RSS MB | outcomes |\n|--:|--:|--:|--:|---|`);
perMinute.forEach((b, m) => {
  if (!b) return;
  const n = [...b.kinds.values()].reduce((a, c) => a + c, 0);
  for (const [k, c] of b.kinds) totals.set(k, (totals.get(k) ?? 0) + c);
  const kinds = [...b.kinds]
    .sort((a, c) => c[1] - a[1])
    .map(([k, c]) => `${k} ${c}`)
    .join(', ');
  console.log(`| ${m + 1} | ${n} | ${p99(b.steadyMs).toFixed(0)} | ${b.rss.toFixed(0)} | ${kinds} |`);
});
// RSS after warm-up: the first full cycle of faults (bombs included) grows the allocator's
// arenas once; a leak is growth past that, so the bound is on the full minutes after it.
const full = perMinute.slice(0, minutes).map((b) => b?.rss ?? 0);
const warm = Math.max(...full.slice(0, WARMUP_MINUTES));
const rss = full.slice(WARMUP_MINUTES - 1);
const xs = rss.map((_, i) => i);
const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
const slope = rss.length > 1 ? xs.reduce((s, x, i) => s + (x - mean(xs)) * (rss[i]! - mean(rss)), 0) / xs.reduce((s, x) => s + (x - mean(xs)) ** 2, 0) : 0;
const growth = Math.max(...rss) - warm;
const lost = [...totals].filter(([k]) => k.startsWith('lost:'));
console.log(
  `\ntotal ${[...totals.values()].reduce((a, c) => a + c, 0)} requests; ${[...totals]
    .sort()
    .map(([k, c]) => `${k} ${c}`)
    .join(', ')}`,
);
console.log(
  `RSS after warm-up (${WARMUP_MINUTES} min, peak ${warm.toFixed(0)} MB): slope ${slope.toFixed(1)} MB/min, growth ${growth.toFixed(0)} MB (bound ${RSS_GROWTH_BOUND_MB}); server exit code ${code}`,
);
const failures = [
  ...lost.map(([k, c]) => `${c} lost: ${k.slice(5)}`),
  ...(growth > RSS_GROWTH_BOUND_MB ? [`RSS grew ${growth.toFixed(0)} MB`] : []),
  ...(code !== 0 ? [`server exited ${code}`] : []),
];
if (failures.length) {
  console.log(`FAIL\n${failures.join('\n')}`);
  process.exit(1);
}
console.log('PASS');
