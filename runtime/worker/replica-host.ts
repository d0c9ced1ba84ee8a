/**
 * Inside a replica's thread: holds the one instance of the user's class and runs the calls
 * that reach it, from the main thread or over direct links from other replicas. The
 * instance's own handle calls go straight to the target's replicas over links
 * (outbound-links.ts), or to the main thread's router when none has room.
 */
import { getHeapStatistics } from 'node:v8';
import type { MessagePort } from 'node:worker_threads';
import { BadCallError } from '../shared/errors.ts';
import { PendingCalls } from '../shared/pending-calls.ts';
import { isHandleRef, isMultiplexedClass, makeHandle, methodNames } from '../shared/handle.ts';
import type { CallOptions } from '../shared/handle.ts';
import { PortWriter } from '../shared/port-writer.ts';
import type { FromReplica, StartMessage, ToReplica, WireTrace } from '../shared/protocol.ts';
import { lookupClass } from '../shared/registry.ts';
import { SlotTable } from '../shared/slot-table.ts';
import { runWithModelId, setEventSink, setLoadTurns, setLoadingReporter, setModelReporter } from './call-context.ts';
import { InboundLinks, answerOver, failUncloneableResult } from './inbound-links.ts';
import type { AnswerSink } from './inbound-links.ts';
import { withModelLeases } from './model-leases.ts';
import { clearModelCaches } from './multiplexed.ts';
import { DirectCallReport, targetRouters } from './outbound-links.ts';
import { CallTracing, endWhenSettled } from './call-tracing.ts';
import { wireTrace } from '../shared/trace-context.ts';
import type { TargetRouter } from './outbound-links.ts';
import { setReplicaContext } from './replica-context.ts';
import { ResponseStream } from '../shared/response-stream.ts';
import { isAsyncIterable } from '../shared/stream-wire.ts';
import type { StreamMarker } from '../shared/stream-wire.ts';
import { StreamProducer } from './stream-producer.ts';

/** Lifecycle hooks a handle must never reach. */
const RESERVED = new Set(['constructor', 'init', 'reconfigure', 'checkHealth', 'shutdown']);

type Instance = Record<string, unknown>;

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

export class ReplicaHost {
  readonly stopped: Promise<void>;
  private resolveStopped!: () => void;
  private readonly port: MessagePort;
  private readonly writer: PortWriter<FromReplica>;
  private readonly fromMain: AnswerSink;
  private instance: Instance | undefined;
  private methods = new Set<string>();
  /** Only classes with a @multiplexed loader need model leases (an AsyncLocalStorage per call). */
  private leases = false;
  private inFlight = 0;
  private draining = false;
  /** The instance's handle calls that the main thread relays (no linked replica had room). */
  private readonly relayed = new PendingCalls();
  /** This deployment's in-flight table: every counted call is released here when it finishes. */
  private readonly table: SlotTable;
  private readonly inbound: InboundLinks;
  private readonly report = new DirectCallReport();
  private readonly routers: Map<string, TargetRouter>;
  private freeSignalled = false;
  private readonly tracing: CallTracing;
  /** Only replicas that call other deployments keep a call's trace context while it runs. */
  private readonly passesTraceOn: boolean;

  constructor(private readonly start_: StartMessage) {
    this.port = start_.port;
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
    this.writer = new PortWriter<FromReplica>(
      this.port,
      (m, err) => this.onCloneError(m, err),
      () => this.report.take(),
    );
    this.fromMain = answerOver(this.writer, start_.deployment);
    this.table = new SlotTable(start_.slot.table);
    this.inbound = new InboundLinks(start_.deployment, (id, m, a, mm, tr, sink) => this.runCall(id, m, a, mm, tr, sink));
    this.tracing = new CallTracing(start_.tracing, (r) => {
      this.report.addSpan(r);
      this.writer.requestFlush();
    });
    this.passesTraceOn = Object.keys(start_.targets).length > 0;
    this.routers = targetRouters(
      start_.targets,
      (d) => (m, a, o) => this.callViaMain(d, m, a, o),
      (d, seconds, ok) => {
        this.report.add(d, seconds, ok);
        this.writer.requestFlush();
      },
      this.tracing,
    );
  }

  async start(): Promise<void> {
    const s = this.start_;
    setReplicaContext({
      deployment: s.deployment,
      replicaId: s.replicaId,
      replicaIndex: s.replicaIndex,
      gpuIds: Object.freeze([...s.gpuIds]),
      deviceId: s.gpuIds[0],
      replicasInProcess: s.replicasInProcess,
    });
    await import(s.moduleUrl);
    const cls = lookupClass(s.classKey) as (new (...args: unknown[]) => Instance) | undefined;
    if (!cls) {
      throw new Error(
        `deployment "${s.deployment}": class ${s.classKey} was not registered when ${s.moduleUrl} was imported; ` +
          'call deployment() at the top level of a module',
      );
    }
    setModelReporter((ids) => {
      this.writer.send({ k: 'models', ids: [...ids] });
      this.inbound.reportModels([...ids]);
    });
    setEventSink((e) => this.writer.send({ k: 'ev', e }));
    setLoadingReporter((delta) => this.table.addLoading(s.slot.slot, delta));
    setLoadTurns((max) => this.table.takeLoadTurn(s.slot.slot, max));
    const args = s.args.map((a) => this.liveArg(a));
    const instance = new cls(...args);
    this.instance = instance;
    if (typeof instance.init === 'function') await (instance.init as () => unknown)();
    if (s.hasUserConfig) await this.reconfigure(s.userConfig);
    for (const name of methodNames(cls)) if (!RESERVED.has(name)) this.methods.add(name);
    this.leases = isMultiplexedClass(cls);
    this.port.on('message', (batch: ToReplica[]) => {
      for (const msg of batch) this.onMessage(msg);
    });
    this.writer.send({ k: 'ready', methods: [...this.methods] });
  }

