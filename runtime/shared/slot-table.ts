/**
 * In-flight counts of one deployment's replicas, in shared memory, so that every caller (the
 * main thread's router and every replica that holds a handle) admits calls against the same
 * numbers and `maxOngoingRequests` holds exactly whoever calls.
 *
 * One Int32 word per replica slot: bits 0-15 count the calls admitted and not yet finished
 * (including calls still in transit to the replica), bit 16 says the slot takes no new calls
 * (draining, dead or free), bits 17-30 hold the slot's generation. A caller admits a call with
 * one compare-and-swap that checks all three at once, so a caller that still holds a stale
 * link to a slot reused by a newer replica can never count against the newer one.
 *
 * The replica releases its own count when a call finishes (before answering), the caller only
 * when the call never reached it (a value that could not be sent). Word 0 is the number of
 * calls waiting in the main thread's queue: while it is above zero, callers queue there too
 * (first come, first served across callers) and replicas tell the main thread when they free
 * a slot.
 *
 * After the count words come one word per slot that counts the model loads and unloads the
 * replica is running. onnxruntime creates and releases sessions synchronously on the replica's
 * thread, so a replica that loads cannot answer anything meanwhile: routers read this word to
 * keep warm calls away from it and to send other cold calls to a replica that is loading
 * anyway (replica-choice.ts).
 *
 * Word 1 and a third run of words, one per slot, are the deployment's load turns: model loads
 * running in any of its replicas (word 1), and how many of those each slot holds (so that a
 * replica that dies holding a turn gives it back). A load is CPU work that no other thread can
 * take over; capping the loads that run at once across the deployment leaves the other cores
 * to the calls whose models are loaded.
 */
const QUEUED = 0;
const LOADS = 1;
const HEADER_WORDS = 2;
/** How long a waiting load sleeps before it looks again without being woken (a lost wake-up costs at most this). */
const LOAD_TURN_RECHECK_MS = 50;
const COUNT_MASK = 0xffff;
const CLOSED = 1 << 16;
const GEN_SHIFT = 17;
const GEN_MASK = 0x3fff;
// maxOngoingRequests is validated to at most COUNT_MASK (options.ts), so a count never reaches the closed bit.

/** How many replicas one deployment can have alive at once (running, starting or draining). */
const MAX_SLOTS = 1024;

export class SlotTable {
  readonly words: Int32Array;
  /** Index of slot 0's loading word. */
  private readonly loadingBase: number;
  /** Index of slot 0's load-turn word. */
  private readonly turnsBase: number;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer);
    const slots = (this.words.length - HEADER_WORDS) / 3;
    this.loadingBase = HEADER_WORDS + slots;
    this.turnsBase = HEADER_WORDS + 2 * slots;
  }

  static create(slots = MAX_SLOTS): SlotTable {
    const t = new SlotTable(new SharedArrayBuffer((HEADER_WORDS + 3 * slots) * 4));
    for (let s = 0; s < slots; s++) t.words[HEADER_WORDS + s] = CLOSED;
    return t;
  }

  /** Calls in flight on a slot. */
  count(slot: number): number {
    return Atomics.load(this.words, HEADER_WORDS + slot) & COUNT_MASK;
  }

  /** Admits one call to the slot if it is open, of generation `gen`, and under `max`. */
  tryAcquire(slot: number, gen: number, max: number): boolean {
    const i = HEADER_WORDS + slot;
    const want = (gen & GEN_MASK) << GEN_SHIFT;
    for (;;) {
      const w = Atomics.load(this.words, i);
      if ((w & ~COUNT_MASK) !== want || (w & COUNT_MASK) >= max) return false;
      if (Atomics.compareExchange(this.words, i, w, w + 1) === w) return true;
    }
  }

  /**
   * One admitted call is over (finished, or never delivered). Checks the generation so that a
   * late release for a replica that is gone cannot lower a newer replica's count.
   */
  release(slot: number, gen: number): void {
    const i = HEADER_WORDS + slot;
    const want = (gen & GEN_MASK) << GEN_SHIFT;
    for (;;) {
      const w = Atomics.load(this.words, i);
      if ((w & ~COUNT_MASK & ~CLOSED) !== want || (w & COUNT_MASK) === 0) return;
      if (Atomics.compareExchange(this.words, i, w, w - 1) === w) return;
    }
  }

  /** Opens a slot for a new replica: count 0, generation `gen`, not loading. */
  open(slot: number, gen: number): void {
    Atomics.store(this.words, this.loadingBase + slot, 0);
    Atomics.store(this.words, HEADER_WORDS + slot, (gen & GEN_MASK) << GEN_SHIFT);
  }

  /** Model loads (and unloads) the slot's replica is running now. */
  loading(slot: number): number {
    return Atomics.load(this.words, this.loadingBase + slot);
  }

  /** The replica itself: +1 when a load or unload starts, -1 when it ends. */
  addLoading(slot: number, delta: number): void {
    Atomics.add(this.words, this.loadingBase + slot, delta);
  }

  /** Model loads running now in the deployment's replicas (holding a load turn). */
  get loadsRunning(): number {
    return Atomics.load(this.words, LOADS);
  }

  /**
   * Waits until fewer than `max` loads run in the deployment, then takes a turn for `slot`;
   * resolves with the function that gives it back. Turns are not queued in order: a woken
   * waiter races the others for the freed turn.
   */
  async takeLoadTurn(slot: number, max: number): Promise<() => void> {
    for (;;) {
      const running = Atomics.load(this.words, LOADS);
      if (running < max) {
        if (Atomics.compareExchange(this.words, LOADS, running, running + 1) !== running) continue;
        Atomics.add(this.words, this.turnsBase + slot, 1);
        let given = false;
        return () => {
          if (given) return;
          given = true;
          Atomics.sub(this.words, this.turnsBase + slot, 1);
          Atomics.sub(this.words, LOADS, 1);
          Atomics.notify(this.words, LOADS, 1);
        };
      }
      await Atomics.waitAsync(this.words, LOADS, running, LOAD_TURN_RECHECK_MS).value;
    }
  }

  /** The slot's replica is gone: the load turns it held are free (main thread). */
  dropLoadTurns(slot: number): void {
    const held = Atomics.exchange(this.words, this.turnsBase + slot, 0);
    if (held > 0) {
      Atomics.sub(this.words, LOADS, held);
      Atomics.notify(this.words, LOADS);
    }
  }

  /** No new calls for this slot; calls already admitted still count until they finish. */
  close(slot: number): void {
    Atomics.or(this.words, HEADER_WORDS + slot, CLOSED);
  }

  get queued(): number {
    return Atomics.load(this.words, QUEUED);
  }

  set queued(n: number) {
    Atomics.store(this.words, QUEUED, n);
  }
}

/** Hands out slot numbers and generations for one deployment's replicas (main thread only). */
export class SlotAllocator {
  private readonly free: number[] = [];
  private next = 0;
  private readonly gens = new Map<number, number>();

  constructor(private readonly capacity = MAX_SLOTS) {}

  take(): { slot: number; gen: number } {
    const slot = this.free.pop() ?? this.next++;
    if (slot >= this.capacity) throw new Error(`more than ${this.capacity} replicas of one deployment alive at once`);
    const gen = ((this.gens.get(slot) ?? 0) + 1) & GEN_MASK;
    this.gens.set(slot, gen);
    return { slot, gen };
  }

  /** The slot's replica is gone for good (stopped or dead); a later replica may reuse it. */
  give(slot: number): void {
    this.free.push(slot);
  }
}
