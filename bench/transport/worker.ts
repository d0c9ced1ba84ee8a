/**
 * The two threads of bench/transport/case.ts: an echoing callee and a caller that measures.
 * Both speak the runtime's call shape ({k:'call', id, m, a} answered by {k:'res', id, ok, v})
 * over one of three transports, chosen by workerData.kind:
 *  - port: one postMessage per message on a MessageChannel port;
 *  - batched: messages of one event-loop turn coalesced into one postMessage, as the
 *    runtime's PortWriter does;
 *  - ring: bench/transport/shared-ring.ts, one ring each way, woken only when the reader sleeps; every
 *    message encoded and written at once;
 *  - ring-batched: the same ring, with one turn's messages encoded as one array, once.
 */
import { performance } from 'node:perf_hooks';
import type { MessagePort } from 'node:worker_threads';
import { parentPort, workerData } from 'node:worker_threads';
import { INFLIGHT } from '../lib/call-loops.ts';
import { RingReader, RingWriter } from './shared-ring.ts';
import type { RingBuffers } from './shared-ring.ts';
import { summarize } from '../lib/stats.ts';

export type TransportKind = 'port' | 'batched' | 'ring' | 'ring-batched';

export interface TransportWorkerData {
  kind: TransportKind;
  role: 'echo' | 'caller';
  port: MessagePort;
  /** ring: this thread writes to `out` and reads from `in`. */
  rings?: { out: RingBuffers; in: RingBuffers };
}

interface Transport {
  send(m: unknown): void;
  /** Wake-ups the writer sent and times the reader slept (ring only). */
  counters(): { notifies: number; sleeps: number };
}

/** The same body the HTTP bench posts. */
const BODY = { name: 'Ada', id: 42, tags: ['a', 'b'], ok: true };

/** Coalesces the messages of one event-loop turn into one array, as the runtime's PortWriter does. */
function perTurn(flush: (batch: unknown[]) => void): (m: unknown) => void {
  let batch: unknown[] = [];
  const go = () => {
    const b = batch;
    batch = [];
    flush(b);
  };
  return (m) => {
    if (batch.push(m) === 1) setImmediate(go);
  };
}

function open(d: TransportWorkerData, onMessage: (m: unknown) => void): Transport {
  if (d.kind === 'port') {
    d.port.on('message', onMessage);
    return { send: (m) => d.port.postMessage(m), counters: () => ({ notifies: 0, sleeps: 0 }) };
  }
  if (d.kind === 'batched') {
    d.port.on('message', (b: unknown[]) => {
      for (const m of b) onMessage(m);
    });
    return { send: perTurn((b) => d.port.postMessage(b)), counters: () => ({ notifies: 0, sleeps: 0 }) };
  }
  const writer = new RingWriter(d.rings!.out);
  const batched = d.kind === 'ring-batched';
  const reader = new RingReader(
    d.rings!.in,
    batched
      ? (b) => {
          for (const m of b as unknown[]) onMessage(m);
        }
      : onMessage,
  );
  // A pending Atomics.waitAsync does not keep a thread's event loop alive on Node 20
  // (nodejs/node#61941): the port beside the ring (for transfers and fallback) does.
  d.port.on('message', () => undefined);
  d.port.once('close', () => reader.stop());
  return { send: batched ? perTurn((b) => writer.write(b)) : (m) => writer.write(m), counters: () => ({ notifies: writer.notifies, sleeps: reader.sleeps }) };
}

interface Call {
  k: 'call';
  id: number;
  m: string;
  a: unknown[];
}

function echo(d: TransportWorkerData): void {
  const t: Transport = open(d, (m) => {
    const c = m as Call;
    t.send({ k: 'res', id: c.id, ok: true, v: c.a[0] });
  });
}

export interface TransportRun {
  seq: ReturnType<typeof summarize>;
  /** Process CPU (every thread) per sequential round trip, µs. */
  seqCpuUs: number;
  pipelinedPerS: number;
  /** Process CPU per pipelined round trip, µs. */
  pipeCpuUs: number;
  /** Over the pipelined window: wake-ups per round trip (ring only). */
  notifiesPerCall: number;
}

const SEQ_WARMUP = 2000;
const SEQ_CALLS = 10000;
const PIPE_WARMUP_MS = 500;
const PIPE_MS = 2000;

async function caller(d: TransportWorkerData): Promise<TransportRun> {
  const waiting = new Map<number, (v: unknown) => void>();
  let next = 1;
  const t = open(d, (m) => {
    const r = m as { id: number; v: unknown };
    const resolve = waiting.get(r.id)!;
    waiting.delete(r.id);
    resolve(r.v);
  });
  const call = (x: unknown) =>
    new Promise<unknown>((resolve) => {
      const id = next++;
      waiting.set(id, resolve);
      t.send({ k: 'call', id, m: 'step', a: [x] });
    });

  const sequential = async (n: number) => {
    const lat = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await call(BODY);
      lat[i] = (performance.now() - t0) * 1000;
    }
    return lat;
  };
  await sequential(SEQ_WARMUP);
  let cpu0 = process.cpuUsage();
  const seq = summarize(await sequential(SEQ_CALLS));
  const seqCpu = process.cpuUsage(cpu0);

  const pipelined = async (ms: number) => {
    let done = 0;
    let stop = false;
    const lane = async () => {
      while (!stop) {
        await call(BODY);
        done++;
      }
    };
    const timer = setTimeout(() => (stop = true), ms);
    const t0 = performance.now();
    await Promise.all(Array.from({ length: INFLIGHT }, lane));
    clearTimeout(timer);
    return { done, s: (performance.now() - t0) / 1000 };
  };
  await pipelined(PIPE_WARMUP_MS);
  const before = t.counters().notifies;
  cpu0 = process.cpuUsage();
  const pipe = await pipelined(PIPE_MS);
  const pipeCpu = process.cpuUsage(cpu0);
  return {
    seq,
    seqCpuUs: (seqCpu.user + seqCpu.system) / SEQ_CALLS,
    pipelinedPerS: pipe.done / pipe.s,
    pipeCpuUs: (pipeCpu.user + pipeCpu.system) / pipe.done,
    notifiesPerCall: (t.counters().notifies - before) / pipe.done,
  };
}

const data = workerData as TransportWorkerData;
if (data.role === 'echo') echo(data);
else {
  const run = await caller(data);
  parentPort!.postMessage(run);
}
