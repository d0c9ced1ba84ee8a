/**
 * Zipf-distributed popularity, as model traffic tends to be: a few ids take most requests. The
 * load generator draws from it; the multiplexing report and the cache simulation use the shares.
 */

/** A sampler of indices 0..n-1 with P(k) proportional to 1/(k+1)^s. */
export function zipfSampler(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) cdf[k] = total += 1 / Math.pow(k + 1, s);
  return () => {
    const x = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** Share of requests that go to the `top` most popular of n ids under Zipf(s). */
export function zipfTopShare(n: number, s: number, top: number): number {
  let all = 0;
  let head = 0;
  for (let k = 1; k <= n; k++) {
    const w = 1 / Math.pow(k, s);
    all += w;
    if (k <= top) head += w;
  }
  return head / all;
}
