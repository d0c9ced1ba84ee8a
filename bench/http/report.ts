/**
 * Part 2's report: the rounds of bench/http/run.ts as a markdown table, and the targets. Each
 * server's row is its best round by req/s (req/s, latency at CONNECTIONS connections, the
 * per-round figures beside it); server CPU per request is its lowest over the rounds (noise
 * from other work only ever adds to it), and the CPU each extra handle hop adds is the
 * difference from the one-hop server's, divided by the hops.
 */
import { CONNECTIONS, HTTP_CASES, WARMUP_S } from './run.ts';
import type { HttpCase, HttpResult, HttpResults } from './run.ts';
import { fmtInt, fmtNum, fmtPct, fmtRatio, mdTable, targetsTable } from '../lib/stats.ts';
import type { Target } from '../lib/stats.ts';

/** The round with the most req/s. */
function best(rounds: HttpResult[] | undefined): HttpResult | undefined {
  return rounds?.reduce((a, b) => (b.rps > a.rps ? b : a));
}

const rps = (r: HttpResults, k: HttpCase['key']) => best(r[k])?.rps ?? Number.NaN;

/** Lowest server CPU µs per request over the rounds; NaN when the case did not run. */
function cpuPerReq(r: HttpResults, k: HttpCase['key']): number {
  const rounds = r[k];
  return rounds?.length ? Math.min(...rounds.map((x) => x.serverCpuUsPerReq)) : Number.NaN;
}

/** Server CPU µs that one extra handle hop adds to a request, against the one-hop server. */
function cpuPerExtraHop(r: HttpResults, c: HttpCase): number {
  return (cpuPerReq(r, c.key) - cpuPerReq(r, 'onehop')) / c.extraHops;
}

/**
 * The median over rounds of a/b req/s, each round's two runs back to back: steadier than a
 * ratio of bests when other work on the machine comes and goes between rounds.
 */
function pairedRatio(r: HttpResults, a: HttpCase['key'], b: HttpCase['key']): number {
  const ra = r[a] ?? [];
  const rb = r[b] ?? [];
  const ratios = ra
    .slice(0, rb.length)
    .map((x, i) => x.rps / rb[i]!.rps)
    .sort((x, y) => x - y);
  if (ratios.length === 0) return Number.NaN;
  const mid = Math.floor(ratios.length / 2);
  return ratios.length % 2 ? ratios[mid]! : (ratios[mid - 1]! + ratios[mid]!) / 2;
}

const fmtUs = (x: number) => (Number.isFinite(x) ? `${x.toFixed(1)} µs` : 'n/a');

export function httpTargets(r: HttpResults): Target[] {
  const base = rps(r, 'fastify');
  const share = (k: HttpCase['key'], name: string, target: number): Target => ({
    name: `${name} req/s / fastify req/s`,
    value: rps(r, k) / base,
    target,
    kind: 'min',
    format: fmtPct,
  });
  const hopCost = HTTP_CASES.filter((c) => c.extraHops > 0).map((c): Target => ({
    name: `server CPU per extra hop, ${c.key}: (${c.key} - onehop CPU/req) / ${c.extraHops}`,
    value: cpuPerExtraHop(r, c),
    target: 10,
    kind: 'max',
    format: fmtUs,
  }));
  const observability: Target[] = [
    {
      name: "observed one-hop req/s / one-hop req/s (access log + metrics + tracing without SDK), median of the rounds' paired ratios",
      value: pairedRatio(r, 'observed', 'onehop'),
      target: 0.95,
      kind: 'min',
      format: fmtPct,
    },
    {
      name: 'server CPU per request the access log, metrics and tracing add: (observed - onehop) / onehop',
      value: (cpuPerReq(r, 'observed') - cpuPerReq(r, 'onehop')) / cpuPerReq(r, 'onehop'),
      target: 0.05,
      kind: 'max',
      format: fmtPct,
    },
  ];
  return [...observability, share('onehop', 'one-hop', 0.8), share('twohop', 'two-hop', 0.7), share('pipeline', 'three-hop', 0.6), ...hopCost];
}

export function formatHttp(r: HttpResults): string {
  const base = rps(r, 'fastify');
  const baseCpu = cpuPerReq(r, 'fastify');
  const rows = HTTP_CASES.filter((c) => r[c.key]?.length).map((c) => {
    const rounds = r[c.key]!;
    const x = best(rounds)!;
    const bad = rounds.reduce((n, y) => n + y.non2xx + y.errors + y.timeouts, 0);
    return [
      c.label,
      fmtInt(x.rps),
      fmtNum(x.latencyMs.p50, 2),
      fmtNum(x.latencyMs.p99, 2),
      fmtPct(x.rps / base),
      fmtInt(cpuPerReq(r, c.key)),
      fmtRatio(cpuPerReq(r, c.key) / baseCpu),
      rounds.map((y) => `${fmtNum(y.rps / 1000, 1)}k`).join(' / '),
      rounds.map((y) => fmtInt(y.serverCpuUsPerReq)).join(' / '),
      fmtInt(bad),
    ];
  });
  const rounds = Object.values(r)[0];
  const any = rounds?.[0];
  const title =
    `### 2. HTTP on loopback` +
    (any
      ? ` (autocannon in its own process, ${any.connections} connections, ${WARMUP_S} s warm-up + ${any.durationS} s; best of ${rounds!.length} rounds)`
      : '');
  const headers = [
    'server (own process)',
    'req/s',
    `p50 ms @${CONNECTIONS}`,
    `p99 ms @${CONNECTIONS}`,
    'vs fastify',
    'server CPU µs/req',
    'CPU vs fastify',
    'req/s per round',
    'CPU µs/req per round',
    'non-2xx/errors',
  ];
  return [title, '', mdTable(headers, rows), '', targetsTable(httpTargets(r))].join('\n');
}
