/**
 * A counting semaphore for async code in one thread: `acquire()` resolves with a release
 * function once one of `permits` is free; waiters are served first come, first served.
 */
export class Semaphore {
  private readonly waiters: Array<() => void> = [];

  constructor(private permits: number) {}

  async acquire(): Promise<() => void> {
    if (this.permits > 0) this.permits--;
    else await new Promise<void>((resolve) => this.waiters.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.permits++;
    };
  }
}
