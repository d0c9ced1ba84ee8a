/**
 * Part 1, one case per process: `core-case.ts postmessage|piscina|handle`. Measures the same
 * two things for each target and prints one JSON line:
 *  - sequential round trips: one call at a time, each timed on its own (µs);
 *  - pipelined throughput: INFLIGHT calls kept in flight, completions per second.
 * Every target is a `(x) => Promise` so the measuring code is identical for all three.
 */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { bind, serve } from 'threadserve';
import type { NoopInstance } from './deployments.ts';
import { Noop } from './deployments.ts';
import { summarize } from './stats.ts';
import type { LatencySummary } from './stats.ts';

const SEQ_WARMUP = 3000;
const SEQ_CALLS = 5000;
const INFLIGHT = 256;
const PIPE_WARMUP_MS = 500;
const PIPE_MS = 2000;

type Call = (x: number) => Promise<unknown>;
interface Target {
  call: Call;
  close(): Promise<unknown>;
}

const WORKER_URL = new URL('./baseline-worker.mjs', import.meta.url);

/** (a) A plain worker that echoes; replies come back in order, so a FIFO of resolvers suffices. */
async function postMessageTarget(): Promise<Target> {
  const worker = new Worker(WORKER_URL, { workerData: { role: 'echo' } });
  await once(worker, 'online');
  let waiting: Array<(v: unknown) => void> = [];
  let head = 0;
  worker.on('message', (v: unknown) => {
    const resolve = waiting[head]!;
    waiting[head++] = undefined as never;
    if (head === waiting.length) {
      waiting = [];
      head = 0;
    }
    resolve(v);
  });
  return {
    call: (x) =>
      new Promise((resolve) => {
        waiting.push(resolve);
        worker.postMessage(x);
      }),
    close: () => worker.terminate(),
  };
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
    await call(i);
    us[i] = (performance.now() - t0) * 1000;
  }
  return us;
}

/** Keeps `inflight` calls running for `ms`; returns completions per second within the window. */
async function pipelined(call: Call, inflight: number, ms: number): Promise<number> {
  let done = 0;
  let stop = false;
  let counted = 0;
  let elapsed = 0;
  const t0 = performance.now();
  const timer = setTimeout(() => {
    stop = true;
    counted = done;
    elapsed = performance.now() - t0;
  }, ms);
  const lane = async () => {
    while (!stop) {
      await call(done);
      done++;
    }
  };
  await Promise.all(Array.from({ length: inflight }, lane));
  clearTimeout(timer);
  return counted / (elapsed / 1000);
}

export interface CoreCaseResult {
  name: string;
  seq: LatencySummary;
  pipelinedPerS: number;
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
  if (!make) throw new Error(`usage: core-case.ts ${Object.keys(TARGETS).join('|')}`);
  const target = await make();
  await sequential(target.call, SEQ_WARMUP);
  const seq = summarize(await sequential(target.call, SEQ_CALLS));
  await pipelined(target.call, INFLIGHT, PIPE_WARMUP_MS);
  const pipelinedPerS = await pipelined(target.call, INFLIGHT, PIPE_MS);
  await target.close();
  const result: CoreCaseResult = { name, seq, pipelinedPerS, inflight: INFLIGHT };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
