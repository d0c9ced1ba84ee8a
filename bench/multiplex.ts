/**
 * Batching and multiplexing, measured: `node --import ./runtime/source-hooks.mjs bench/multiplex.ts [options]`
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
 */
import { rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { countryIds } from '../examples/forecast/countries.ts';
import type { LoadResult, LoadSpec } from './multiplex-loadgen.ts';
import { zipfTopShare } from './multiplex-loadgen.ts';
import { fatRepo, forecastRepo, mlpFile, mlpParams } from './multiplex-models.ts';
import type { MlpShape } from './multiplex-models.ts';
import type { OrtCost } from './multiplex-ortcost.ts';
import { formatProfiles, summarizeDir } from './multiplex-profile.ts';
import type { Window } from './multiplex-profile.ts';
import { readMetrics, readRss, sampleRss, startServerChild } from './multiplex-proc.ts';
import type { HandleResult, ServerConfig } from './multiplex-server.ts';
import { simulate } from './multiplex-sim.ts';
import type { SimResult } from './multiplex-sim.ts';
import { cpuSeconds, runJson } from './proc.ts';
import { fmtInt, fmtNum, fmtPct, fmtRatio, mdTable, targetsTable } from './stats.ts';
import type { LatencySummary, Target } from './stats.ts';

// ---------------------------------------------------------------- arguments

interface Args {
  parts: Set<number>;
  mlps: MlpShape[];
  counts: number[];
  fat: MlpShape | undefined;
  naive: number[];
  clients2: number;
  rounds2: number;
  durationS: number;
  warmupS: number;
  profileDir?: string;
  json?: string;
}

function shape(text: string): MlpShape {
  const m = /^(\d+)x(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`a model shape is HIDDENxLAYERS (e.g. 2048x2), got ${JSON.stringify(text)}`);
  return { hidden: Number(m[1]), layers: Number(m[2]) };
}

function parseArgs(argv: string[]): Args {
  const list = (v: string) => v.split(',').map((x) => Number(x.trim())).filter((x) => Number.isInteger(x) && x > 0);
  const a: Args = {
    parts: new Set([1, 2, 3]),
    mlps: [shape('1024x2'), shape('2048x2')],
    counts: [10, 100, 1000],
    fat: shape('1024x2'),
    naive: [10, 50],
    clients2: 16,
    rounds2: 3,
    durationS: 3,
    warmupS: 1,
  };
  for (const arg of argv) {
    const [flag, value = ''] = arg.split('=', 2) as [string, string | undefined];
    if (flag === '--parts') a.parts = new Set(list(value));
    else if (flag === '--mlp') a.mlps = value === '' ? [] : value.split(',').map(shape);
    else if (flag === '--counts') a.counts = list(value);
    else if (flag === '--fat') a.fat = value === 'none' ? undefined : shape(value);
    else if (flag === '--naive') a.naive = list(value);
    else if (flag === '--clients2' && Number(value) > 0) a.clients2 = Number(value);
    else if (flag === '--rounds2' && Number.isInteger(Number(value)) && Number(value) > 0) a.rounds2 = Number(value);
    else if (flag === '--duration' && Number(value) > 0) a.durationS = Number(value);
    else if (flag === '--warmup' && Number(value) >= 0) a.warmupS = Number(value);
    else if (flag === '--profile' && value) a.profileDir = value;
    else if (flag === '--json' && value) a.json = value;
    else throw new Error(`bench/multiplex.ts: unknown argument ${arg}; see the top of the file`);
  }
  return a;
}

const args = parseArgs(process.argv.slice(2));
const MODELS_ROOT = join(os.tmpdir(), 'threadserve-multiplex-bench');
const BATCHING = { maxBatchSize: 32, batchWaitTimeoutS: 0.002 };
const CLIENTS1 = 64;
const ZIPF_S = 1.1;
const REPLICAS2 = 2;
const MAX_MODELS = 8;
const SLOTS = REPLICAS2 * MAX_MODELS;
const MAX_ONGOING2 = 16;
const TINY_LABEL = 'forecast AD (11-16-1)';

const log = (s = '') => process.stdout.write(`${s}\n`);
const note = (s: string) => process.stderr.write(`[multiplex] ${s}\n`);
const loadavg = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');
const ms = (x: number) => fmtNum(x, 2);
const mb = (x: number) => fmtNum(x, 0);
const mlpLabel = (s: MlpShape) => `MLP ${s.hidden}x${s.layers}`;
const mib = (bytes: number) => `${fmtNum(bytes / 2 ** 20, 1)} MiB`;

// ---------------------------------------------------------------- measuring

interface HttpCase<X = undefined> {
  load: LoadResult;
  /** Server process CPU (all threads) per measured request, µs. */
  cpuUsPerReq: number;
  metrics: { before: Map<string, number>; after: Map<string, number> };
  rss: { idleMb: number; peakMb: number; endMb: number; hwmMb: number };
  startupMs: number;
  serveRunMs: number;
  extra: X;
}

/** The measured span of the last httpCase, for cutting CPU profiles down to it. */
let lastWindow: Window | undefined;

function loadSpec(url: string, ids: string[], clients: number, durationS: number, flag: boolean): LoadSpec {
  return { url, concurrency: clients, warmupS: 0, durationS, ids, zipfS: ZIPF_S, flag, seed: 7 };
}

/**
 * Start a server, warm it up (a load-generator run of its own, so counters and CPU cover the
 * measured run only), measure one closed-loop run, let `after` look at the server, stop it.
 */
async function httpCase<X = undefined>(
  config: ServerConfig,
  ids: string[],
  clients: number,
  opts: { flag?: boolean; profDir?: string; after?: (url: string) => Promise<X> } = {},
): Promise<HttpCase<X>> {
  // One replica thread per country starts in about a CPU-second each here; allow for a busy machine.
  const timeoutS = config.kind === 'naive' ? 120 + 6 * config.count : 180;
  const server = await startServerChild(config, opts.profDir, timeoutS);
  try {
    const url = server.ready.url!;
    const idleMb = readRss(server.pid).rssMb;
    if (args.warmupS > 0) await runJson<LoadResult>('multiplex-loadgen.ts', [JSON.stringify(loadSpec(url, ids, clients, args.warmupS, false))]);
    const before = await readMetrics(url);
    const cpu0 = cpuSeconds(server.pid);
    const sampler = sampleRss(server.pid);
    const load = await runJson<LoadResult>('multiplex-loadgen.ts', [JSON.stringify(loadSpec(url, ids, clients, args.durationS, opts.flag ?? false))]);
    lastWindow = load.window;
    const rss = sampler.stop();
    const cpu1 = cpuSeconds(server.pid);
    const after = await readMetrics(url);
    const extra = (opts.after ? await opts.after(url) : undefined) as X;
    if (load.errors || load.non2xx) note(`${config.kind}: ${load.errors} errors, ${load.non2xx} non-2xx: ${load.firstError ?? ''}`);
    return {
      load,
      cpuUsPerReq: ((cpu1 - cpu0) * 1e6) / Math.max(1, load.requests),
      metrics: { before, after },
      rss: { idleMb, peakMb: rss.maxMb, endMb: rss.lastMb, hwmMb: readRss(server.pid).hwmMb },
      startupMs: server.startupMs,
      serveRunMs: server.ready.serveRunMs,
      extra,
    };
  } finally {
    await server.stop();
  }
}

async function handleCase(config: ServerConfig & { kind: 'single' }, profDir?: string): Promise<HandleResult> {
  const server = await startServerChild({ ...config, handleLoad: { concurrency: CLIENTS1, warmupS: args.warmupS, durationS: args.durationS } }, profDir);
  const code = await server.exited;
  const line = server.lines.find((l) => l.startsWith('RESULT '));
  if (code !== 0 || !line) throw new Error(`handle case exited with ${code} and no result`);
  const result = JSON.parse(line.slice(7)) as HandleResult;
  lastWindow = result.window;
  return result;
}

/** Sum of a counter over label sets that contain every `label="value"` given. */
function counter(m: Map<string, number>, name: string, ...labels: string[]): number {
  let sum = 0;
  for (const [k, v] of m) if (k.startsWith(`${name}{`) && labels.every((l) => k.includes(l))) sum += v;
  return sum;
}
function counterDelta(c: HttpCase<unknown>, name: string, ...labels: string[]): number {
  return counter(c.metrics.after, name, ...labels) - counter(c.metrics.before, name, ...labels);
}

// ---------------------------------------------------------------- model costs

interface ModelInfo {
  label: string;
  path: string;
  /** Weight bytes (0: the tiny model, ~1 KiB). */
  bytes: number;
}

async function modelCosts(models: ModelInfo[]): Promise<OrtCost[]> {
  note(`onnxruntime costs of ${models.length} models (load ${loadavg()})`);
  return runJson<OrtCost[]>('multiplex-ortcost.ts', [JSON.stringify({ models: models.map(({ label, path }) => ({ label, path })), batches: [1, 32] })]);
}

function formatCosts(costs: OrtCost[], models: ModelInfo[]): string {
  const labels = [...new Set(costs.map((c) => c.label))];
  return mdTable(
    ['model', 'weights', 'µs/row at batch 1', 'µs/row at batch 32', 'row cost ratio', 'load ms (create + 1 run + release)'],
    labels.map((label) => {
      const b1 = costs.find((c) => c.label === label && c.batch === 1)!;
      const b32 = costs.find((c) => c.label === label && c.batch === 32)!;
      const bytes = models.find((m) => m.label === label)?.bytes ?? 0;
      return [label, bytes ? mib(bytes) : '~1 KiB', fmtNum(b1.usPerRow, 1), fmtNum(b32.usPerRow, 1), fmtRatio(b1.usPerRow / b32.usPerRow), fmtNum(b1.loadMs, 2)];
    }),
  );
}

// ---------------------------------------------------------------- part 1

interface Part1Row {
  model: string;
  via: 'HTTP' | 'handle';
  replicas: number;
  batching: boolean;
  rps: number;
  latency: LatencySummary;
  cpuUsPerReq: number;
  meanBatch: number;
  errors: number;
}

interface Part1 {
  models: ModelInfo[];
  rows: Part1Row[];
}

async function part1Models(): Promise<ModelInfo[]> {
  const tinyRepo = await forecastRepo(MODELS_ROOT, 100);
  const models: ModelInfo[] = [{ label: TINY_LABEL, path: join(tinyRepo, 'AD.onnx'), bytes: 0 }];
  for (const s of args.mlps) models.push({ label: mlpLabel(s), path: await mlpFile(MODELS_ROOT, s), bytes: mlpParams(s) * 4 });
  return models;
}

function singleConfig(path: string, replicas: number, batching: boolean): ServerConfig & { kind: 'single' } {
  // Room for a whole batch (and for every client) in each replica, batching or not.
  return { kind: 'single', path, numReplicas: replicas, maxOngoingRequests: CLIENTS1, ...(batching ? { batching: BATCHING } : {}) };
}

async function part1(models: ModelInfo[]): Promise<Part1> {
  const rows: Part1Row[] = [];
  for (const m of models) {
    for (const replicas of [1, 2]) {
      // Handles only for the tiny model: there the HTTP layer, not the model, sets the pace.
      for (const via of m.label === TINY_LABEL ? (['HTTP', 'handle'] as const) : (['HTTP'] as const)) {
        for (const batching of [false, true]) {
          const config = singleConfig(m.path, replicas, batching);
          note(`part 1: ${m.label}, ${replicas} replica(s), ${via}, batching ${batching ? 'on' : 'off'} (load ${loadavg()})`);
          if (via === 'HTTP') {
            const c = await httpCase(config, ['M'], CLIENTS1);
            const count = counterDelta(c, 'threadserve_batch_size_count', 'deployment="M"');
            const sum = counterDelta(c, 'threadserve_batch_size_sum', 'deployment="M"');
            rows.push({ model: m.label, via, replicas, batching, rps: c.load.rps, latency: c.load.latencyMs, cpuUsPerReq: c.cpuUsPerReq, meanBatch: count ? sum / count : Number.NaN, errors: c.load.errors + c.load.non2xx });
          } else {
            const r = await handleCase(config);
            rows.push({ model: m.label, via, replicas, batching, rps: r.rps, latency: r.latencyMs, cpuUsPerReq: r.cpuUsPerReq, meanBatch: Number.NaN, errors: r.errors });
          }
        }
      }
    }
  }
  return { models, rows };
}

function part1Ratio(p: Part1, model: string, via: string, replicas: number): number {
  const pick = (batching: boolean) => p.rows.find((r) => r.model === model && r.via === via && r.replicas === replicas && r.batching === batching);
  const off = pick(false);
  const on = pick(true);
  return on && off ? on.rps / off.rps : Number.NaN;
}

function formatPart1(p: Part1): string {
  const out: string[] = [];
  out.push(`## 1. Batching on vs off (${CLIENTS1} closed-loop clients, one OnnxModelDeployment)`, '');
  out.push(
    `Batching: maxBatchSize ${BATCHING.maxBatchSize}, batchWaitTimeoutS ${BATCHING.batchWaitTimeoutS}; maxOngoingRequests ${CLIENTS1} per replica ` +
      '(so a replica can hold a whole batch), intraOpNumThreads 1, on and off alike. HTTP: V2 infer `/v2/models/M/infer` with JSON bodies, ' +
      `load generator in its own process; handle: ${CLIENTS1} loops calling \`predict\` from the server's main thread. ` +
      '"server CPU/req": CPU of the server process, all threads, per answered request (for HTTP without the load generator; ' +
      'for handles the callers are in it).',
    '',
  );
  out.push(
    mdTable(
      ['model', 'via', 'replicas', 'batching', 'req/s', 'p50 ms', 'p99 ms', 'server CPU/req µs', 'mean batch', 'on/off req/s'],
      p.rows.map((r) => [
        r.model,
        r.via,
        String(r.replicas),
        r.batching ? 'on' : 'off',
        fmtInt(r.rps),
        ms(r.latency.p50),
        ms(r.latency.p99),
        fmtInt(r.cpuUsPerReq),
        r.batching ? fmtNum(r.meanBatch, 1) : '',
        r.batching ? fmtRatio(part1Ratio(p, r.model, r.via, r.replicas)) : '',
      ]),
    ),
  );
  return out.join('\n');
}

function part1Targets(p: Part1): Target[] {
  const targets: Target[] = [];
  for (const model of [...new Set(p.rows.map((r) => r.model))]) {
    for (const via of ['HTTP', 'handle']) {
      for (const replicas of [1, 2]) {
        if (!p.rows.some((r) => r.model === model && r.via === via && r.replicas === replicas)) continue;
        const info = model === TINY_LABEL ? ' (info: tiny model)' : '';
        targets.push({ name: `batching on/off req/s, ${model}, ${via}, ${replicas} replica(s)${info}`, value: part1Ratio(p, model, via, replicas), target: 2, kind: 'min', format: fmtRatio });
      }
    }
  }
  return targets;
}

// ---------------------------------------------------------------- part 2

/** A family of per-country models: the example's tiny ones, or hard-linked wide MLPs. */
interface Family {
  label: string;
  /** Directory of `count` models. */
  repo(count: number): Promise<string>;
  /** One model of the family, for the single-model baseline. */
  single(): Promise<string>;
  bytes: number;
}

function families(): Family[] {
  const out: Family[] = [
    {
      label: 'forecast models (~1 KiB)',
      repo: (n) => forecastRepo(MODELS_ROOT, n),
      single: async () => join(await forecastRepo(MODELS_ROOT, 100), 'AD.onnx'),
      bytes: 0,
    },
  ];
  const fat = args.fat;
  if (fat) {
    out.push({
      label: `${mlpLabel(fat)} per country (${mib(mlpParams(fat) * 4)})`,
      repo: (n) => fatRepo(MODELS_ROOT, n, fat),
      single: () => mlpFile(MODELS_ROOT, fat),
      bytes: mlpParams(fat) * 4,
    });
  }
  return out;
}

interface RepoRow {
  countries: number;
  rps: number;
  latency: LatencySummary;
  warm: LatencySummary;
  cold: LatencySummary;
  /** Cache hits / (hits + misses), from the replicas' counters (joining a load is a hit). */
  cacheHitRate: number;
  /** Answers whose model was loaded when the call reached the replica. */
  warmShare: number;
  loadsPerS: number;
  /** Misses served without caching (lost frequency admission to their would-be victim). */
  rejectedPerS: number;
  evictionsPerS: number;
  meanLoadMs: number;
  /** Distinct models loaded over both replicas right after the run (of SLOTS). */
  distinctLoaded: number;
  idleMb: number;
  peakMb: number;
  endMb: number;
  hwmMb: number;
  startupMs: number;
  serveRunMs: number;
  cpuUsPerReq: number;
  errors: number;
}

interface Baseline {
  rps: number;
  latency: LatencySummary;
  idleMb: number;
  peakMb: number;
  endMb: number;
  hwmMb: number;
  cpuUsPerReq: number;
}

interface FamilyResult {
  family: string;
  bytes: number;
  baseline: Baseline;
  /**
   * Forecast family only: baseline and 100 countries (else the smallest count) again,
   * alternately, so the warm-vs-single-model ratio of that pair is a median of paired rounds
   * (round 1 = the rows).
   */
  pairs: Array<{ baseline: Baseline; repo: RepoRow }>;
  calibration: { before: number; after: number; models: number; perModelMb: number };
  rows: RepoRow[];
}

interface Part2 {
  clients: number;
  families: FamilyResult[];
  sim: Array<{ countries: number; results: SimResult[] }>;
}

function repoConfig(repository: string, maxNumModelsPerReplica = MAX_MODELS): ServerConfig {
  return { kind: 'repo', repository, numReplicas: REPLICAS2, maxOngoingRequests: MAX_ONGOING2, maxNumModelsPerReplica };
}

const V2_ROW = JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 11], data: [1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0] }] });

