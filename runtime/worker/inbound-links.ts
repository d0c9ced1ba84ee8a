/**
 * Inside a replica: the callee's ends of direct links. Calls that arrive over a link were
 * admitted by their caller on this replica's slot (slot-table.ts); the replica runs them like
 * calls from the main thread and answers over the same link.
 */
import type { MessagePort } from 'node:worker_threads';
import { BadCallError, serializeError } from '../shared/errors.ts';
import { PortWriter } from '../shared/port-writer.ts';
import type { AnswerMessage, CallMessage, LinkReply, WireTrace } from '../shared/protocol.ts';

/** Where an answer goes: the main thread's port or one link's. Both are synchronous: the answer is queued. */
export interface AnswerSink {
  ok(id: number, v: unknown): void;
  fail(id: number, e: unknown): void;
}

/** What answering needs of a port writer (the main thread's or a link's). */
interface AnswerWriter {
  send(message: AnswerMessage, payload?: unknown): string | undefined;
}

/**
 * Sends answers over a port writer. A result that cannot cross threads faithfully (a class
 * instance, a function) is answered with BAD_CALL naming where it is in the result.
 */
export function answerOver(writer: AnswerWriter, deployment: string): AnswerSink {
  const fail = (id: number, e: unknown) => {
    writer.send([id, 0, serializeError(e)]);
  };
  return {
    ok: (id, v) => {
      const problem = writer.send([id, 1, v], v);
      if (problem !== undefined) fail(id, new BadCallError(`the result of a call to deployment "${deployment}": result${problem}`));
    },
    fail,
  };
}

/** The clone-error handler for answer writers: the caller still gets an answer, as BAD_CALL. */
export function failUncloneableResult(deployment: string, writer: () => AnswerWriter) {
  return (m: unknown, err: Error): void => {
    // Of the messages a replica sends, only answers are arrays (protocol.ts).
    if (!Array.isArray(m)) return;
    const e = new BadCallError(`the result of a call to deployment "${deployment}" cannot be sent between threads: ${err.message}`);
    writer().send([(m as AnswerMessage)[0], 0, serializeError(e)]);
  };
}

export class InboundLinks {
  private readonly writers = new Set<PortWriter<LinkReply>>();
  private readonly ports = new Set<MessagePort>();
  private models: string[] | undefined;

  constructor(
    private readonly deployment: string,
    private readonly run: (id: number, method: string, args: unknown[], modelId: string | undefined, trace: WireTrace | undefined, sink: AnswerSink) => void,
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
    port.on('message', (batch: CallMessage[]) => {
      for (const call of batch) this.run(call[0], call[1], call[2], call[3], call[4], sink);
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
