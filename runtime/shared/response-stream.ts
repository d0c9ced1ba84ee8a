/**
 * The consumer's side of a stream (stream-wire.ts): what a handle call to a streaming method
 * gives, on the main thread or inside a replica. It reads chunks as they come, gives credit
 * back as they are consumed, and cancels the producer (its generator's `return()` runs in the
 * replica, and the replica's slot is freed) when the consumer stops early, the deadline passes,
 * or `cancel()` is called.
 *
 * A stream nobody has read yet can be handed on whole: a replica that returns it (an ingress
 * returning a model's stream) passes the port on, so the chunks go from the producer straight
 * to the final consumer.
 */
import type { MessagePort } from 'node:worker_threads';
import { BadCallError, ReplicaDiedError, TimeoutError, deserializeError } from './errors.ts';
import { CANCEL, STREAM_WINDOW } from './stream-wire.ts';
import type { StreamMarker, StreamMessage } from './stream-wire.ts';

type State = 'new' | 'open' | 'ended' | 'failed' | 'done' | 'moved';

/** What reads a stream needs: the chunks, and a way to stop the producer. */
export interface ChunkStream<T> extends AsyncIterableIterator<T> {
  /** Stops reading (what `for await` calls on break): the producer is cancelled unless it ended. */
  return(): Promise<IteratorResult<T>>;
  /** Stops the stream: the producer's generator is returned; chunks not read are dropped. */
  cancel(): Promise<void>;
  /**
   * Reads, without waiting, the chunks that have already arrived (none if none has): a writer
   * that is behind the producer sends them in one write instead of one write per chunk.
   */
  takeArrived(): T[];
}

/**
 * A stream dropped without being read or cancelled would keep its producer waiting for credit
 * (and its replica's slot taken) forever: when the garbage collector takes it, cancel it.
 */
const dropped = new FinalizationRegistry<MessagePort>((port) => {
  try {
    port.postMessage(CANCEL);
    port.close();
  } catch {
    // Already closed.
  }
});

export class ResponseStream<T = unknown> implements ChunkStream<T> {
  private readonly buffer: T[] = [];
  private state: State = 'new';
  private error: Error | undefined;
  private waiters: Array<() => void> = [];
  /** Chunks consumed since credit was last sent. */
  private unacked = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Epoch ms after which the stream is cancelled with a TimeoutError (handed on with the port). */
  private deadline: number | undefined;

  private constructor(
    private readonly port: MessagePort,
    /** The deployment producing the stream. */
    readonly deployment: string,
  ) {
    dropped.register(this, port, this);
  }

  /** The consumer of a stream marker that arrived as the answer to a call. */
  static fromMarker<T>(marker: StreamMarker): ResponseStream<T> {
    const s = new ResponseStream<T>(marker.__threadserveStream, marker.d);
    if (marker.dl !== undefined) s.expireAt(marker.dl);
    return s;
  }

  /** Whether the stream can still be handed on whole (nothing read from it yet). */
  get movable(): boolean {
    return this.state === 'new';
  }

  /**
   * Hands the stream on: the marker (with the port, which moves with it) goes to the next
   * consumer, and this object can no longer be read. Only while `movable`.
   */
  move(): StreamMarker {
    this.state = 'moved';
    dropped.unregister(this);
    clearTimeout(this.timer);
    return this.deadline === undefined
      ? { __threadserveStream: this.port, d: this.deployment }
      : { __threadserveStream: this.port, d: this.deployment, dl: this.deadline };
  }

