/**
 * Inside a replica: the callee's ends of direct links. Calls that arrive over a link were
 * admitted by their caller on this replica's slot (slot-table.ts); the replica runs them like
 * calls from the main thread and answers over the same link.
 */
import type { MessagePort } from 'node:worker_threads';
import { BadCallError, serializeError } from '../shared/errors.ts';
import { PortWriter } from '../shared/port-writer.ts';
import type { SerializedError } from '../shared/errors.ts';
import type { FromReplica, LinkCallWire, LinkReply } from '../shared/protocol.ts';

/** Where an answer goes: the main thread's port or one link's. Both are synchronous: the answer is queued. */
export interface AnswerSink {
  ok(id: number, v: unknown): void;
  fail(id: number, e: unknown): void;
}

/** How answers look on one kind of port: objects to the main thread, arrays over links (protocol.ts). */
export interface AnswerCodec<M> {
  /** `value`: the result when `ok`, else the serialized error. */
  encode(id: number, ok: boolean, value: unknown): M;
  /** The call id when `m` is an answer; undefined for any other message. */
  answerId(m: M): number | undefined;
}

export const MAIN_ANSWERS: AnswerCodec<FromReplica> = {
  encode: (id, ok, value) => (ok ? { k: 'res', id, ok: true, v: value } : { k: 'res', id, ok: false, e: value as SerializedError }),
  answerId: (m) => (m.k === 'res' ? m.id : undefined),
};

export const LINK_ANSWERS: AnswerCodec<LinkReply> = {
  encode: (id, ok, value) => (ok ? [id, 1, value] : [id, 0, value as SerializedError]),
  answerId: (m) => (Array.isArray(m) ? m[0] : undefined),
};

/**
 * Sends answers over a port writer. A result that cannot cross threads faithfully (a class
 * instance, a function) is answered with BAD_CALL naming where it is in the result.
 */
export function answerOver<M>(writer: PortWriter<M>, codec: AnswerCodec<M>, deployment: string): AnswerSink {
  const fail = (id: number, e: unknown) => {
    writer.send(codec.encode(id, false, serializeError(e)));
  };
  return {
    ok: (id, v) => {
      const problem = writer.send(codec.encode(id, true, v), v);
      if (problem !== undefined) fail(id, new BadCallError(`the result of a call to deployment "${deployment}": result${problem}`));
    },
    fail,
  };
}

/** The clone-error handler for answer writers: the caller still gets an answer, as BAD_CALL. */
export function failUncloneableResult<M>(deployment: string, codec: AnswerCodec<M>, writer: () => PortWriter<M>) {
  return (m: M, err: Error): void => {
    const id = codec.answerId(m);
    if (id === undefined) return;
    const e = new BadCallError(`the result of a call to deployment "${deployment}" cannot be sent between threads: ${err.message}`);
    writer().send(codec.encode(id, false, serializeError(e)));
  };
}

export class InboundLinks {
  private readonly writers = new Set<PortWriter<LinkReply>>();
  private readonly ports = new Set<MessagePort>();
  private models: string[] | undefined;

  constructor(
    private readonly deployment: string,
    private readonly run: (id: number, method: string, args: unknown[], modelId: string | undefined, sink: AnswerSink) => void,
  ) {}

  /** A caller replica's link: serve what comes in over it until either side closes it. */
  accept(port: MessagePort): void {
    const writer: PortWriter<LinkReply> = new PortWriter<LinkReply>(
      port,
      failUncloneableResult(this.deployment, LINK_ANSWERS, () => writer),
    );
    const sink = answerOver(writer, LINK_ANSWERS, this.deployment);
    this.writers.add(writer);
    this.ports.add(port);
    port.on('message', (batch: LinkCallWire[]) => {
      for (const call of batch) this.run(call[0], call[1], call[2], call[3], sink);
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
