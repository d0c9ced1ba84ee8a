/**
 * One budget per process for memory that requests make the server allocate: decoded image
 * pixels, request tensors. A request's bytes are admitted before they are allocated (an image's
 * size comes from its header, before decoding) and released when the work is done. Over the
 * budget, a request waits up to `memoryWaitS` for others to release, then fails with
 * OVER_MEMORY_BUDGET (503 + Retry-After); one that could never fit fails at once with 413.
 *
 * Every thread of the process sees the same numbers: the counters live in a SharedArrayBuffer
 * that the main thread creates and hands to each replica thread in its workerData, and a
 * waiting request sleeps on `Atomics.waitAsync` until a release wakes it.
 */
import { isMainThread, workerData } from 'node:worker_threads';
import { codedError } from './error-codes.ts';

/** Slots of the shared Int32Array. Sizes are in KiB, so an Int32 holds up to 2 TiB. */
const USED = 0;
const LIMIT = 1;
const WAIT_MS = 2;
const WAKE = 3;
const PEAK = 4;
const WAITING = 5;
const SLOTS = 6;

export const MEMORY_BUDGET_DEFAULTS = Object.freeze({ budgetMb: 512, waitS: 5 });

const GLOBAL = Symbol.for('threadserve.memoryBudget');
type Holder = { [GLOBAL]?: Int32Array };

function fromWorkerData(): Int32Array | undefined {
  const sab = (workerData as { threadserveMemoryBudget?: unknown } | null)?.threadserveMemoryBudget;
  return sab instanceof SharedArrayBuffer ? new Int32Array(sab) : undefined;
}

/**
 * The process's counters: in a replica, the main thread's (from workerData); on the main thread,
 * created on first use with the defaults. Kept on globalThis so that two copies of this module
 * in one thread agree.
 */
function counters(): Int32Array {
  const g = globalThis as Holder;
  if (g[GLOBAL]) return g[GLOBAL];
  let c = isMainThread ? undefined : fromWorkerData();
  if (!c) {
    c = new Int32Array(new SharedArrayBuffer(SLOTS * 4));
    c[LIMIT] = MEMORY_BUDGET_DEFAULTS.budgetMb * 1024;
    c[WAIT_MS] = MEMORY_BUDGET_DEFAULTS.waitS * 1000;
  }
  g[GLOBAL] = c;
  return c;
}

/** Sets the process's budget (serve.run does, before replicas start); returns the buffer replicas get. */
export function configureMemoryBudget(budgetMb: number, waitS: number): SharedArrayBuffer {
  const c = counters();
  Atomics.store(c, LIMIT, Math.round(budgetMb * 1024));
  Atomics.store(c, WAIT_MS, Math.round(waitS * 1000));
  return c.buffer as SharedArrayBuffer;
}

/** The buffer to hand to a replica thread (workerData.threadserveMemoryBudget). */
export function memoryBudgetBuffer(): SharedArrayBuffer {
  return counters().buffer as SharedArrayBuffer;
}

export interface MemoryBudgetStats {
  budgetBytes: number;
  usedBytes: number;
  /** Most bytes admitted at once since the process started. */
  peakBytes: number;
  /** Requests waiting for room now. */
  waiting: number;
}

export function memoryBudgetStats(): MemoryBudgetStats {
  const c = counters();
  return {
    budgetBytes: Atomics.load(c, LIMIT) * 1024,
    usedBytes: Atomics.load(c, USED) * 1024,
    peakBytes: Atomics.load(c, PEAK) * 1024,
    waiting: Atomics.load(c, WAITING),
  };
}

/** Bytes admitted against the budget; `release()` gives them back (a second call does nothing). */
export interface MemoryLease {
  readonly bytes: number;
  release(): void;
}

/** Atomics.waitAsync (in Node since 16; typed only in TypeScript's es2024 lib). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(a: Int32Array, index: number, value: number, timeoutMs: number): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

const mib = (kib: number) => `${(kib / 1024).toFixed(kib < 10 * 1024 ? 1 : 0)} MiB`;

function tryTake(c: Int32Array, kib: number): boolean {
  for (;;) {
    const used = Atomics.load(c, USED);
    if (used + kib > Atomics.load(c, LIMIT)) return false;
    if (Atomics.compareExchange(c, USED, used, used + kib) === used) {
      const total = used + kib;
      for (let peak = Atomics.load(c, PEAK); total > peak; peak = Atomics.load(c, PEAK)) {
        if (Atomics.compareExchange(c, PEAK, peak, total) === peak) break;
      }
      return true;
    }
  }
}

function lease(c: Int32Array, bytes: number, kib: number): MemoryLease {
  let held = true;
  return {
    bytes,
    release() {
      if (!held) return;
      held = false;
      Atomics.sub(c, USED, kib);
      Atomics.add(c, WAKE, 1);
      Atomics.notify(c, WAKE);
    },
  };
}

/**
 * Admits `bytes` for `what` (named in errors: "a 4096x4096 image"). Resolves with a lease once
 * there is room; waits up to the budget's wait time; fails with 413 if the bytes alone are over
 * the whole budget, with 503 OVER_MEMORY_BUDGET + Retry-After if no room came in time.
 */
export async function admitMemory(bytes: number, what: string): Promise<MemoryLease> {
  if (!Number.isFinite(bytes) || bytes < 0) throw new RangeError(`admitMemory: bytes must be a non-negative number, got ${bytes}`);
  const c = counters();
  const kib = Math.ceil(bytes / 1024);
  const limit = Atomics.load(c, LIMIT);
  if (kib > limit) {
    throw codedError('BODY_TOO_LARGE', `${what} needs ${mib(kib)} of memory, more than the server's whole memory budget of ${mib(limit)} (memoryBudgetMb)`);
  }
  if (tryTake(c, kib)) return lease(c, bytes, kib);
  const waitMs = Atomics.load(c, WAIT_MS);
  const deadline = Date.now() + waitMs;
  Atomics.add(c, WAITING, 1);
  try {
    for (;;) {
      const seen = Atomics.load(c, WAKE);
      if (tryTake(c, kib)) return lease(c, bytes, kib);
      const left = deadline - Date.now();
      if (left <= 0) break;
      const w = waitAsync(c, WAKE, seen, left);
      if (w.async) await w.value;
    }
  } finally {
    Atomics.sub(c, WAITING, 1);
  }
  const retryAfterS = Math.max(1, Math.ceil(waitMs / 1000));
  throw codedError(
    'OVER_MEMORY_BUDGET',
    `the server is at its memory budget (${mib(limit)} in flight); ${what} (${mib(kib)}) waited ${waitMs / 1000} s for room`,
    { retryAfterS },
  );
}