  /** Cancels the stream at epoch ms `at` (the call's timeout), unless an earlier deadline holds. */
  expireAt(at: number): void {
    if (this.deadline !== undefined && this.deadline <= at) return;
    if (this.state !== 'new' && this.state !== 'open') return;
    this.deadline = at;
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.stopProducer();
        this.fail(new TimeoutError(`the stream from deployment "${this.deployment}" passed its deadline and was cancelled`));
      },
      Math.max(0, at - Date.now()),
    );
  }

  async next(): Promise<IteratorResult<T>> {
    for (;;) {
      if (this.state === 'new') this.open();
      if (this.buffer.length > 0) {
        const value = this.buffer.shift()!;
        this.consumed(1);
        return { value, done: false };
      }
      switch (this.state) {
        case 'failed': {
          const err = this.error!;
          this.finish();
          throw err;
        }
        case 'ended':
        case 'done':
          this.finish();
          return { value: undefined, done: true };
        case 'moved':
          throw new BadCallError(`the stream from deployment "${this.deployment}" was handed on (returned from a call) and cannot be read here`);
        default:
          await new Promise<void>((resolve) => this.waiters.push(resolve));
      }
    }
  }

  takeArrived(): T[] {
    if (this.buffer.length === 0) return [];
    const arrived = this.buffer.splice(0);
    this.consumed(arrived.length);
    return arrived;
  }

  /** Gives the producer credit for what was read, half a window at a time (one message per half window). */
  private consumed(n: number): void {
    this.unacked += n;
    if (this.unacked >= STREAM_WINDOW / 2 && this.state === 'open') {
      this.port.postMessage(this.unacked);
      this.unacked = 0;
    }
  }

  /** Stops reading: the producer's generator is returned and its replica's slot freed. */
  async return(): Promise<IteratorResult<T>> {
    this.stopProducer();
    this.finish();
    return { value: undefined, done: true };
  }

  /** Same as `return()`: what `for await` calls when its body throws. */
  async throw(): Promise<IteratorResult<T>> {
    return this.return();
  }

  /** Cancels the stream (the producer stops); chunks not read yet are dropped. */
  async cancel(): Promise<void> {
    await this.return();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private open(): void {
    this.state = 'open';
    this.port.on('message', (batch: StreamMessage[]) => {
      for (const m of batch) {
        if (m[0] === 0) this.buffer.push(m[1] as T);
        else if (m[0] === 1) this.settle('ended');
        else this.fail(deserializeError(m[1]));
      }
      this.wakeAll();
    });
    this.port.on('close', () => {
      if (this.state !== 'open') return;
      this.fail(new ReplicaDiedError(`the stream from deployment "${this.deployment}" broke off: the replica producing it stopped`));
    });
  }

  private stopProducer(): void {
    if (this.state !== 'new' && this.state !== 'open') return;
    try {
      this.port.postMessage(CANCEL);
    } catch {
      // The port is already closed: the producer is gone, nothing to cancel.
    }
  }

  private fail(err: Error): void {
    if (this.state !== 'new' && this.state !== 'open') return;
    this.error = err;
    this.settle('failed');
  }

  private settle(state: 'ended' | 'failed'): void {
    if (this.state !== 'new' && this.state !== 'open') return;
    this.state = state;
    clearTimeout(this.timer);
    this.wakeAll();
  }

  private wakeAll(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private finish(): void {
    if (this.state === 'moved' || this.state === 'done') return;
    this.state = 'done';
    dropped.unregister(this);
    this.buffer.length = 0;
    clearTimeout(this.timer);
    this.port.close();
    this.wakeAll();
  }
}

/** The same stream with each chunk passed through `fn` (an encoder, say); cancelling it cancels the source. */
export function mapChunks<T, U>(source: ChunkStream<T>, fn: (chunk: T) => U): ChunkStream<U> {
  const mapped: ChunkStream<U> = {
    async next() {
      const r = await source.next();
      return r.done ? { value: undefined, done: true } : { value: fn(r.value), done: false };
    },
    async return() {
      await source.return();
      return { value: undefined, done: true };
    },
    cancel: () => source.cancel(),
    takeArrived: () => source.takeArrived().map(fn),
    [Symbol.asyncIterator]: () => mapped,
  };
  return mapped;
}
