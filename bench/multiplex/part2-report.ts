/** bench:multiplex part 2's tables and targets (the measuring is multiplex/part2.ts). */
import { fmtInt, fmtNum, fmtPct, fmtRatio, mdTable } from '../lib/stats.ts';
import type { Target } from '../lib/stats.ts';
import { zipfTopShare } from '../lib/zipf.ts';
import { MAX_MODELS, MAX_ONGOING2, mb, mib, ms, REPLICAS2, SLOTS, ZIPF_S } from './args.ts';
import { modelBudgetMb } from './part2.ts';
import type { Part2 } from './part2.ts';

export function formatPart2(p: Part2): string {
  const out: string[] = [];
  out.push(`## 2. Multiplexing: Zipf(${ZIPF_S}) over N country models, ${REPLICAS2} replicas x ${MAX_MODELS} models`, '');
  out.push(
    `${p.clients} closed-loop clients, V2 infer \`/v2/models/<country>/infer\` over HTTP, no batching, maxOngoingRequests ${MAX_ONGOING2}, intraOpNumThreads 1. ` +
      'Warm/cold: whether the model was loaded in the replica when the call arrived (the bench repository adds a `cache_hit` output; ' +
      "a call that joins a load in progress is cold). Cache hit rate: hits/(hits+misses) of the replicas' caches (joining a load counts as a hit there). " +
      `Distinct loaded: models loaded in either replica right after the run (of ${SLOTS} slots; fewer means the same model sits in both). ` +
      `Baseline: an OnnxModelDeployment serving one model of the family, ${REPLICAS2} replicas, same clients, answering the same extra \`cache_hit\` output.`,
  );
  for (const f of p.families) {
    out.push('', `### ${f.family}`, '');
    out.push(
      mdTable(
        [
          'countries',
          `top-${SLOTS} share`,
          'req/s',
          'cache hit rate',
          'warm share',
          'distinct loaded',
          'warm p50',
          'warm p99',
          'cold p50',
          'cold p99',
          'all p99',
          'loads/s',
          'served uncached/s',
          'evictions/s',
          'mean load ms',
        ],
        [
          [
            'baseline (1 model)',
            '',
            fmtInt(f.baseline.rps),
            '',
            '',
            '',
            ms(f.baseline.latency.p50),
            ms(f.baseline.latency.p99),
            '',
            '',
            ms(f.baseline.latency.p99),
            '',
            '',
            '',
            '',
          ],
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
          [
            'baseline (1 model)',
            mb(f.baseline.idleMb),
            mb(f.baseline.peakMb),
            mb(f.baseline.endMb),
            mb(f.baseline.hwmMb),
            '',
            '',
            fmtInt(f.baseline.cpuUsPerReq),
          ],
          ...f.rows.map((r) => [
            String(r.countries),
            mb(r.idleMb),
            mb(r.peakMb),
            mb(r.endMb),
            mb(r.hwmMb),
            mb(modelBudgetMb(f)),
            fmtRatio(r.peakMb / modelBudgetMb(f)),
            fmtInt(r.cpuUsPerReq),
          ]),
        ],
      ),
    );
    if (f.pairs.length > 1) {
      out.push(
        '',
        `Paired rounds, baseline then ${f.pairs[0]!.repo.countries} countries, alternately (the machine is shared: one pair alone can be off by more than 10%):`,
        '',
        mdTable(
          [
            'round',
            'baseline req/s',
            'baseline p50',
            `${f.pairs[0]!.repo.countries} countries req/s`,
            'warm p50',
            'warm p50 / baseline p50',
            'CPU/req baseline µs',
            'CPU/req multiplexed µs',
          ],
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

export function part2Targets(p: Part2): Target[] {
  const targets: Target[] = [];
  for (const f of p.families) {
    const tag = f.bytes ? `${mib(f.bytes)} models` : 'forecast models';
    const budget = modelBudgetMb(f);
    for (const r of f.rows)
      targets.push({ name: `peak RSS / model budget, ${r.countries} countries, ${tag}`, value: r.peakMb / budget, target: 1, kind: 'max', format: fmtRatio });
    if (f.rows.length >= 2) {
      const first = f.rows[0]!;
      const last = f.rows[f.rows.length - 1]!;
      targets.push({
        name: `peak RSS ${last.countries} / ${first.countries} countries (flat), ${tag}`,
        value: last.peakMb / first.peakMb,
        target: 1.1,
        kind: 'max',
        format: fmtRatio,
      });
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
      targets.push({
        name: `warm p99 / single-model p99, ${r.countries} countries (info)`,
        value: r.warm.p99 / tiny.baseline.latency.p99,
        target: 1.1,
        kind: 'max',
        format: fmtRatio,
      });
    }
  }
  return targets;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : Number.NaN;
}
