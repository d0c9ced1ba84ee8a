/**
 * A one-way message ring between two threads over a SharedArrayBuffer: one writer, one reader.
 * Messages are msgpackr-encoded into the ring; the reader is woken with Atomics.notify only
 * when it has said it is going to sleep, so a reader that is already busy costs the writer a
 * copy and two atomic operations per message, and no system call.
 *
 * This is the transport spike measured by bench/transport/run.ts against a MessageChannel: it is
 * not what the runtime uses (see the README's "How calls travel" for why). Limits that a
 * runtime version would have to lift: a full ring throws (it would have to fall back to the
 * MessagePort, or wait for the reader); typed arrays are copied through the ring, never moved.
 *
 * Layout: Int32 header words [write position, read position, reader-sleeping flag], then the
 * data bytes. Positions are free-running byte counters (wrapping in 32 bits); a frame is a
 * 4-byte length and the encoded bytes, padded to 4 bytes so a length never straddles the end.
 */
import { Packr } from 'msgpackr';

const WRITE = 0;
const READ = 1;
const SLEEPING = 2;
const HEADER_BYTES = 16;

export interface RingBuffers {
  sab: SharedArrayBuffer;
  capacity: number;
}

/** A ring of `capacity` bytes (a power of two). */
export function createRing(capacity = 1 << 20): RingBuffers {
  if ((capacity & (capacity - 1)) !== 0 || capacity < 1024) throw new Error('ring capacity must be a power of two >= 1024');
  return { sab: new SharedArrayBuffer(HEADER_BYTES + capacity), capacity };
}

/** Atomics.waitAsync (ES2024), which this project's TypeScript lib target does not declare. */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(a: Int32Array, index: number, value: number): { async: boolean; value: Promise<string> | string };
  }
).waitAsync;

const packr = new Packr({ moreTypes: true, useRecords: false });

export class RingWriter {
  private readonly words: Int32Array;
  private readonly data: Uint8Array;
  private readonly lengths: DataView;
  private readonly mask: number;
  /** Wake-ups sent (the reader was asleep), for the bench's report. */
  notifies = 0;

  constructor(private readonly ring: RingBuffers) {
    this.words = new Int32Array(ring.sab, 0, HEADER_BYTES / 4);
    this.data = new Uint8Array(ring.sab, HEADER_BYTES, ring.capacity);
    this.lengths = new DataView(ring.sab, HEADER_BYTES, ring.capacity);
    this.mask = ring.capacity - 1;
  }

  /** Encodes and appends one message; wakes the reader if it sleeps. */
  write(message: unknown): void {
    const bytes = packr.pack(message);
    const n = bytes.length;
    const frame = (4 + n + 3) & ~3;
    const w = Atomics.load(this.words, WRITE);
    const used = (w - Atomics.load(this.words, READ)) | 0;
    if (used + frame > this.ring.capacity) throw new Error(`ring full (${used} of ${this.ring.capacity} bytes waiting)`);
    const at = w & this.mask;
    this.lengths.setUint32(at, n, true);
    const start = (at + 4) & this.mask;
    const first = Math.min(n, this.ring.capacity - start);
    this.data.set(first === n ? bytes : bytes.subarray(0, first), start);
    if (first < n) this.data.set(bytes.subarray(first), 0);
    Atomics.store(this.words, WRITE, (w + frame) | 0);
    // The reader sets SLEEPING before its last look at WRITE; one of the two sees the other.
    if (Atomics.load(this.words, SLEEPING) === 1 && Atomics.compareExchange(this.words, SLEEPING, 1, 0) === 1) {
      this.notifies++;
      Atomics.notify(this.words, WRITE, 1);
    }
  }
}

export class RingReader {
  private readonly words: Int32Array;
  private readonly data: Uint8Array;
  private readonly lengths: DataView;
  private readonly mask: number;
  private scratch = Buffer.allocUnsafeSlow(4096);
  private stopped = false;
  /** Times the reader went to sleep, for the bench's report. */
  sleeps = 0;

  constructor(
    private readonly ring: RingBuffers,
    private readonly onMessage: (message: unknown) => void,
  ) {
    this.words = new Int32Array(ring.sab, 0, HEADER_BYTES / 4);
    this.data = new Uint8Array(ring.sab, HEADER_BYTES, ring.capacity);
    this.lengths = new DataView(ring.sab, HEADER_BYTES, ring.capacity);
    this.mask = ring.capacity - 1;
    // Not before the constructor returns: the writer may have written already, and the
    // owner's message handler may still be getting set up.
    queueMicrotask(() => void this.loop());
  }

  stop(): void {
    this.stopped = true;
    Atomics.notify(this.words, WRITE);
  }

  /** Reads every message there is; sleeps (without blocking the thread) until the writer writes more. */
  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.drain();
      Atomics.store(this.words, SLEEPING, 1);
      const w = Atomics.load(this.words, WRITE);
      if (w !== Atomics.load(this.words, READ)) {
        Atomics.store(this.words, SLEEPING, 0);
        continue;
      }
      this.sleeps++;
      const wait = waitAsync(this.words, WRITE, w);
      if (wait.async) await wait.value;
      Atomics.store(this.words, SLEEPING, 0);
    }
  }

  private drain(): void {
    let r = Atomics.load(this.words, READ);
    const w = Atomics.load(this.words, WRITE);
    while (r !== w) {
      const at = r & this.mask;
      const n = this.lengths.getUint32(at, true);
      const start = (at + 4) & this.mask;
      // Decode from a private copy: msgpackr may keep views into what it decodes, and the
      // ring's bytes are reused as soon as the read position moves on.
      if (this.scratch.length < n) this.scratch = Buffer.allocUnsafeSlow(Math.max(n, this.scratch.length * 2));
      const first = Math.min(n, this.ring.capacity - start);
      this.scratch.set(this.data.subarray(start, start + first), 0);
      if (first < n) this.scratch.set(this.data.subarray(0, n - first), first);
      r = (r + ((4 + n + 3) & ~3)) | 0;
      Atomics.store(this.words, READ, r);
      this.onMessage(packr.unpack(this.scratch.subarray(0, n)));
    }
  }
}
