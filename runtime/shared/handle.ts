/**
 * Handles: typed proxies to a deployment. `Handle<T>` exposes T's methods as async calls; the
 * same proxy shape is built on the main thread (calls go to the deployment's router) and inside
 * replicas (calls go over direct links to the target's replicas, or to the main thread's
 * router when none has room: worker/outbound-links.ts).
 */
import type { PerItem } from './batch-types.ts';
import { BadCallError } from './errors.ts';
import { ResponseStream } from './response-stream.ts';
import type { CallTrace } from './trace-context.ts';

declare const handleBrand: unique symbol;

/** The instance type a `Handle<T>` points at; never for anything that is not a handle. */
export type HandleTarget<P> = P extends { readonly [handleBrand]: infer T } ? T : never;

/** Per-call options a handle can carry. */
export interface CallOptions {
  /** Abort the call when it has not finished after this many seconds. */
  timeoutS?: number;
  /**
   * The multiplexed model this call needs: the router prefers a replica that already holds it,
   * and inside the replica `multiplexedModelId()` returns it.
   */
  multiplexedModelId?: string;
  /** @internal The request id and trace context the call carries (set by the runtime). */
  trace?: CallTrace;
  /** @internal Told when a replica takes the call, after how long in the queue (tracing). */
  observe?: { started(queuedS: number, replica: string): void };
}

/**
 * What calling a streaming method through a handle gives: `for await` it directly, or await it
 * for the ResponseStream (to pass on, or to `cancel()`).
 */
export type StreamCall<C> = Promise<ResponseStream<C>> & AsyncIterable<C>;

/** A method's result through a handle: a stream for async iterables, else a promise of the value. */
type CallResult<R> = [Awaited<R>] extends [AsyncIterable<infer C>] ? StreamCall<C> : Promise<Awaited<R>>;

/** Each method as an async call; a `@batch` method (`items: Batch<X>`) is called with one item. */
type MethodsOf<T> = {
  [K in keyof T as K extends string ? (T[K] extends (...args: any[]) => unknown ? K : never) : never]: PerItem<T[K]> extends (...args: infer A) => infer R
    ? (...args: A) => CallResult<R>
    : never;
};

/** What `Handle<T>` accepts: an instance type, or a class/deployment built by `deployment()`. */
type InstanceOf<T> = T extends { readonly __threadserveClass?: infer C } ? (C extends abstract new (...args: any[]) => infer I ? I : T) : T;

export type Handle<T> = MethodsOf<InstanceOf<T>> & {
  /** Type-level only: lets `bind` check that a bound deployment fits a `Handle<T>` parameter. */
  readonly [handleBrand]: InstanceOf<T>;
  /** The same handle with per-call options (timeout). */
  options(opts: CallOptions): Handle<T>;
};

/**
 * Makes a call's promise readable with `for await` as well, for methods that stream; a
 * property on the promise, so calls that do not stream pay nothing more than setting it.
 */
function iterableCall(p: Promise<unknown>, deployment: string, method: string): Promise<unknown> {
  (p as Promise<unknown> & AsyncIterable<unknown>)[Symbol.asyncIterator] = () => readCall(p, deployment, method);
  return p;
}

async function* readCall(p: Promise<unknown>, deployment: string, method: string): AsyncGenerator<unknown> {
  const result = await p;
  if (!(result instanceof ResponseStream)) {
    throw new BadCallError(`${deployment}.${method}() did not return a stream (an async iterable), so it cannot be read with for await; await it instead`);
  }
  yield* result;
}

/** A serialisable reference to a deployment, replaced by a live handle inside a replica. */
export interface HandleRef {
  readonly __threadserveHandle: string;
  readonly methods: readonly string[];
}

export function isHandleRef(v: unknown): v is HandleRef {
  return typeof v === 'object' && v !== null && typeof (v as HandleRef).__threadserveHandle === 'string';
}

export type HandleCall = (method: string, args: unknown[], options: CallOptions) => Promise<unknown>;

/** Builds a handle proxy over a call function. Unknown method names fail with a clear error. */
export function makeHandle<T>(deployment: string, methods: readonly string[], call: HandleCall, options: CallOptions = {}): Handle<T> {
  const known = new Set(methods);
  const cache = new Map<string, (...args: unknown[]) => Promise<unknown>>();
  const target = {
    options: (opts: CallOptions) => makeHandle<T>(deployment, methods, call, { ...options, ...opts }),
    toString: () => `Handle(${deployment})`,
  };
  return new Proxy(target, {
    get(t, prop) {
      if (prop === 'options' || prop === 'toString') return t[prop];
      // A handle is not a thenable: `await handle` must give the handle back.
      if (typeof prop !== 'string' || prop === 'then') return undefined;
      let fn = cache.get(prop);
      if (!fn) {
        fn = known.has(prop)
          ? (...args: unknown[]) => iterableCall(call(prop, args, options), deployment, prop)
          : () => Promise.reject(new BadCallError(`deployment "${deployment}" has no method "${prop}"`));
        cache.set(prop, fn);
      }
      return fn;
    },
  }) as unknown as Handle<T>;
}

/** Set on a `@multiplexed` loader, so the main thread knows a class serves many model ids. */
export const MULTIPLEXED_MARK = Symbol.for('threadserve.multiplexed');

/** Whether any method of the class is a `@multiplexed` model loader. */
export function isMultiplexedClass(cls: Function): boolean {
  for (let proto = cls.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const v = Object.getOwnPropertyDescriptor(proto, name)?.value as Record<symbol, unknown> | undefined;
      if (typeof v === 'function' && v[MULTIPLEXED_MARK] === true) return true;
    }
  }
  return false;
}

/** Public methods of a class, including inherited ones, for handle checks. */
export function methodNames(cls: Function): string[] {
  const names = new Set<string>();
  for (let proto = cls.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === 'constructor' || name.startsWith('_') || name.startsWith('#')) continue;
      const desc = Object.getOwnPropertyDescriptor(proto, name);
      if (desc && typeof desc.value === 'function') names.add(name);
    }
  }
  return [...names];
}
