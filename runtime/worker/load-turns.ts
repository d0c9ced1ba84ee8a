/**
 * A multiplexed cache's turns to load a model: one load at a time in this replica (they block
 * its thread anyway, and loads started together would all be resident together), then one of
 * the deployment's `maxConcurrentLoads` turns, shared by all its replicas through the slot
 * table (call-context's takeLoadTurn). The deployment's turn is taken second, so a load that
 * waits behind this replica's own holds no turn another replica could use.
 */
import { takeLoadTurn } from './call-context.ts';
import { checkMaxConcurrentLoads, defaultMaxConcurrentLoads } from './model-cache-options.ts';
import { Semaphore } from './semaphore.ts';

export class LoadTurns {
  private readonly own = new Semaphore(1);
  private max: number;

  constructor(maxConcurrentLoads: number | undefined) {
    this.max = checkMaxConcurrentLoads(maxConcurrentLoads ?? defaultMaxConcurrentLoads());
  }

  get maxConcurrentLoads(): number {
    return this.max;
  }

  /** Give every replica of the deployment the same value. */
  setMaxConcurrentLoads(n: number): void {
    this.max = checkMaxConcurrentLoads(n);
  }

  /** Waits for both turns; resolves with the function that gives them back. */
  async take(): Promise<() => void> {
    const own = await this.own.acquire();
    const deployment = await takeLoadTurn(this.max);
    return () => {
      deployment();
      own();
    };
  }
}
