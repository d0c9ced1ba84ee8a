/**
 * Streams between threads: a deployment method that returns an async iterable (an async
 * generator, say) answers its call with a stream marker instead of a value. The marker carries
 * one end of a MessageChannel of the stream's own; chunks travel over it as they are produced,
 * and the consumer sends credit back, so a slow consumer pauses the producer after WINDOW
 * chunks in flight and memory stays bounded however fast the producer is.
 *
 * A channel per stream, rather than chunks multiplexed on the call ports: a stream lives long,
 * its port can move on to whoever consumes it (an ingress replica that returns a model's
 * stream hands the port to the main thread, and the chunks then skip the ingress thread), and
 * the end of either thread closes the channel, which both sides hear as the stream's end.
 */
import type { MessagePort } from 'node:worker_threads';
import type { SerializedError } from './errors.ts';

/** Chunks the producer may send ahead of the consumer before it waits for credit. */
export const STREAM_WINDOW = 16;

/** What a call that streams answers with: the consumer's end of the stream's channel. */
export interface StreamMarker {
  readonly __threadserveStream: MessagePort;
  /** The deployment that produces the stream (for error messages). */
  readonly d: string;
  /** Epoch ms when the stream is cancelled (the call's timeout), when it has one. */
  readonly dl?: number;
}

export function isStreamMarker(v: unknown): v is StreamMarker {
  return typeof v === 'object' && v !== null && (v as { __threadserveStream?: unknown }).__threadserveStream !== undefined;
}

/**
 * Producer to consumer, in batches (one postMessage per event-loop turn): a chunk, the end, or
 * the error that ended the stream.
 */
export type StreamMessage = [kind: 0, chunk: unknown] | [kind: 1] | [kind: 2, error: SerializedError];

/** Consumer to producer: a positive number is credit for that many more chunks; CANCEL stops the stream. */
export const CANCEL = -1;

/** Anything `for await` can read, except strings (iterable, but never meant as a stream). */
export function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}
