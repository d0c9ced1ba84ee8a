/**
 * Inside a replica: serves one stream (stream-wire.ts) from the async iterable a method
 * returned. Chunks go out as they are produced (coalesced per event-loop turn, typed arrays
 * moved), at most STREAM_WINDOW ahead of what the consumer has read; the producer waits for
 * credit beyond that. A cancel from the consumer, or the consumer's end of the channel closing
 * (its thread stopped), runs the iterator's `return()`, so a generator's `finally` blocks run.
 * `onEnd` runs once, after the iterator is finished or returned: the replica frees the call's
 * slot then.
 */
import { AsyncResource } from 'node:async_hooks';
import { MessageChannel } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { BadCallError, serializeError } from '../shared/errors.ts';
import { PortWriter } from '../shared/port-writer.ts';
import { CANCEL, STREAM_WINDOW } from '../shared/stream-wire.ts';
import type { StreamMarker, StreamMessage } from '../shared/stream-wire.ts';

export class StreamProducer {
  private credits = STREAM_WINDOW;
  private pumping = false;
  private over = false;
  private readonly writer: PortWriter<StreamMessage>;

  /** Starts serving `source`; the marker is what the call answers with (its port moves to the consumer). */
  static start(source: AsyncIterable<unknown>, deployment: string, onEnd: () => void): StreamMarker {
    const { port1, port2 } = new MessageChannel();
    new StreamProducer(source[Symbol.asyncIterator](), port1, deployment, onEnd);
    return { __threadserveStream: port2, d: deployment };
  }

  private constructor(
    private readonly it: AsyncIterator<unknown>,
    private readonly port: MessagePort,
    private readonly deployment: string,
    private readonly onEnd: () => void,
  ) {
    this.writer = new PortWriter<StreamMessage>(port, (_m, err) => void this.abandon(this.unsendable(`: ${err.message}`)));
    // Credit arrives in the port's own async context: resume the generator in the context it
    // was started in (the call's multiplexed model id and model leases, replica-host.ts).
    const pumpInContext = AsyncResource.bind(() => void this.pump());
    port.on('message', (n: number) => {
      if (n === CANCEL) void this.abandon(undefined);
      else {
        this.credits += n;
        pumpInContext();
      }
    });
    // The consumer's thread stopped (or it closed its end without a word): nobody will read.
    port.on('close', () => void this.abandon(undefined));
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.pumping || this.over) return;
    this.pumping = true;
    try {
      while (this.credits > 0 && !this.over) {
        const r = await this.it.next();
        if (this.over) return;
        if (r.done) {
          this.end([1]);
          return;
        }
        const problem = this.writer.send([0, r.value], r.value);
        if (problem !== undefined) {
          await this.abandon(this.unsendable(problem));
          return;
        }
        this.credits--;
      }
    } catch (err) {
      this.end([2, serializeError(err)]);
    } finally {
      this.pumping = false;
    }
  }

  private unsendable(problem: string): StreamMessage {
    const err = new BadCallError(`a chunk of the stream from deployment "${this.deployment}" cannot be sent between threads: chunk${problem}`);
    return [2, serializeError(err)];
  }

  /** Stops the iterator early (cancelled, consumer gone, or a chunk that cannot be sent), then ends. */
  private async abandon(last: StreamMessage | undefined): Promise<void> {
    if (this.over) return;
    this.over = true;
    try {
      await this.it.return?.();
    } catch {
      // A generator whose finally throws: nobody is left to tell but the end of the stream.
    }
    this.close(last);
  }

  private end(last: StreamMessage): void {
    if (this.over) return;
    this.over = true;
    this.close(last);
  }

  private close(last: StreamMessage | undefined): void {
    if (last !== undefined) this.writer.send(last);
    this.writer.close();
    this.port.close();
    this.onEnd();
  }
}