  /** Constructor arguments: handle references become live handles; nested ones too. */
  private liveArg(a: unknown): unknown {
    if (isHandleRef(a)) {
      const target = a.__threadserveHandle;
      const router = this.routers.get(target);
      return makeHandle(target, a.methods, router ? router.call : (m, args, opts) => this.callViaMain(target, m, args, opts));
    }
    if (Array.isArray(a)) return a.map((x) => this.liveArg(x));
    if (a !== null && typeof a === 'object' && Object.getPrototypeOf(a) === Object.prototype) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(a)) out[k] = this.liveArg(v);
      return out;
    }
    return a;
  }

  /** A handle call no linked replica could take: the main thread's router queues and routes it. */
  private callViaMain(deployment: string, m: string, a: unknown[], opts: CallOptions): Promise<unknown> {
    // A TargetRouter that found no room passes its call's context; other handles take it here.
    const out = opts.trace === undefined ? this.tracing.outbound(deployment, m) : undefined;
    const trace = opts.trace ?? out?.trace;
    const id = this.relayed.id();
    const msg: FromReplica & { k: 'hcall' } = { k: 'hcall', id, d: deployment, m, a };
    if (opts.timeoutS !== undefined) msg.t = opts.timeoutS;
    if (opts.multiplexedModelId !== undefined) msg.mm = opts.multiplexedModelId;
    if (trace !== undefined) msg.tr = wireTrace(trace);
    const problem = this.writer.send(msg, a);
    if (problem !== undefined) return Promise.reject(new BadCallError(`arguments to ${deployment}.${m}(): args${problem}`));
    return endWhenSettled(this.relayed.wait(id, undefined), out, () => undefined);
  }

  private onMessage(msg: ToReplica): void {
    if (Array.isArray(msg)) {
      this.runCall(msg[0], msg[1], msg[2], msg[3], msg[4], this.fromMain);
      return;
    }
    switch (msg.k) {
      case 'hres':
        this.relayed.settle(msg);
        return;
      case 'link': {
        const router = this.routers.get(msg.d);
        if (router) router.link(msg.r, msg.s, msg.g, msg.port);
        else msg.port.close();
        return;
      }
      case 'unlink':
        this.routers.get(msg.d)?.unlink(msg.s, msg.g, msg.died);
        return;
      case 'linkIn':
        this.inbound.accept(msg.port);
        return;
      case 'health':
        this.runHook(msg.id, 'checkHealth', []);
        return;
      case 'heap': {
        const h = getHeapStatistics();
        this.fromMain.ok(msg.id, { used: h.used_heap_size, total: h.total_heap_size });
        return;
      }
      case 'reconf':
        this.track(msg.id, this.reconfigure(msg.cfg), this.fromMain, false);
        return;
      case 'drain':
        this.draining = true;
        this.maybeFinishDrain();
        return;
    }
  }

  private async reconfigure(cfg: unknown): Promise<void> {
    const instance = this.instance!;
    if (typeof instance.reconfigure !== 'function') {
      throw new BadCallError(`deployment "${this.start_.deployment}" got userConfig but has no reconfigure(config) method`);
    }
    await (instance.reconfigure as (c: unknown) => unknown)(cfg);
  }

  private runHook(id: number, name: string, args: unknown[]): void {
    const fn = this.instance![name];
    if (typeof fn !== 'function') {
      this.fromMain.ok(id, undefined);
      return;
    }
    this.track(id, this.invoke(fn as (...a: unknown[]) => unknown, args), this.fromMain, false);
  }

  /** A user call, admitted on this replica's slot by whoever sent it; released when it ends. */
  private runCall(id: number, m: string, a: unknown[], modelId: string | undefined, trace: WireTrace | undefined, sink: AnswerSink): void {
    const fn = this.methods.has(m) ? this.instance![m] : undefined;
    if (typeof fn !== 'function') {
      this.callEnded();
      sink.fail(id, new BadCallError(`deployment "${this.start_.deployment}" has no method "${m}"`));
      this.maybeFinishDrain();
      return;
    }
    const f = fn as (...a: unknown[]) => unknown;
    if (this.passesTraceOn && trace !== undefined) {
      this.tracing.run(trace, () => this.runUserCall(id, f, a, modelId, sink));
      return;
    }
    this.runUserCall(id, f, a, modelId, sink);
  }

  private runUserCall(id: number, f: (...a: unknown[]) => unknown, a: unknown[], modelId: string | undefined, sink: AnswerSink): void {
    if (modelId === undefined && !this.leases) {
      // The common case, without a promise per call when the method answers synchronously.
      let result: unknown;
      try {
        result = f.apply(this.instance, a);
      } catch (err) {
        this.callEnded();
        sink.fail(id, err);
        this.maybeFinishDrain();
        return;
      }
      if (isThenable(result)) this.track(id, Promise.resolve(result), sink, true);
      else if (isAsyncIterable(result)) this.serveStream(id, result, sink);
      else {
        this.callEnded();
        sink.ok(id, result);
        this.maybeFinishDrain();
      }
      return;
    }
    // Models a call gets from a @multiplexed loader stay loaded until the call ends. Async
    // context costs every promise in the thread, so only calls that need it get it.
    const run = this.leases ? () => withModelLeases(() => this.invoke(f, a)) : () => this.invoke(f, a);
    this.track(id, modelId === undefined ? run() : runWithModelId(modelId, run), sink, true, modelId);
  }

  private invoke(fn: (...a: unknown[]) => unknown, args: unknown[]): Promise<unknown> {
    try {
      return Promise.resolve(fn.apply(this.instance, args));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Answers a call when its promise settles. `counted`: a user call, admitted on this
   * replica's slot (health checks and reconfigures are not).
   */
  private track(id: number, p: Promise<unknown>, sink: AnswerSink, counted: boolean, modelId?: string): void {
    this.inFlight++;
    p.then(
      (v) => {
        if (counted && isAsyncIterable(v)) {
          this.serveStream(id, v, sink, modelId);
          this.inFlight--;
          return;
        }
        if (counted) this.callEnded();
        sink.ok(id, v);
        this.inFlight--;
        this.maybeFinishDrain();
      },
      (e: unknown) => {
        if (counted) this.callEnded();
        sink.fail(id, e);
        this.inFlight--;
        this.maybeFinishDrain();
      },
    );
  }

  /**
   * A call whose result is an async iterable answers with a stream (stream-producer.ts); it
   * keeps its slot, and counts as running for drain, until the stream ends or is cancelled. A
   * stream from another deployment that nothing here has read is handed on whole instead: the
   * chunks then go from its producer straight to this call's caller.
   */
  private serveStream(id: number, source: AsyncIterable<unknown>, sink: AnswerSink, modelId?: string): void {
    if (source instanceof ResponseStream && source.movable) {
      this.callEnded();
      sink.ok(id, source.move());
      this.maybeFinishDrain();
      return;
    }
    this.inFlight++;
    let marker!: StreamMarker;
    const produce = () =>
      new Promise<void>((ended) => {
        marker = StreamProducer.start(source, this.start_.deployment, ended);
      });
    // A generator's body runs as the stream is read, after the call itself has returned: it
    // must still see the call's multiplexed model id, and models it fetches stay pinned until
    // the stream ends (the producer reads the generator from within this context).
    const scoped = this.leases ? () => withModelLeases(produce) : produce;
    const streamed = modelId === undefined ? scoped() : runWithModelId(modelId, scoped);
    void streamed.then(() => {
      this.callEnded();
      this.inFlight--;
      this.maybeFinishDrain();
    });
    sink.ok(id, marker);
  }

  /** Frees the slot before the answer leaves, so the caller may send the next call at once. */
  private callEnded(): void {
    const { slot, gen } = this.start_.slot;
    this.table.release(slot, gen);
    if (this.table.queued > 0 && !this.freeSignalled) {
      // The main thread holds calls for this deployment: it learns of the free slot once per turn.
      this.freeSignalled = true;
      setImmediate(() => {
        this.freeSignalled = false;
        this.writer.send({ k: 'free' });
      });
    }
  }

  private onCloneError(m: FromReplica, err: Error): void {
    if (Array.isArray(m)) {
      failUncloneableResult(this.start_.deployment, () => this.writer)(m, err);
    } else if (m.k === 'hcall') {
      this.relayed.reject(m.id, new BadCallError(`arguments to ${m.d}.${m.m}() cannot be sent between threads: ${err.message}`));
    }
  }

  /** Done draining when nothing runs here and no admitted call is still on its way here. */
  private maybeFinishDrain(): void {
    const { slot } = this.start_.slot;
    if (!this.draining || this.inFlight > 0 || this.table.count(slot) > 0) return;
    this.draining = false;
    const instance = this.instance;
    const shutdown = instance && typeof instance.shutdown === 'function' ? instance.shutdown : undefined;
    Promise.resolve()
      .then(() => (shutdown ? (shutdown as () => unknown).call(instance) : undefined))
      .catch(() => undefined)
      .then(() => (instance ? clearModelCaches(instance) : undefined))
      .catch(() => undefined)
      .finally(() => {
        for (const r of this.routers.values()) r.closeAll();
        this.inbound.closeAll();
        this.writer.close();
        this.port.close();
        this.resolveStopped();
      });
  }
}
