/**
 * Part 1, one case per process: `core/case.ts postmessage|piscina|handle`. Measures the same
 * two things for each target and prints one JSON line:
 *  - sequential round trips: one call at a time, each timed on its own (µs);
 *  - pipelined throughput: INFLIGHT calls kept in flight, completions per second.
 * The loops are bench/lib/call-loops.ts's, the same ones the in-thread cases (bench/core/inner-case.ts) use.
 */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { bind, serve } from 'threadserve';
import type { NoopInstance } from './deployments.ts';
import { Noop } from './deployments.ts';
import { checkEcho, fifoCaller, INFLIGHT, warmPipelined } from '../lib/call-loops.ts';
import type { Call } from '../lib/call-loops.ts';
import { summarize } from '../lib/stats.ts';
import type { LatencySummary } from '../lib/stats.ts';

const SEQ_WARMUP = 3000;
const SEQ_CALLS = 5000;

interface Target {
  call: Call;
  close(): Promise<unknown>;
}

const WORKER_URL = new URL('./baseline-worker.mjs', import.meta.url);

/** (a) A plain worker that echoes every message straight back. */
async function postMessageTarget(): Promise<Target> {
  const worker = new Worker(WORKER_URL, { workerData: { role: 'echo' } });
  await once(worker, 'online');
  return { call: fifoCaller(worker), close: () => worker.terminate() };
}

/** (b) piscina's defaults for the task path: one thread, concurrentTasksPerWorker 1. */
async function piscinaTarget(): Promise<Target> {
  const pool = new Piscina({ filename: WORKER_URL.href, minThreads: 1, maxThreads: 1 });
  return { call: (x) => pool.run(x), close: () => pool.destroy() };
}

/** (c) threadserve: a handle call to a one-replica no-op deployment. */
async function handleTarget(): Promise<Target> {
  const instance = await serve.run(bind(Noop), { listen: false, logLevel: 'silent' });
  const handle = instance.handle<NoopInstance>('Noop');
  return { call: (x) => handle.noop(x), close: () => instance.close() };
}

async function sequential(call: Call, n: number): Promise<Float64Array> {
  const us = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const got = await call(i);
    us[i] = (performance.now() - t0) * 1000;
    checkEcho(i, got);
  }
  return us;
}

export interface CoreCaseResult {
  name: string;
  /** Sequential round trips, µs; absent for the in-thread cases (bench/core/inner-case.ts). */
  seq?: LatencySummary;
  pipelinedPerS: number;
  /** Process CPU (every thread) per pipelined call, µs. */
  cpuUsPerCall: number;
  inflight: number;
}

const TARGETS: Record<string, () => Promise<Target>> = {
  postmessage: postMessageTarget,
  piscina: piscinaTarget,
  handle: handleTarget,
};

async function main(): Promise<void> {
  const name = process.argv[2] ?? '';
  const make = TARGETS[name];
  if (!make) throw new Error(`usage: core/case.ts ${Object.keys(TARGETS).join('|')}`);
  const target = await make();
  await sequential(target.call, SEQ_WARMUP);
  const seq = summarize(await sequential(target.call, SEQ_CALLS));
  const { perS: pipelinedPerS, cpuUsPerCall } = await warmPipelined(target.call);
  await target.close();
  const result: CoreCaseResult = { name, seq, pipelinedPerS, cpuUsPerCall, inflight: INFLIGHT };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
