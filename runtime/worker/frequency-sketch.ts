/**
 * How often each model id has been asked for lately, in constant memory: a count-min sketch
 * (TinyLFU's frequency filter). Each id bumps one counter in each of DEPTH rows; its estimate
 * is the smallest of them, so collisions can only over-count, never hide a popular id.
 *
 * Aging: after `sampleSize` recorded requests every counter is halved, so a model that was hot
 * an hour ago does not keep its slot against today's traffic, while the ranking of models
 * that stay popular survives the halving.
 */
const DEPTH = 4;
/** Counters saturate here: past it the exact count does not change a comparison that matters. */
const MAX_COUNT = 0xffff;

/** FNV-1a over the UTF-16 code units: cheap, deterministic, spreads short ids like "DE" well. */
function fnv1a(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // A final avalanche so that ids differing in their last character land far apart.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

export class FrequencySketch {
  private readonly table: Uint16Array;
  private readonly mask: number;
  private additions = 0;
  /** Times the counters were halved (for tests and stats). */
  agings = 0;

  /**
   * @param width counters per row (rounded up to a power of two); a few times the number of
   *   distinct ids expected keeps collisions rare.
   * @param sampleSize recorded requests between two halvings.
   */
  constructor(
    width: number,
    readonly sampleSize: number,
  ) {
    if (!Number.isInteger(width) || width < 1) throw new RangeError(`FrequencySketch width must be a positive integer, got ${width}`);
    if (!Number.isInteger(sampleSize) || sampleSize < 1) throw new RangeError(`FrequencySketch sampleSize must be a positive integer, got ${sampleSize}`);
    let w = 1;
    while (w < width) w *= 2;
    this.mask = w - 1;
    this.table = new Uint16Array(w * DEPTH);
  }

  /** Counts one request for `id`; halves every counter once `sampleSize` have been counted. */
  record(id: string): void {
    const h1 = fnv1a(id, 0);
    const h2 = fnv1a(id, 0x9e3779b9) | 1;
    const w = this.mask + 1;
    for (let row = 0; row < DEPTH; row++) {
      const i = row * w + ((h1 + Math.imul(row, h2)) & this.mask);
      if (this.table[i]! < MAX_COUNT) this.table[i]!++;
    }
    if (++this.additions >= this.sampleSize) this.age();
  }

  /** The estimated recent request count of `id` (never below the truth since the last aging). */
  estimate(id: string): number {
    const h1 = fnv1a(id, 0);
    const h2 = fnv1a(id, 0x9e3779b9) | 1;
    const w = this.mask + 1;
    let min = MAX_COUNT;
    for (let row = 0; row < DEPTH; row++) {
      const c = this.table[row * w + ((h1 + Math.imul(row, h2)) & this.mask)]!;
      if (c < min) min = c;
    }
    return min;
  }

  private age(): void {
    for (let i = 0; i < this.table.length; i++) this.table[i] = this.table[i]! >>> 1;
    this.additions = Math.floor(this.additions / 2);
    this.agings++;
  }
}
