/**
 * Quantiles of bucketed latency distributions, the way Prometheus's `histogram_quantile`
 * estimates them: find the bucket holding the q-th observation and interpolate linearly
 * between its edges. Exact enough for a chart, and it needs only counts per bucket, which
 * is what /metrics keeps (no per-request samples are stored anywhere).
 */

/**
 * `counts[i]` observations fell in `(bounds[i-1], bounds[i]]` (the first bucket starts at 0);
 * `counts[bounds.length]`, when present, holds the ones above the last bound, reported as that
 * bound (the histogram cannot say more). Null when there are no observations.
 */
export function bucketQuantile(q: number, bounds: readonly number[], counts: ArrayLike<number>): number | null {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (total <= 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < bounds.length; i++) {
    const c = counts[i]!;
    if (c > 0 && seen + c >= rank) {
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      return lower + ((bounds[i]! - lower) * Math.max(0, rank - seen)) / c;
    }
    seen += c;
  }
  return bounds[bounds.length - 1] ?? null;
}

/** Per-bucket counts from Prometheus's cumulative ones (`le` buckets) plus the total count. */
export function fromCumulative(cumulative: readonly number[], count: number): number[] {
  const counts = cumulative.map((c, i) => c - (i === 0 ? 0 : cumulative[i - 1]!));
  counts.push(count - (cumulative[cumulative.length - 1] ?? 0));
  return counts;
}
