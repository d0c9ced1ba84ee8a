/** bench:multiplex part 3: one single-replica deployment per country (naive) vs the multiplexed repository. */
import { countryIds } from '../../examples/forecast/countries.ts';
import { fmtInt, fmtNum, fmtRatio, mdTable } from '../lib/stats.ts';
import type { LatencySummary } from '../lib/stats.ts';
import { args, loadavg, MAX_MODELS, MAX_ONGOING2, mb, MODELS_ROOT, ms, note, REPLICAS2, ZIPF_S } from './args.ts';
import { httpCase } from './measure.ts';
import { forecastRepo } from './models.ts';
import { families, repoCase } from './part2.ts';
import type { Part2 } from './part2.ts';

export interface Part3Row {
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

export async function part3(p2: Part2 | undefined): Promise<Part3Row[]> {
  const rows: Part3Row[] = [];
  const clients = args.clients2;
  const tiny = families()[0]!;
  for (const countries of args.naive) {
    const repository = await forecastRepo(MODELS_ROOT, countries);
    note(`part 3: naive, ${countries} deployments (load ${loadavg()})`);
    const c = await httpCase({ kind: 'naive', repository, count: countries, maxOngoingRequests: MAX_ONGOING2 }, countryIds(countries), clients);
    rows.push({
      setup: 'naive',
      countries,
      replicas: countries,
      startupMs: c.startupMs,
      serveRunMs: c.serveRunMs,
      idleMb: c.rss.idleMb,
      peakMb: c.rss.peakMb,
      rps: c.load.rps,
      latency: c.load.latencyMs,
      errors: c.load.errors + c.load.non2xx,
    });
    let m = p2?.families[0]?.rows.find((r) => r.countries === countries);
    if (!m) {
      note(`part 3: multiplexed, ${countries} countries (load ${loadavg()})`);
      m = await repoCase(tiny, countries, clients);
    }
    rows.push({
      setup: 'multiplexed',
      countries,
      replicas: REPLICAS2,
      startupMs: m.startupMs,
      serveRunMs: m.serveRunMs,
      idleMb: m.idleMb,
      peakMb: m.peakMb,
      rps: m.rps,
      latency: m.latency,
      errors: m.errors,
    });
  }
  return rows;
}

export function formatPart3(rows: Part3Row[]): string {
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
      [
        'setup',
        'countries',
        'threads (replicas)',
        'startup s',
        'serve.run s',
        'idle RSS MiB',
        'peak RSS MiB',
        'req/s',
        'p50 ms',
        'p99 ms',
        'RSS naive/mux',
        'startup naive/mux',
        'req/s naive/mux',
      ],
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
