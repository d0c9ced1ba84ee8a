/**
 * Part 2: HTTP on loopback. For each server: start it in its own process, check once that it
 * echoes the body, load it from a separate load-generator process (bench/loadgen.ts, autocannon),
 * stop it. The servers run one after the other, never together, in interleaved rounds
 * (fastify, one-hop, pipeline, fastify, ...) because other work on the machine comes and goes;
 * the table shows each server's best round by req/s, and every round's req/s.
 */
import { isDeepStrictEqual } from 'node:util';
import type { LoadResult } from './loadgen.ts';
import { cpuSeconds, runJson, startServer } from './proc.ts';
import type { ChildOptions } from './proc.ts';
import { fmtInt, fmtNum, fmtPct, mdTable, targetsTable } from './stats.ts';
import type { Target } from './stats.ts';

export const CONNECTIONS = 32;
export const WARMUP_S = 2;
export const DURATION_S = 8;
export const HTTP_ROUNDS = 3;
/** A small JSON body, echoed back by every server. */
export const BODY = { name: 'Ada', id: 42, tags: ['a', 'b'], ok: true };

export interface HttpCase {
  key: 'fastify' | 'onehop' | 'pipeline';
  label: string;
  script: string;
  args: string[];
}

export const HTTP_CASES: HttpCase[] = [
  { key: 'fastify', label: '(a) bare fastify 5 POST echo', script: 'servers/fastify.ts', args: [] },
  { key: 'onehop', label: '(b) threadserve one-hop ingress', script: 'servers/threadserve.ts', args: ['onehop'] },
  { key: 'pipeline', label: '(c) threadserve ingress -> A -> B -> C', script: 'servers/threadserve.ts', args: ['pipeline'] },
];

/** Every round of every server that ran. */
export interface HttpResult extends LoadResult {
  /** Server process CPU (all its threads) per answered request over the measured run, µs. */
  serverCpuUsPerReq: number;
}
export type HttpResults = Partial<Record<HttpCase['key'], HttpResult[]>>;

/** The round with the most req/s. */
function best(rounds: HttpResult[] | undefined): HttpResult | undefined {
  return rounds?.reduce((a, b) => (b.rps > a.rps ? b : a));
}

/** One POST before the load: a server that answers wrongly would make its numbers meaningless. */
async function checkEcho(url: string): Promise<void> {
  const res = await fetch(`${url}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(BODY),
  });
  const text = await res.text();
  if (res.status !== 200 || !isDeepStrictEqual(JSON.parse(text), BODY)) {
    throw new Error(`${url} answered ${res.status} ${text.slice(0, 200)} instead of echoing the body`);
  }
}

async function runOne(c: HttpCase, durationS: number, opts: ChildOptions): Promise<HttpResult> {
  // Only the server is profiled, never the load generator.
  const serverOpts: ChildOptions = opts.profDir ? { profDir: `${opts.profDir}/http-${c.key}` } : {};
  const server = await startServer(c.script, c.args, serverOpts);
  const load = (seconds: number) =>
    runJson<LoadResult>('loadgen.ts', [`${server.url}/`, String(CONNECTIONS), '0', String(seconds), JSON.stringify(BODY)]);
  try {
    await checkEcho(server.url);
    // Warm-up and measured run are separate load-generator processes, so the server's CPU
    // can be read between them (an idle server uses none while the next one starts).
    await load(WARMUP_S);
    const cpu0 = cpuSeconds(server.pid);
    const result = await load(durationS);
    const cpu = cpuSeconds(server.pid) - cpu0;
    return { ...result, serverCpuUsPerReq: (cpu * 1e6) / result.requests };
  } finally {
    await server.stop();
  }
}

export async function runHttp(
  opts: ChildOptions & { only?: string; durationS?: number; rounds?: number } = {},
): Promise<HttpResults> {
  const results: HttpResults = {};
  const rounds = opts.rounds ?? HTTP_ROUNDS;
  for (let round = 1; round <= rounds; round++) {
    for (const c of HTTP_CASES) {
      if (opts.only && opts.only !== c.key) continue;
      process.stderr.write(`http round ${round}/${rounds}: ${c.key}\n`);
      (results[c.key] ??= []).push(await runOne(c, opts.durationS ?? DURATION_S, opts));
    }
  }
  return results;
}

export function httpTargets(r: HttpResults): Target[] {
  const base = best(r.fastify)?.rps ?? Number.NaN;
  return [
    { name: 'one-hop req/s / fastify req/s', value: (best(r.onehop)?.rps ?? Number.NaN) / base, target: 0.8, kind: 'min', format: fmtPct },
    { name: 'three-hop req/s / fastify req/s', value: (best(r.pipeline)?.rps ?? Number.NaN) / base, target: 0.6, kind: 'min', format: fmtPct },
  ];
}

export function formatHttp(r: HttpResults): string {
  const base = best(r.fastify)?.rps ?? Number.NaN;
  const rows = HTTP_CASES.filter((c) => r[c.key]?.length).map((c) => {
    const x = best(r[c.key])!;
    const bad = r[c.key]!.reduce((n, y) => n + y.non2xx + y.errors + y.timeouts, 0);
    return [
      c.label,
      fmtInt(x.rps),
      fmtNum(x.latencyMs.p50, 2),
      fmtNum(x.latencyMs.p99, 2),
      fmtPct(x.rps / base),
      fmtInt(x.serverCpuUsPerReq),
      r[c.key]!.map((y) => `${fmtNum(y.rps / 1000, 1)}k`).join(' / '),
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
  return [
    title,
    '',
    mdTable(['server (own process)', 'req/s', 'p50 ms', 'p99 ms', 'vs fastify', 'server CPU µs/req', 'req/s per round', 'non-2xx/errors'], rows),
    '',
    targetsTable(httpTargets(r)),
    '',
    cpuLine(r),
  ].join('\n');
}

/** Server CPU per request against fastify's: what each request costs, whatever else runs. */
function cpuLine(r: HttpResults): string {
  const base = best(r.fastify)?.serverCpuUsPerReq;
  if (!base) return '';
  const parts = HTTP_CASES.filter((c) => c.key !== 'fastify' && r[c.key]?.length).map(
    (c) => `${c.key} ${fmtNum(best(r[c.key])!.serverCpuUsPerReq / base, 2)}x`,
  );
  return parts.length ? `Server CPU per request relative to bare fastify (best round): ${parts.join(', ')}.` : '';
}