/** Distinct models loaded in any replica: READY rows of the V2 repository index. */
async function distinctLoaded(url: string): Promise<number> {
  const r = await fetch(`${url}/v2/repository/index`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  const index = (await r.json()) as Array<{ name: string; state: string }>;
  return index.filter((m) => m.state === 'READY').length;
}

async function repoCase(family: Family, countries: number, clients: number, profDir?: string): Promise<RepoRow> {
  const repository = await family.repo(countries);
  const c = await httpCase(repoConfig(repository), countryIds(countries), clients, { flag: true, profDir, after: distinctLoaded });
  const d = (event: string) => counterDelta(c, 'threadserve_multiplexed_model_events_total', 'deployment="CountryModels"', `event="${event}"`);
  const hits = d('hit');
  const misses = d('miss');
  const loadCount = counterDelta(c, 'threadserve_model_load_duration_seconds_count', 'deployment="CountryModels"');
  const loadSum = counterDelta(c, 'threadserve_model_load_duration_seconds_sum', 'deployment="CountryModels"');
  const dur = c.load.durationS;
  return {
    countries,
    rps: c.load.rps,
    latency: c.load.latencyMs,
    warm: c.load.warmMs!,
    cold: c.load.coldMs!,
    cacheHitRate: hits / (hits + misses),
    warmShare: c.load.warmMs!.n / Math.max(1, c.load.requests),
    loadsPerS: d('load') / dur,
    rejectedPerS: d('rejected') / dur,
    evictionsPerS: d('eviction') / dur,
    meanLoadMs: loadCount ? (loadSum / loadCount) * 1000 : Number.NaN,
    distinctLoaded: c.extra,
    idleMb: c.rss.idleMb,
    peakMb: c.rss.peakMb,
    endMb: c.rss.endMb,
    hwmMb: c.rss.hwmMb,
    startupMs: c.startupMs,
    serveRunMs: c.serveRunMs,
    cpuUsPerReq: c.cpuUsPerReq,
    errors: c.load.errors + c.load.non2xx,
  };
}

/** RSS one loaded (and once run) model adds: `models` distinct ones loaded with no eviction. */
async function calibrate(family: Family, models: number): Promise<FamilyResult['calibration']> {
  const repository = await family.repo(Math.max(models, 100));
  const server = await startServerChild(repoConfig(repository, models));
  try {
    const url = server.ready.url!;
    const call = async (id: string) => {
      const r = await fetch(`${url}/v2/models/${id}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: V2_ROW });
      if (!r.ok) throw new Error(`calibration: ${id}: HTTP ${r.status} ${await r.text()}`);
      await r.arrayBuffer();
    };
    const ids = countryIds(models);
    // One model in each replica first, so onnxruntime's, fastify's and V2's first-use costs are out of the figure.
    for (let i = 0; i < 6; i++) await call(ids[0]!);
    await new Promise((r) => setTimeout(r, 300));
    const before = readRss(server.pid).rssMb;
    for (const id of ids.slice(1)) await call(id);
    for (const id of ids.slice(1)) await call(id);
    await new Promise((r) => setTimeout(r, 300));
    const after = readRss(server.pid).rssMb;
    // Up to 2 of the models may be the first one's second copy; (models - 1) is the conservative count.
    return { before, after, models: models - 1, perModelMb: Math.max(0, (after - before) / (models - 1)) };
  } finally {
    await server.stop();
  }
}

async function part2(): Promise<Part2> {
  const clients = args.clients2;
  const out: FamilyResult[] = [];
  for (const family of families()) {
    note(`part 2: ${family.label}: memory calibration (load ${loadavg()})`);
    const calibration = await calibrate(family, family.bytes ? 24 : 100);
    const path = await family.single();
    const baseline = async (): Promise<Baseline> => {
      note(`part 2: ${family.label}: single-model baseline (load ${loadavg()})`);
      const b = await httpCase({ kind: 'single', path, numReplicas: REPLICAS2, maxOngoingRequests: MAX_ONGOING2, flag: true }, ['M'], clients);
      return { rps: b.load.rps, latency: b.load.latencyMs, idleMb: b.rss.idleMb, peakMb: b.rss.peakMb, endMb: b.rss.endMb, hwmMb: b.rss.hwmMb, cpuUsPerReq: b.cpuUsPerReq };
    };
    const repo = (countries: number) => {
      note(`part 2: ${family.label}: repository, ${countries} countries (load ${loadavg()})`);
      return repoCase(family, countries, clients);
    };
    const b = await baseline();
    const rows: RepoRow[] = [];
    for (const countries of args.counts) rows.push(await repo(countries));
    const pairs: FamilyResult['pairs'] = [];
    if (!family.bytes && rows.length) {
      // The targets are set at 100 countries: pair that row when it was measured.
      const paired = rows.find((r) => r.countries === 100) ?? rows[0]!;
      pairs.push({ baseline: b, repo: paired });
      for (let r = 1; r < args.rounds2; r++) pairs.push({ baseline: await baseline(), repo: await repo(paired.countries) });
    }
    out.push({ family: family.label, bytes: family.bytes, baseline: b, pairs, calibration, rows });
  }
  const sim = args.counts.map((countries) => ({ countries, results: simulate(countries, ZIPF_S, REPLICAS2, MAX_MODELS) }));
  return { clients, families: out, sim };
}

/** Peak RSS the multiplexed server may reach: the single-model server under the same load, plus the other cache slots' models. */
function modelBudgetMb(f: FamilyResult): number {
  return f.baseline.peakMb + (SLOTS - REPLICAS2) * f.calibration.perModelMb;
}

function formatPart2(p: Part2): string {
  const out: string[] = [];
  out.push(`## 2. Multiplexing: Zipf(${ZIPF_S}) over N country models, ${REPLICAS2} replicas x ${MAX_MODELS} models`, '');
  out.push(
    `${p.clients} closed-loop clients, V2 infer \`/v2/models/<country>/infer\` over HTTP, no batching, maxOngoingRequests ${MAX_ONGOING2}, intraOpNumThreads 1. ` +
      'Warm/cold: whether the model was loaded in the replica when the call arrived (the bench repository adds a `cache_hit` output; ' +
      'a call that joins a load in progress is cold). Cache hit rate: hits/(hits+misses) of the replicas\' caches (joining a load counts as a hit there). ' +
      `Distinct loaded: models loaded in either replica right after the run (of ${SLOTS} slots; fewer means the same model sits in both). ` +
      `Baseline: an OnnxModelDeployment serving one model of the family, ${REPLICAS2} replicas, same clients, answering the same extra \`cache_hit\` output.`,
  );
  for (const f of p.families) {
    out.push('', `### ${f.family}`, '');
    out.push(
      mdTable(
        ['countries', `top-${SLOTS} share`, 'req/s', 'cache hit rate', 'warm share', 'distinct loaded', 'warm p50', 'warm p99', 'cold p50', 'cold p99', 'all p99', 'loads/s', 'served uncached/s', 'evictions/s', 'mean load ms'],
        [
          ['baseline (1 model)', '', fmtInt(f.baseline.rps), '', '', '', ms(f.baseline.latency.p50), ms(f.baseline.latency.p99), '', '', ms(f.baseline.latency.p99), '', '', '', ''],
          ...f.rows.map((r) => [
            String(r.countries),
            fmtPct(zipfTopShare(r.countries, ZIPF_S, SLOTS)),
            fmtInt(r.rps),
            fmtPct(r.cacheHitRate),
            fmtPct(r.warmShare),
            String(r.distinctLoaded),
            ms(r.warm.p50),
            ms(r.warm.p99),
            ms(r.cold.p50),
            ms(r.cold.p99),
            ms(r.latency.p99),
            fmtInt(r.loadsPerS),
            fmtInt(r.rejectedPerS),
            fmtInt(r.evictionsPerS),
            fmtNum(r.meanLoadMs, 2),
          ]),
        ],
      ),
      '',
    );
    const c = f.calibration;
    out.push(
      `Memory: one more loaded model adds ${c.perModelMb >= 1 ? `${fmtNum(c.perModelMb, 1)} MiB` : `${fmtNum(c.perModelMb * 1024, 0)} KiB`} of RSS ` +
        `(${c.models} more models loaded into a cache with room for all: ${mb(c.before)} -> ${mb(c.after)} MiB). ` +
        `Model budget = the baseline's peak RSS + ${SLOTS - REPLICAS2} more cache slots = ${mb(modelBudgetMb(f))} MiB.`,
      '',
    );
    out.push(
      mdTable(
        ['countries', 'idle RSS MiB', 'peak RSS MiB (sampled)', 'RSS at end MiB', 'VmHWM MiB', 'budget MiB', 'peak / budget', 'server CPU/req µs'],
        [
          ['baseline (1 model)', mb(f.baseline.idleMb), mb(f.baseline.peakMb), mb(f.baseline.endMb), mb(f.baseline.hwmMb), '', '', fmtInt(f.baseline.cpuUsPerReq)],
          ...f.rows.map((r) => [String(r.countries), mb(r.idleMb), mb(r.peakMb), mb(r.endMb), mb(r.hwmMb), mb(modelBudgetMb(f)), fmtRatio(r.peakMb / modelBudgetMb(f)), fmtInt(r.cpuUsPerReq)]),
        ],
      ),
    );
    if (f.pairs.length > 1) {
      out.push(
        '',
        `Paired rounds, baseline then ${f.pairs[0]!.repo.countries} countries, alternately (the machine is shared: one pair alone can be off by more than 10%):`,
        '',
        mdTable(
          ['round', 'baseline req/s', 'baseline p50', `${f.pairs[0]!.repo.countries} countries req/s`, 'warm p50', 'warm p50 / baseline p50', 'CPU/req baseline µs', 'CPU/req multiplexed µs'],
          f.pairs.map((pr, i) => [
            String(i + 1),
            fmtInt(pr.baseline.rps),
            ms(pr.baseline.latency.p50),
            fmtInt(pr.repo.rps),
            ms(pr.repo.warm.p50),
            fmtRatio(pr.repo.warm.p50 / pr.baseline.latency.p50),
            fmtInt(pr.baseline.cpuUsPerReq),
            fmtInt(pr.repo.cpuUsPerReq),
          ]),
        ),
      );
    }
  }
  out.push('', `### Hit rate ceilings: the same Zipf(${ZIPF_S}) stream replayed against cache policies (simulation, ${REPLICAS2} x ${MAX_MODELS} slots)`, '');
  const policies = p.sim[0]?.results.map((r) => r.policy) ?? [];
  const measured = (n: number) => p.families[0]?.rows.find((r) => r.countries === n);
  out.push(
    mdTable(
      ['countries', ...policies, 'measured (forecast models)'],
      p.sim.map((s) => [String(s.countries), ...s.results.map((r) => fmtPct(r.hitRate)), fmtPct(measured(s.countries)?.cacheHitRate ?? Number.NaN)]),
    ),
    '',
    'lru-random: any replica, LRU; lru-affinity: each model always on one replica, LRU; lru-shared: one LRU over all slots; ' +
      'lfu-admit: affinity, and a model is cached only if requested more often than the model it would evict; static-top: the most popular models pinned.',
  );
  return out.join('\n');
}

function part2Targets(p: Part2): Target[] {
  const targets: Target[] = [];
  for (const f of p.families) {
    const tag = f.bytes ? `${mib(f.bytes)} models` : 'forecast models';
    const budget = modelBudgetMb(f);
    for (const r of f.rows) targets.push({ name: `peak RSS / model budget, ${r.countries} countries, ${tag}`, value: r.peakMb / budget, target: 1, kind: 'max', format: fmtRatio });
    if (f.rows.length >= 2) {
      const first = f.rows[0]!;
      const last = f.rows[f.rows.length - 1]!;
      targets.push({ name: `peak RSS ${last.countries} / ${first.countries} countries (flat), ${tag}`, value: last.peakMb / first.peakMb, target: 1.1, kind: 'max', format: fmtRatio });
    }
  }
  const tiny = p.families[0];
  if (tiny) {
    for (const r of tiny.rows) {
      const paired = tiny.pairs.length > 1 && tiny.pairs[0]!.repo === r;
      const value = paired ? median(tiny.pairs.map((pr) => pr.repo.warm.p50 / pr.baseline.latency.p50)) : r.warm.p50 / tiny.baseline.latency.p50;
      const name = `warm p50 / single-model p50, ${r.countries} countries${paired ? ` (median of ${tiny.pairs.length} paired rounds)` : ''}`;
      targets.push({ name, value, target: 1.2, kind: 'max', format: fmtRatio });
    }
    for (const r of tiny.rows) {
      if (r.countries !== 100) continue;
      targets.push({ name: `cache hit rate, ${r.countries} countries, ${SLOTS} slots`, value: r.cacheHitRate, target: 0.65, kind: 'min', format: fmtPct });
    }
    for (const r of tiny.rows) {
      targets.push({ name: `warm p99 / single-model p99, ${r.countries} countries (info)`, value: r.warm.p99 / tiny.baseline.latency.p99, target: 1.1, kind: 'max', format: fmtRatio });
    }
  }
  return targets;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : Number.NaN;
}

// ---------------------------------------------------------------- part 3

interface Part3Row {
  setup: 'naive' | 'multiplexed';
  countries: number;
  replicas: number;
  startupMs: number;
  serveRunMs: number;
  idleMb: number;
  peakMb: number;
  rps: number;
  latency: LatencySummary;
  errors: number;
}

async function part3(p2: Part2 | undefined): Promise<Part3Row[]> {
  const rows: Part3Row[] = [];
  const clients = args.clients2;
  const tiny = families()[0]!;
  for (const countries of args.naive) {
    const repository = await forecastRepo(MODELS_ROOT, countries);
    note(`part 3: naive, ${countries} deployments (load ${loadavg()})`);
    const c = await httpCase({ kind: 'naive', repository, count: countries, maxOngoingRequests: MAX_ONGOING2 }, countryIds(countries), clients);
    rows.push({ setup: 'naive', countries, replicas: countries, startupMs: c.startupMs, serveRunMs: c.serveRunMs, idleMb: c.rss.idleMb, peakMb: c.rss.peakMb, rps: c.load.rps, latency: c.load.latencyMs, errors: c.load.errors + c.load.non2xx });
    let m = p2?.families[0]?.rows.find((r) => r.countries === countries);
    if (!m) {
      note(`part 3: multiplexed, ${countries} countries (load ${loadavg()})`);
      m = await repoCase(tiny, countries, clients);
    }
    rows.push({ setup: 'multiplexed', countries, replicas: REPLICAS2, startupMs: m.startupMs, serveRunMs: m.serveRunMs, idleMb: m.idleMb, peakMb: m.peakMb, rps: m.rps, latency: m.latency, errors: m.errors });
  }
  return rows;
}

function formatPart3(rows: Part3Row[]): string {
  const out: string[] = [];
  out.push('## 3. One deployment per country (naive) vs the multiplexed repository', '');
  out.push(
    'Naive: one OnnxModelDeployment (1 replica, its forecast model loaded at start) per country, V2 `/v2/models/<country>/infer`. ' +
      `Multiplexed: the repository, ${REPLICAS2} replicas x ${MAX_MODELS} models. Same Zipf(${ZIPF_S}) load, ${args.clients2} clients. ` +
      'Startup: spawn to ready (process start, imports, serve.run); serve.run: every replica started and initialised.',
    '',
  );
  out.push(
    mdTable(
      ['setup', 'countries', 'threads (replicas)', 'startup s', 'serve.run s', 'idle RSS MiB', 'peak RSS MiB', 'req/s', 'p50 ms', 'p99 ms', 'RSS naive/mux', 'startup naive/mux', 'req/s naive/mux'],
      rows.map((r) => {
        const other = rows.find((o) => o.countries === r.countries && o.setup === 'multiplexed');
        const naive = r.setup === 'naive' && other;
        return [
          r.setup,
          String(r.countries),
          String(r.replicas),
          fmtNum(r.startupMs / 1000, 1),
          fmtNum(r.serveRunMs / 1000, 1),
          mb(r.idleMb),
          mb(r.peakMb),
          fmtInt(r.rps),
          ms(r.latency.p50),
          ms(r.latency.p99),
          naive ? fmtRatio(r.peakMb / other.peakMb) : '',
          naive ? fmtRatio(r.startupMs / other.startupMs) : '',
          naive ? fmtRatio(r.rps / other.rps) : '',
        ];
      }),
    ),
  );
  return out.join('\n');
}

// ---------------------------------------------------------------- profiling

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
      runs.push({ name: 'p2-baseline', run: (d) => httpCase({ kind: 'single', path, numReplicas: REPLICAS2, maxOngoingRequests: MAX_ONGOING2, flag: true }, ['M'], p2.clients, { profDir: d }) });
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
    lastWindow = undefined;
    await r.run(d);
    out.push(`### ${r.name}`, formatProfiles(summarizeDir(d, 10, lastWindow), 10), '');
  }
  if (runs.length === 0) out.push('(nothing to profile)');
  return out.join('\n');
}

// ---------------------------------------------------------------- main

// Ctrl-C: exit through process.exit, so multiplex-proc.ts kills the server still running.
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

const started = performance.now();
log('# threadserve: batching and multiplexing');
log('');
log(`- ${os.cpus()[0]?.model.trim()}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}; load average at start ${loadavg()}`);
log(`- ${args.durationS} s measured per case after ${args.warmupS} s of warm-up; every server and load generator in its own process`);
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
  models.unshift({ label: TINY_LABEL, path: join(await forecastRepo(MODELS_ROOT, 100), 'AD.onnx'), bytes: 0 });
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
if (args.json) writeFileSync(args.json, JSON.stringify({ args: { ...args, parts: [...args.parts] }, costs, part1: p1, part2: p2, part3: p3, targets }, null, 2));
if (args.profileDir) log(`\n${await profileMissed(args.profileDir, p1, p2)}`);
