/**
 * Inside a replica: the handle calls it makes go straight to a replica of the target
 * deployment over a direct MessageChannel (a link), with no hop through the main thread.
 *
 * One TargetRouter per deployment the replica holds a handle to. It picks a linked replica the
 * way the main thread's router does (power of two choices on in-flight counts, replicas that
 * hold the multiplexed model and are not loading one first) on the counts every caller shares (slot-table.ts), and
 * admits the call with one compare-and-swap, so maxOngoingRequests holds exactly however many
 * replicas call at once. When no linked replica has room, or calls are already waiting in the
 * main thread's queue, the call goes to the main thread's router instead: that queue is the
 * one place calls wait, first come first served across callers, and where maxQueuedRequests
 * answers BACKPRESSURE.
 *
 * The main thread sends `link` when a replica of the target starts running (or this replica
 * starts while it runs) and `unlink` when it stops taking calls: draining (calls in flight
 * finish), or dead (calls in flight fail with REPLICA_DIED).
 */
import { receiveMessageOnPort } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { BadCallError, ReplicaDiedError } from '../shared/errors.ts';
import { PendingCalls } from '../shared/pending-calls.ts';
import type { CallOptions, HandleCall } from '../shared/handle.ts';
import { PortWriter } from '../shared/port-writer.ts';
import type { DirectCalls, FromReplica, CallMessage, LinkReply, TargetRef } from '../shared/protocol.ts';
import { chooseReplica, chooseReplicaForModel } from '../shared/replica-choice.ts';
import { SlotTable } from '../shared/slot-table.ts';
import { withTimeout } from '../shared/timeout.ts';
import { wireTrace } from '../shared/trace-context.ts';
import type { SpanRecord } from '../shared/trace-context.ts';
import { endWhenSettled } from './call-tracing.ts';
import type { CallTracing, Outbound } from './call-tracing.ts';

/** A call's send time; with its span's closer when the call is traced. */
type SentTag = number | { t0: number; end: NonNullable<Outbound['end']> };

/** Compare-and-swap races lost before the call goes to the main thread's queue instead. */
const ADMIT_ATTEMPTS = 4;

/** One direct link to one replica of the target deployment. */
class Link {
  models = new Set<string>();
  closing = false;
  private closed = false;
  /** Tagged with the time each call was sent, for the report of its duration. */
  private readonly pending = new PendingCalls<SentTag>();
  private readonly writer: PortWriter<CallMessage>;

  constructor(
    readonly replicaId: string,
    readonly slot: number,
    readonly gen: number,
    private readonly port: MessagePort,
    private readonly table: SlotTable,
    private readonly deployment: string,
    private readonly report: CallReporter,
  ) {
    this.writer = new PortWriter<CallMessage>(port, (m, err) => this.onCloneError(m, err));
    port.on('message', (batch: LinkReply[]) => {
      for (const msg of batch) this.onReply(msg);
    });
  }

  /** Read by the replica choice: calls in flight on this replica, from every caller. */
  get inFlight(): number {
    return this.table.count(this.slot);
  }

  /** Model loads or unloads running in the replica now (it counts them itself, in shared memory). */
  get loading(): number {
    return this.table.loading(this.slot);
  }

  /** Sends a call that was already admitted on this replica's slot. */
  call(method: string, args: unknown[], modelId: string | undefined, out: Outbound | undefined): Promise<unknown> {
    const trace = out?.trace;
    const id = this.pending.id();
    const msg: CallMessage =
      trace !== undefined ? [id, method, args, modelId, wireTrace(trace)] : modelId === undefined ? [id, method, args] : [id, method, args, modelId];
    const problem = this.writer.send(msg, args);
    if (problem !== undefined) {
      this.table.release(this.slot, this.gen);
      this.report(this.deployment, 0, false);
      const bad = new BadCallError(`arguments to ${this.deployment}.${method}(): args${problem}`);
      out?.end?.(bad, undefined);
      return Promise.reject(bad);
    }
    const t0 = performance.now();
    return this.pending.wait(id, out?.end === undefined ? t0 : { t0, end: out.end });
  }

  private onReply(msg: LinkReply): void {
    if (!Array.isArray(msg)) {
      this.models = new Set(msg.ids);
      return;
    }
    const ok = msg[1] === 1;
    const settled = this.pending.settleWith(msg[0], ok, msg[2]);
    if (!settled) return;
    this.settled(settled.tag, ok ? undefined : msg[2]);
    if (this.closing && this.pending.size === 0 && !this.closed) this.close();
  }

  /** The arguments could not be sent: the callee never saw the call, so its slot is given back here. */
  private onCloneError(m: CallMessage, err: Error): void {
    const failed = new BadCallError(`arguments to ${this.deployment}.${m[1]}() cannot be sent between threads: ${err.message}`);
    const gone = this.pending.reject(m[0], failed);
    if (!gone) return;
    this.table.release(this.slot, this.gen);
    this.settled(gone.tag, failed);
  }

  /** Reports a call's duration and outcome, and closes its span when it has one. */
  private settled(tag: SentTag, error: unknown): void {
    const traced = typeof tag !== 'number';
    this.report(this.deployment, (performance.now() - (traced ? tag.t0 : tag)) / 1000, error === undefined);
    if (traced) tag.end(error, this.replicaId);
  }

