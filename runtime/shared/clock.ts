/**
 * The clock that time-driven policies (batch formation, timeouts) read and schedule with.
 * Policies take a Clock instead of calling Date.now/setTimeout themselves so tests can drive
 * time by hand (see test/fixtures/fake-clock.ts) and never sleep. Shared because both sides
 * have time-driven policies; it imports nothing.
 */
export interface Clock {
  /** Milliseconds on a monotonic scale; only differences are meaningful. */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds; returns a handle for clearTimeout. */
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * The real clock. performance.now() rather than Date.now(): a wall-clock step (NTP, a VM
 * resume) must not make a waiting batch fire early or hang. Timers stay ref'd: a caller
 * awaiting a batch outside a replica (a script, a unit test) must not see the process exit
 * under it before the batch runs.
 */
export const realClock: Clock = Object.freeze({
  now: () => performance.now(),
  setTimeout: (fn: () => void, ms: number): unknown => setTimeout(fn, ms),
  clearTimeout: (handle: unknown): void => clearTimeout(handle as ReturnType<typeof setTimeout>),
});
