/**
 * Writes messages to a MessagePort, coalescing everything sent in one microtask into one
 * postMessage (with one transfer list). A raw postMessage costs tens of microseconds; under
 * pipelined load most of that is paid once per batch instead of once per call.
 */
import type { MessagePort } from 'node:worker_threads';
import { collectTransferables } from './transfer.ts';

export class PortWriter<M> {
  private batch: M[] = [];
  private transfer = new Set<ArrayBuffer>();
  private scheduled = false;
  private closed = false;

  /** `onCloneError` hears of each message that could not be cloned, so its caller can fail it. */
  constructor(
    private readonly port: MessagePort,
    private readonly onCloneError: (message: M, err: Error) => void,
  ) {}

  /** Queues a message; `payload` is scanned for buffers to move instead of copy. */
  send(message: M, payload?: unknown): void {
    if (this.closed) return;
    if (payload !== undefined) collectTransferables(payload, this.transfer);
    this.batch.push(message);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.closed || this.batch.length === 0) return;
    const batch = this.batch;
    const transfer = this.transfer.size ? [...this.transfer] : undefined;
    this.batch = [];
    this.transfer = new Set();
    try {
      this.port.postMessage(batch, transfer);
    } catch (err) {
      // A value that cannot be cloned (a function, a symbol...) fails the whole postMessage
      // and moves nothing; resend one by one so only the offending message fails.
      for (const m of batch) {
        try {
          this.port.postMessage([m]);
        } catch (one) {
          this.onCloneError(m, one instanceof Error ? one : new Error(String(one)));
        }
      }
      void err;
    }
  };

  close(): void {
    this.closed = true;
    this.batch = [];
  }
}