  /** No new calls; the link closes once the calls in flight are answered (or at once, failing them, if `died`). */
  retire(died: string | undefined): void {
    this.closing = true;
    if (died !== undefined) {
      // Answers the replica sent before it died may still sit in the port behind this news
      // (ports are read in no fixed order): take them first, fail only what never came back.
      for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
        for (const reply of m.message as LinkReply[]) this.onReply(reply);
      }
      const err = new ReplicaDiedError(died);
      for (const sent of this.pending.rejectAll(err)) this.settled(sent, err);
    }
    if (this.pending.size === 0) this.close();
  }

  get idle(): boolean {
    return this.pending.size === 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.writer.close();
    this.port.close();
  }
}

export class TargetRouter {
  private links: Link[] = [];
  /** Links to replicas that stopped taking calls but may still answer (or die) for calls in flight. */
  private retiring = new Set<Link>();
  private readonly table: SlotTable;
  private readonly maxOngoing: number;

  constructor(
    readonly deployment: string,
    ref: TargetRef,
    private readonly toMain: HandleCall,
    private readonly report: CallReporter,
    private readonly tracing: CallTracing,
  ) {
    this.table = new SlotTable(ref.table);
    this.maxOngoing = ref.maxOngoing;
  }

  readonly call: HandleCall = (method, args, options) => {
    const modelId = options.multiplexedModelId;
    const out = this.tracing.outbound(this.deployment, method);
    const link = this.admit(modelId);
    if (!link) return endWhenSettled(this.toMain(method, args, out ? { ...options, trace: out.trace } : options), out, () => undefined);
    // The link reports the call's duration and outcome, and closes its span, when it settles.
    const p = link.call(method, args, modelId, out);
    return options.timeoutS === undefined ? p : withTimeout(p, options.timeoutS, `${this.deployment}.${method}()`);
  };

  /** A linked replica with room, its slot already taken for this call; none: go through the main thread. */
  private admit(modelId: string | undefined): Link | undefined {
    const links = this.links;
    if (links.length === 0 || this.table.queued > 0) return undefined;
    for (let attempt = 0; attempt < ADMIT_ATTEMPTS; attempt++) {
      const i = modelId === undefined ? chooseReplica(links, this.maxOngoing) : chooseReplicaForModel(links, modelId, this.maxOngoing);
      if (i < 0) return undefined;
      const link = links[i]!;
      if (this.table.tryAcquire(link.slot, link.gen, this.maxOngoing)) {
        // Until the replica reports its models, assume it will hold this one (as the main router does).
        if (modelId !== undefined) link.models.add(modelId);
        return link;
      }
    }
    return undefined;
  }

  link(replicaId: string, slot: number, gen: number, port: MessagePort): void {
    this.links = [...this.links, new Link(replicaId, slot, gen, port, this.table, this.deployment, this.report)];
  }

  unlink(slot: number, gen: number, died: string | undefined): void {
    for (const l of this.retiring) if (l.idle) this.retiring.delete(l);
    const match = (l: Link) => l.slot === slot && l.gen === gen;
    const gone = this.links.find(match) ?? [...this.retiring].find(match);
    if (!gone) return;
    this.links = this.links.filter((l) => l !== gone);
    gone.retire(died);
    if (gone.idle || died !== undefined) this.retiring.delete(gone);
    else this.retiring.add(gone);
  }

  closeAll(): void {
    for (const l of [...this.links, ...this.retiring]) l.close();
    this.links = [];
    this.retiring.clear();
  }
}

/** Hears of every call that went over a direct link: its target, duration and outcome. */
export type CallReporter = (deployment: string, seconds: number, ok: boolean) => void;

/** Builds the routers for a replica's handles; `toMain` is the fallback through the main thread. */
export function targetRouters(
  targets: Record<string, TargetRef>,
  toMain: (deployment: string) => HandleCall,
  report: CallReporter,
  tracing: CallTracing,
): Map<string, TargetRouter> {
  const routers = new Map<string, TargetRouter>();
  for (const [name, ref] of Object.entries(targets)) routers.set(name, new TargetRouter(name, ref, toMain(name), report, tracing));
  return routers;
}

/**
 * Direct calls are invisible to the main thread, which keeps /metrics: the caller counts
 * them here and its port writer puts the report first in its next batch to the main thread,
 * so it always arrives before the answer that depended on those calls.
 */
export class DirectCallReport {
  private calls: Record<string, DirectCalls> = {};
  private spans: SpanRecord[] = [];
  private any = false;

  /** A span timed here, for the main thread to record (sent like the counts, ahead of answers). */
  addSpan(r: SpanRecord): void {
    this.spans.push(r);
    this.any = true;
  }

  add(deployment: string, seconds: number, ok: boolean): void {
    const c = (this.calls[deployment] ??= { s: [], e: 0 });
    c.s.push(seconds);
    if (!ok) c.e++;
    this.any = true;
  }

  /** The report so far as a message (and a fresh start), or undefined when there is nothing to say. */
  take(): FromReplica | undefined {
    if (!this.any) return undefined;
    const msg: FromReplica = { k: 'served', calls: this.calls };
    if (this.spans.length > 0) msg.spans = this.spans;
    this.calls = {};
    this.spans = [];
    this.any = false;
    return msg;
  }
}

export type { CallOptions };
