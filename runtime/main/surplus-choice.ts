/**
 * Which replicas go when a deployment shrinks. A pure function so the order is tested alone.
 *
 * Replicas still starting go first (they hold no calls and no warm state), then the least busy
 * (fewest calls in flight: the drain is shortest and the fewest calls wait on a stopping
 * thread), then the ones holding fewer multiplexed models (the others keep their caches warm),
 * then the newest (older ones have warmed JIT and caches longer).
 */
export interface SurplusCandidate {
  readonly state: string;
  readonly inFlight: number;
  readonly models: { readonly size: number };
  readonly startedAt: number;
}

export function chooseSurplus<T extends SurplusCandidate>(live: readonly T[], n: number): T[] {
  if (n <= 0) return [];
  const starting = (r: T) => (r.state === 'starting' ? 0 : 1);
  return [...live]
    .sort((a, b) => starting(a) - starting(b) || a.inFlight - b.inFlight || a.models.size - b.models.size || b.startedAt - a.startedAt)
    .slice(0, n);
}
