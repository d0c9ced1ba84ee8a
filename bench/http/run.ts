/**
 * Part 2: HTTP on loopback. For each server: start it in its own process, check once that it
 * echoes the body, load it from a separate load-generator process (bench/lib/loadgen/http.ts, autocannon),
 * stop it. The servers run one after the other, never together, in interleaved rounds
 * (fastify, one-hop, observed one-hop, two-hop, pipeline, fastify, ...) because other work on the machine comes
 * and goes. bench/http/report.ts turns the rounds into the tables and targets.
 */
import { isDeepStrictEqual } from 'node:util';
import type { LoadResult } from '../lib/loadgen/http.ts';
import { runJson, startServer } from '../lib/proc.ts';
import { cpuSeconds } from '../lib/procfs.ts';
import type { ChildOptions } from '../lib/proc.ts';

export const CONNECTIONS = 32;
export const WARMUP_S = 2;
export const DURATION_S = 8;
export const HTTP_ROUNDS = 3;
/** A small JSON body, echoed back by every server. */
export const BODY = { name: 'Ada', id: 42, tags: ['a', 'b'], ok: true };

export interface HttpCase {
  key: 'fastify' | 'onehop' | 'observed' | 'twohop' | 'pipeline';
  /** Handle calls one request makes beyond the ingress's own hop. */
  extraHops: number;
  label: string;
  script: string;
  args: string[];
}

export const HTTP_CASES: HttpCase[] = [
  { key: 'fastify', label: '(a) bare fastify 5 POST echo', extraHops: 0, script: 'http/fastify-server.ts', args: [] },
  { key: 'onehop', label: '(b) threadserve one-hop ingress', extraHops: 0, script: 'http/threadserve-server.ts', args: ['onehop'] },
  {
    key: 'observed',
    label: '(b2) the same, with access log (JSON to stdout), HTTP metrics and tracing (no SDK)',
    extraHops: 0,
    script: 'http/threadserve-server.ts',
    args: ['onehop', 'observed'],
  },
  { key: 'twohop', label: '(c) threadserve ingress -> A', extraHops: 1, script: 'http/threadserve-server.ts', args: ['twohop'] },
  { key: 'pipeline', label: '(d) threadserve ingress -> A -> B -> C', extraHops: 3, script: 'http/threadserve-server.ts', args: ['pipeline'] },
];

/** Every round of every server that ran. */
export interface HttpResult extends LoadResult {
  /** Server process CPU (all its threads) per answered request over the measured run, µs. */
  serverCpuUsPerReq: number;
}
export type HttpResults = Partial<Record<HttpCase['key'], HttpResult[]>>;

/**
 * One POST before the load: a server that answers wrongly would make its numbers meaningless.
 * (Under load, the load generator compares every answer's body too.)
 */
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
  const load = async (seconds: number) => {
    const r = await runJson<LoadResult>('lib/loadgen/http.ts', [`${server.ready.url}/`, String(CONNECTIONS), '0', String(seconds), JSON.stringify(BODY)]);
    if (r.wrongBodies > 0) throw new Error(`${c.key}: ${r.wrongBodies} answers under load did not echo the body`);
    return r;
  };
  try {
    await checkEcho(server.ready.url);
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

export async function runHttp(opts: ChildOptions & { only?: string; durationS?: number; rounds?: number } = {}): Promise<HttpResults> {
  const results: HttpResults = {};
  const rounds = opts.rounds ?? HTTP_ROUNDS;
  for (let round = 1; round <= rounds; round++) {
    for (const c of HTTP_CASES) {
      if (opts.only && !opts.only.split(',').includes(c.key)) continue;
      process.stderr.write(`http round ${round}/${rounds}: ${c.key}\n`);
      (results[c.key] ??= []).push(await runOne(c, opts.durationS ?? DURATION_S, opts));
    }
  }
  return results;
}
