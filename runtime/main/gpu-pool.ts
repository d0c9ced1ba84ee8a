/**
 * The GPU room left while the process runs. `assignGpus` places the replicas a deployment
 * starts with; after that, replicas come and go (scaling, replacements), and each one takes
 * its share of a device here and gives it back when its thread is gone. Shares are counted in
 * the same integer units as `assignGpus`, so 3 x 1/3 fills a device exactly.
 */
import { UNITS } from './gpu.ts';

export class GpuPool {
  /** Free units per visible device, by position in `gpus`. */
  private readonly free: number[];
  private readonly releaseListeners: Array<() => void> = [];

  constructor(private readonly gpus: readonly number[]) {
    this.free = gpus.map(() => UNITS);
  }

  /** Marks a share placed by `assignGpus` as used. */
  reserve(ids: readonly number[], numGpus: number): void {
    const units = this.unitsPerDevice(numGpus);
    for (const id of ids) {
      const d = this.gpus.indexOf(id);
      if (d >= 0) this.free[d] = Math.max(0, this.free[d]! - units);
    }
  }

  /**
   * Device ids for one more replica of `numGpus` (first fit: the lowest device with room), or
   * undefined when no device has room. A replica without GPUs gets [].
   */
  take(numGpus: number): number[] | undefined {
    if (numGpus === 0) return [];
    if (numGpus >= 1) {
      const picked: number[] = [];
      for (let d = 0; d < this.free.length && picked.length < numGpus; d++) if (this.free[d] === UNITS) picked.push(d);
      if (picked.length < numGpus) return undefined;
      for (const d of picked) this.free[d] = 0;
      return picked.map((d) => this.gpus[d]!);
    }
    const units = this.unitsPerDevice(numGpus);
    const d = this.free.findIndex((f) => f >= units);
    if (d < 0) return undefined;
    this.free[d]! -= units;
    return [this.gpus[d]!];
  }

  /** A replica's thread is gone: its share is free again, and whoever waits for room hears of it. */
  give(ids: readonly number[], numGpus: number): void {
    if (ids.length === 0) return;
    const units = this.unitsPerDevice(numGpus);
    for (const id of ids) {
      const d = this.gpus.indexOf(id);
      if (d >= 0) this.free[d] = Math.min(UNITS, this.free[d]! + units);
    }
    for (const l of this.releaseListeners) l();
  }

  onRelease(listener: () => void): void {
    this.releaseListeners.push(listener);
  }

  /** Free share per device id (for status). */
  freeShares(): Record<number, number> {
    return Object.fromEntries(this.gpus.map((id, d) => [id, this.free[d]! / UNITS]));
  }

  private unitsPerDevice(numGpus: number): number {
    return numGpus >= 1 ? UNITS : Math.round(numGpus * UNITS);
  }
}
