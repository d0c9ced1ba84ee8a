/**
 * Cache policies replayed on a Zipf request stream, in memory (no threads, no models), for
 * bench/multiplex/run.ts: what hit rate 2 replicas x 8 slots could reach, to set the measured hit
 * rate against. Pure and deterministic (seeded).
 *
 *   lru-random    each request to a random replica, LRU per replica (no model affinity at all)
 *   lru-affinity  each model always on the same replica (hash), LRU per replica
 *   lru-shared    one LRU of 16 slots (no duplicates: the best an affinity router can do with LRU)
 *   lfu-admit     affinity + LRU, but a model is only cached when it has been requested more
 *                 often than the victim it would evict (counts over the whole stream; a one-off
 *                 tail model is served and dropped instead of evicting a hot one)
 *   tinylfu-sketch affinity + LRU behind the admission ModelCache uses (FrequencySketch,
 *                 sized and aged as ModelCache sizes it for 8 slots)
 *   static-top    the 16 most popular models pinned (the Zipf top-16 share: the ceiling)
 */
import { zipfSampler, zipfTopShare } from '../lib/zipf.ts';
import { mulberry32 } from '../../examples/forecast/model-builder.ts';
import { FrequencySketch } from 'threadserve';

export interface SimResult {
  policy: string;
  hitRate: number;
}

class Lru {
  private readonly map = new Map<number, true>();
  constructor(private readonly size: number) {}
  /** True on a hit; on a miss the id is inserted (evicting the least recently used). */
  touch(id: number, admit: (victim: number) => boolean = () => true): boolean {
    if (this.map.has(id)) {
      this.map.delete(id);
      this.map.set(id, true);
      return true;
    }
    if (this.map.size >= this.size) {
      const victim = this.map.keys().next().value as number;
      if (!admit(victim)) return false;
      this.map.delete(victim);
    }
    this.map.set(id, true);
    return false;
  }
}

export function simulate(models: number, s: number, replicas: number, slots: number, requests = 200_000, seed = 7): SimResult[] {
  const next = zipfSampler(models, s, mulberry32(seed));
  const stream = Array.from({ length: requests }, next);
  const warm = Math.floor(requests / 10); // the first 10% warm the caches and are not counted
  const run = (policy: string, step: (id: number, i: number) => boolean): SimResult => {
    let hits = 0;
    stream.forEach((id, i) => {
      const hit = step(id, i);
      if (i >= warm && hit) hits++;
    });
    return { policy, hitRate: hits / (requests - warm) };
  };
  const random = mulberry32(seed + 1);
  const perReplica = () => Array.from({ length: replicas }, () => new Lru(slots));
  const home = (id: number) => (Math.imul(id + 1, 0x9e3779b1) >>> 0) % replicas;
  const out: SimResult[] = [];
  {
    const caches = perReplica();
    out.push(run('lru-random', (id) => caches[Math.floor(random() * replicas)]!.touch(id)));
  }
  {
    const caches = perReplica();
    out.push(run('lru-affinity', (id) => caches[home(id)]!.touch(id)));
  }
  {
    const cache = new Lru(replicas * slots);
    out.push(run('lru-shared', (id) => cache.touch(id)));
  }
  {
    const caches = perReplica();
    const counts = new Uint32Array(models);
    out.push(
      run('lfu-admit', (id) => {
        counts[id]!++;
        return caches[home(id)]!.touch(id, (victim) => counts[id]! > counts[victim]!);
      }),
    );
  }
  {
    const caches = perReplica();
    const width = Math.max(1024, 64 * slots);
    const sketches = Array.from({ length: replicas }, () => new FrequencySketch(width, 8 * width));
    out.push(
      run('tinylfu-sketch', (id) => {
        const r = home(id);
        const sketch = sketches[r]!;
        sketch.record(String(id));
        return caches[r]!.touch(id, (victim) => sketch.estimate(String(id)) > sketch.estimate(String(victim)));
      }),
    );
  }
  out.push({ policy: 'static-top', hitRate: zipfTopShare(models, s, replicas * slots) });
  return out;
}
