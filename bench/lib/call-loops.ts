/**
 * The measuring loops of part 1, shared by every thread that measures: the bench's main
 * thread (bench/core/case.ts), a plain worker calling another over a MessageChannel
 * (bench/core/channel-caller.ts) and a replica calling another replica (bench/core/deployments.ts).
 * Every target is a `(x) => Promise` so the measuring code is the same for all of them.
 * No top-level side effects: replica threads import this module.
 */
import { performance } from 'node:perf_hooks';

export type Call = (x: number) => Promise<unknown>;

/** Calls in flight in every pipelined measurement. */
export const INFLIGHT = 256;
export const PIPE_WARMUP_MS = 500;
export const PIPE_MS = 2000;

/** A pipelined measurement: completions per second, and the process's CPU per completion. */
export interface Pipelined {
  perS: number;
  /** CPU time of the whole process (every thread: both ends, V8's helpers) per call, µs. */
  cpuUsPerCall: number;
}

/** Keeps `inflight` calls running for `ms`; measures completions and CPU within the window. */
export async function pipelined(call: Call, inflight: number, ms: number): Promise<Pipelined> {
  let done = 0;
  let stop = false;
  let counted = 0;
  let elapsed = 0;
  let cpu: NodeJS.CpuUsage = { user: Number.NaN, system: 0 };
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const timer = setTimeout(() => {
    stop = true;
    counted = done;
    elapsed = performance.now() - t0;
    cpu = process.cpuUsage(cpu0);
  }, ms);
  const lane = async () => {
    while (!stop) {
      const x = done;
      checkEcho(x, await call(x));
      done++;
    }
  };
  await Promise.all(Array.from({ length: inflight }, lane));
  clearTimeout(timer);
  return { perS: counted / (elapsed / 1000), cpuUsPerCall: (cpu.user + cpu.system) / counted };
}

/** Every target echoes its argument: a wrong answer must fail, not count as a fast one. */
export function checkEcho(sent: number, got: unknown): void {
  if (got !== sent) throw new Error(`echo answered ${JSON.stringify(got)} to ${sent}`);
}

/** A warm-up window, then the measured one. */
export async function warmPipelined(call: Call, inflight = INFLIGHT, warmupMs = PIPE_WARMUP_MS, ms = PIPE_MS): Promise<Pipelined> {
  await pipelined(call, inflight, warmupMs);
  return pipelined(call, inflight, ms);
}

/** What `fifoCaller` needs of a Worker or a MessagePort. */
interface Port {
  postMessage(value: unknown): void;
  on(event: 'message', listener: (value: unknown) => void): unknown;
}

/**
 * Calls over a port whose other end echoes every message: replies come back in order, so a
 * FIFO of resolvers is all the bookkeeping needed.
 */
export function fifoCaller(port: Port): Call {
  let waiting: Array<(v: unknown) => void> = [];
  let head = 0;
  port.on('message', (v: unknown) => {
    const resolve = waiting[head]!;
    waiting[head++] = undefined as never;
    if (head === waiting.length) {
      waiting = [];
      head = 0;
    }
    resolve(v);
  });
  return (x) =>
    new Promise((resolve) => {
      waiting.push(resolve);
      port.postMessage(x);
    });
}
