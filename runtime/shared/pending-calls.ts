/**
 * Calls sent to another thread and waiting for their answers, by id: the main thread's side of
 * a replica, a caller's side of a direct link, and a replica's calls relayed by the main
 * thread all keep one of these. An answer carries the error serialized (errors.ts), or a
 * stream's marker (stream-wire.ts), which becomes the ResponseStream the caller reads.
 */
import { deserializeError } from './errors.ts';
import type { SerializedError } from './errors.ts';
import { ResponseStream } from './response-stream.ts';
import { isStreamMarker } from './stream-wire.ts';

export type Answer = { id: number; ok: true; v: unknown } | { id: number; ok: false; e: SerializedError };

interface Waiting<X> {
  resolve(v: unknown): void;
  reject(e: Error): void;
  tag: X;
}

export class PendingCalls<X = undefined> {
  private next = 1;
  private readonly waiting = new Map<number, Waiting<X>>();

  /** A fresh call id. */
  id(): number {
    return this.next++;
  }

  /** Waits for the answer to call `id`; `tag` comes back from settle(). */
  wait(id: number, tag: X): Promise<unknown> {
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject, tag }));
  }

  /** Settles the call an answer is for; returns its tag, or undefined for an unknown id. */
  settle(answer: Answer): { tag: X } | undefined {
    return answer.ok ? this.settleWith(answer.id, true, answer.v) : this.settleWith(answer.id, false, answer.e);
  }

  /** The same, from an answer's parts: `value` is the result, or the serialized error when not `ok`. */
  settleWith(id: number, ok: boolean, value: unknown): { tag: X } | undefined {
    const w = this.take(id);
    if (!w) return undefined;
    // A call that streams answers with its stream's port: the caller gets the stream to read.
    if (ok) w.resolve(isStreamMarker(value) ? ResponseStream.fromMarker(value) : value);
    else w.reject(deserializeError(value as SerializedError));
    return w;
  }

  /** Fails one call; returns its tag, or undefined for an unknown id. */
  reject(id: number, err: Error): { tag: X } | undefined {
    const w = this.take(id);
    w?.reject(err);
    return w;
  }

  /** Fails every call still waiting; returns their tags. */
  rejectAll(err: Error): X[] {
    const all = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of all) w.reject(err);
    return all.map((w) => w.tag);
  }

  get size(): number {
    return this.waiting.size;
  }

  private take(id: number): Waiting<X> | undefined {
    const w = this.waiting.get(id);
    if (w) this.waiting.delete(id);
    return w;
  }
}
