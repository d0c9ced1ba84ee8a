/**
 * bench:multiplex part 2, measured: Zipf traffic over N per-country models on the repository
 * deployment against a single-model deployment, and how much RSS one more loaded model adds.
 * The report is multiplex/part2-report.ts.
 */
import { countryIds } from '../../examples/forecast/countries.ts';
import { procStatus } from '../lib/procfs.ts';
import type { LatencySummary } from '../lib/stats.ts';
import { args, forecastModel, loadavg, MAX_MODELS, MAX_ONGOING2, mib, mlpLabel, MODELS_ROOT, note, REPLICAS2, SLOTS, ZIPF_S } from './args.ts';
import { counterDelta, httpCase, startServerChild } from './measure.ts';
import { fatRepo, forecastRepo, mlpFile, mlpParams } from './models.ts';
import type { ServerConfig } from './server.ts';
import { simulate } from './sim.ts';
import type { SimResult } from './sim.ts';

export interface Family {
  label: string;
  /** Directory of `count` models. */
  repo(count: number): Promise<string>;
  /** One model of the family, for the single-model baseline. */
  single(): Promise<string>;
  bytes: number;
}

export function families(): Family[] {
  const out: Family[] = [
    {
      label: 'forecast models (~1 KiB)',
      repo: (n) => forecastRepo(MODELS_ROOT, n),
      single: forecastModel,
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

export interface RepoRow {
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

export interface Baseline {
  rps: number;
  latency: LatencySummary;
  idleMb: number;
  peakMb: number;
  endMb: number;
  hwmMb: number;
  cpuUsPerReq: number;
}

export interface FamilyResult {
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

export interface Part2 {
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

export async function repoCase(family: Family, countries: number, clients: number, profDir?: string): Promise<RepoRow> {
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
    const before = procStatus(server.pid).rssMb;
    for (const id of ids.slice(1)) await call(id);
    for (const id of ids.slice(1)) await call(id);
    await new Promise((r) => setTimeout(r, 300));
    const after = procStatus(server.pid).rssMb;
    // Up to 2 of the models may be the first one's second copy; (models - 1) is the conservative count.
    return { before, after, models: models - 1, perModelMb: Math.max(0, (after - before) / (models - 1)) };
  } finally {
    await server.stop();
  }
}

export async function part2(): Promise<Part2> {
  const clients = args.clients2;
  const out: FamilyResult[] = [];
  for (const family of families()) {
    note(`part 2: ${family.label}: memory calibration (load ${loadavg()})`);
    const calibration = await calibrate(family, family.bytes ? 24 : 100);
    const path = await family.single();
    const baseline = async (): Promise<Baseline> => {
      note(`part 2: ${family.label}: single-model baseline (load ${loadavg()})`);
      const b = await httpCase({ kind: 'single', path, numReplicas: REPLICAS2, maxOngoingRequests: MAX_ONGOING2, flag: true }, ['M'], clients);
      return {
        rps: b.load.rps,
        latency: b.load.latencyMs,
        idleMb: b.rss.idleMb,
        peakMb: b.rss.peakMb,
        endMb: b.rss.endMb,
        hwmMb: b.rss.hwmMb,
        cpuUsPerReq: b.cpuUsPerReq,
      };
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
export function modelBudgetMb(f: FamilyResult): number {
  return f.baseline.peakMb + (SLOTS - REPLICAS2) * f.calibration.perModelMb;
}
