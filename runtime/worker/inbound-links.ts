/**
 * Inside a replica: the callee's ends of direct links. Calls that arrive over a link were
 * admitted by their caller on this replica's slot (slot-table.ts); the replica runs them like
 * calls from the main thread and answers over the same link.
 */
import type { MessagePort } from 'node:worker_threads';
import { BadCallError, serializeError } from '../shared/errors.ts';
import { PortWriter } from '../shared/port-writer.ts';
import type { LinkCall, LinkReply } from '../shared/protocol.ts';

/** Where an answer goes: the main thread's port or one link's. Both are synchronous: the answer is queued. */
export interface AnswerSink {
  ok(id: number, v: unknown): void;
  fail(id: number, e: unknown): void;
}

/**
 * Sends answers over a port writer. A result that cannot cross threads faithfully (a class
 * instance, a function) is answered with BAD_CALL naming where it is in the result.
 */
export function answerOver<M extends { k: string }>(writer: PortWriter<M>, deployment: string): AnswerSink {
  const fail = (id: number, e: unknown) => {
    writer.send({ k: 'res', id, ok: false, e: serializeError(e) } as unknown as M);
  };
  return {
    ok: (id, v) => {
      const problem = writer.send({ k: 'res', id, ok: true, v } as unknown as M, v);
      if (problem !== undefined) fail(id, new BadCallError(`the result of a call to deployment "${deployment}": result${problem}`));
    },
    fail,
  };
}

/** The clone-error handler for answer writers: the caller still gets an answer, as BAD_CALL. */
export function failUncloneableResult<M extends { k: string }>(deployment: string, writer: () => PortWriter<M>) {
  return (m: M, err: Error): void => {
    const res = m as unknown as { k: string; id: number };
    if (res.k !== 'res') return;
    const e = new BadCallError(`the result of a call to deployment "${deployment}" cannot be sent between threads: ${err.message}`);
    writer().send({ k: 'res', id: res.id, ok: false, e: serializeError(e) } as unknown as M);
  };
}

export class InboundLinks {
  private readonly writers = new Set<PortWriter<LinkReply>>();
  private readonly ports = new Set<MessagePort>();
  private models: string[] | undefined;

  constructor(
    private readonly deployment: string,
    private readonly run: (call: LinkCall, sink: AnswerSink) => void,
  ) {}

  /** A caller replica's link: serve what comes in over it until either side closes it. */
  accept(port: MessagePort): void {
    const writer: PortWriter<LinkReply> = new PortWriter<LinkReply>(
      port,
      failUncloneableResult(this.deployment, () => writer),
    );
    const sink = answerOver(writer, this.deployment);
    this.writers.add(writer);
    this.ports.add(port);
    port.on('message', (batch: LinkCall[]) => {
      for (const call of batch) this.run(call, sink);
    });
    port.on('close', () => {
      writer.close();
      this.writers.delete(writer);
      this.ports.delete(port);
    });
    // A caller that links after models were loaded learns them at once.
    if (this.models) writer.send({ k: 'models', ids: this.models });
  }

  /** Tells every caller which multiplexed models this replica holds now. */
  reportModels(ids: string[]): void {
    this.models = ids;
    for (const w of this.writers) w.send({ k: 'models', ids });
  }

  closeAll(): void {
    for (const w of this.writers) w.close();
    for (const p of this.ports) p.close();
    this.writers.clear();
    this.ports.clear();
  }
}
