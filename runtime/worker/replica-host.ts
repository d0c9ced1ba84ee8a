/**
 * Inside a replica's thread: holds the one instance of the user's class, runs the calls the
 * main thread sends, and forwards the instance's own handle calls to the main thread's routers.
 */
import type { MessagePort } from 'node:worker_threads';
import { BadCallError, deserializeError, serializeError } from '../shared/errors.ts';
import { isHandleRef, isMultiplexedClass, makeHandle, methodNames } from '../shared/handle.ts';
import type { CallOptions } from '../shared/handle.ts';
import { PortWriter } from '../shared/port-writer.ts';
import type { FromReplica, StartMessage, ToReplica } from '../shared/protocol.ts';
import { lookupClass } from '../shared/registry.ts';
import { runWithModelId, setEventSink, setModelReporter } from './call-context.ts';
import { withModelLeases } from './model-leases.ts';
import { clearModelCaches } from './multiplexed.ts';
import { setReplicaContext } from './replica-context.ts';

/** Lifecycle hooks a handle must never reach. */
const RESERVED = new Set(['constructor', 'init', 'reconfigure', 'checkHealth', 'shutdown']);

type Instance = Record<string, unknown>;

export class ReplicaHost {
  readonly stopped: Promise<void>;
  private resolveStopped!: () => void;
  private readonly port: MessagePort;
  private readonly writer: PortWriter<FromReplica>;
  private instance: Instance | undefined;
  private methods = new Set<string>();
  /** Only classes with a @multiplexed loader need model leases (an AsyncLocalStorage per call). */
  private leases = false;
  private inFlight = 0;
  private draining = false;
  private nextHandleCallId = 1;
  private readonly handleCalls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(private readonly start_: StartMessage) {
    this.port = start_.port;
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
    this.writer = new PortWriter<FromReplica>(this.port, (m, err) => this.onCloneError(m, err));
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
    setModelReporter((ids) => this.writer.send({ k: 'models', ids: [...ids] }));
    setEventSink((e) => this.writer.send({ k: 'ev', e }));
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
      return makeHandle(target, a.methods, (m, args, opts) => this.handleCall(target, m, args, opts));
    }
    if (Array.isArray(a)) return a.map((x) => this.liveArg(x));
    if (a !== null && typeof a === 'object' && Object.getPrototypeOf(a) === Object.prototype) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(a)) out[k] = this.liveArg(v);
      return out;
    }
    return a;
  }

  private handleCall(deployment: string, m: string, a: unknown[], opts: CallOptions): Promise<unknown> {
    const id = this.nextHandleCallId++;
    return new Promise((resolve, reject) => {
      this.handleCalls.set(id, { resolve, reject });
      const msg: FromReplica = { k: 'hcall', id, d: deployment, m, a };
      if (opts.timeoutS !== undefined) msg.t = opts.timeoutS;
      if (opts.multiplexedModelId !== undefined) msg.mm = opts.multiplexedModelId;
      this.writer.send(msg, a);
    });
  }

  private onMessage(msg: ToReplica): void {
    switch (msg.k) {
      case 'call':
        this.runCall(msg.id, msg.m, msg.a, msg.mm);
        return;
      case 'hres': {
        const pending = this.handleCalls.get(msg.id);
        if (!pending) return;
        this.handleCalls.delete(msg.id);
        if (msg.ok) pending.resolve(msg.v);
        else pending.reject(deserializeError(msg.e));
        return;
      }
      case 'health':
        this.runHook(msg.id, 'checkHealth', []);
        return;
      case 'reconf':
        this.track(msg.id, this.reconfigure(msg.cfg));
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
      this.reply(id, Promise.resolve(undefined));
      return;
    }
    this.track(id, this.invoke(fn as (...a: unknown[]) => unknown, args));
  }

  private runCall(id: number, m: string, a: unknown[], modelId: string | undefined): void {
    const fn = this.methods.has(m) ? this.instance![m] : undefined;
    if (typeof fn !== 'function') {
      this.reply(id, Promise.reject(new BadCallError(`deployment "${this.start_.deployment}" has no method "${m}"`)));
      return;
    }
    const f = fn as (...a: unknown[]) => unknown;
    if (modelId === undefined && !this.leases) {
      this.track(id, this.invoke(f, a));
      return;
    }
    // Models a call gets from a @multiplexed loader stay loaded until the call ends. Async
    // context costs every promise in the thread, so only calls that need it get it.
    const run = this.leases ? () => withModelLeases(() => this.invoke(f, a)) : () => this.invoke(f, a);
    this.track(id, modelId === undefined ? run() : runWithModelId(modelId, run));
  }

  private invoke(fn: (...a: unknown[]) => unknown, args: unknown[]): Promise<unknown> {
    try {
      return Promise.resolve(fn.apply(this.instance, args));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private track(id: number, p: Promise<unknown>): void {
    this.inFlight++;
    this.reply(id, p).finally(() => {
      this.inFlight--;
      this.maybeFinishDrain();
    });
  }

  private reply(id: number, p: Promise<unknown>): Promise<void> {
    return p.then(
      (v) => this.writer.send({ k: 'res', id, ok: true, v }, v),
      (e) => this.writer.send({ k: 'res', id, ok: false, e: serializeError(e) }),
    );
  }

  private onCloneError(m: FromReplica, err: Error): void {
    if (m.k === 'res') {
      const e = new BadCallError(`the result of a call to deployment "${this.start_.deployment}" cannot be sent between threads: ${err.message}`);
      this.writer.send({ k: 'res', id: m.id, ok: false, e: serializeError(e) });
    } else if (m.k === 'hcall') {
      const pending = this.handleCalls.get(m.id);
      this.handleCalls.delete(m.id);
      pending?.reject(new BadCallError(`arguments to ${m.d}.${m.m}() cannot be sent between threads: ${err.message}`));
    }
  }

  private maybeFinishDrain(): void {
    if (!this.draining || this.inFlight > 0) return;
    this.draining = false;
    const instance = this.instance;
    const shutdown = instance && typeof instance.shutdown === 'function' ? instance.shutdown : undefined;
    Promise.resolve()
      .then(() => (shutdown ? (shutdown as () => unknown).call(instance) : undefined))
      .catch(() => undefined)
      .then(() => (instance ? clearModelCaches(instance) : undefined))
      .catch(() => undefined)
      .finally(() => {
        this.writer.close();
        this.port.close();
        this.resolveStopped();
      });
  }
}
