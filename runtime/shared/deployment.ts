/**
 * Deployments and bound deployments: plain, immutable data until `serve.run`. Nothing here
 * starts a thread. `deployment()` works as a TC39 class decorator and as a plain function;
 * the function form returns an object whose `bind` is type-checked against the constructor.
 */
import type { DeploymentOptions } from './options.ts';
import type { HandleTarget } from './handle.ts';
import { callerModuleUrl, registerClass } from './registry.ts';

export type AnyClass = new (...args: any[]) => any;

declare const boundBrand: unique symbol;

/** A deployment with its constructor arguments: one node of an application graph. */
export interface BoundDeployment<T = unknown> {
  readonly kind: 'bound';
  readonly deployment: Deployment<AnyClass>;
  readonly args: readonly unknown[];
  readonly [boundBrand]?: T;
}

/**
 * A constructor parameter typed `Handle<T>` accepts a bound `T`, also inside plain objects and
 * arrays (`{ detector: Handle<Model> }` takes `{ detector: Model.bind(...) }`, as the runtime
 * does); anything else takes its own type.
 */
export type BindArg<P> = [HandleTarget<P>] extends [never]
  ? P extends readonly unknown[]
    ? { [I in keyof P]: BindArg<P[I]> }
    : P extends ArrayBufferView | ArrayBuffer | Date | RegExp | Map<unknown, unknown> | Set<unknown> | ((...a: never[]) => unknown)
      ? P
      : P extends object
        ? { [K in keyof P]: BindArg<P[K]> }
        : P
  : BoundDeployment<HandleTarget<P>>;
export type BindArgs<P extends readonly unknown[]> = { [I in keyof P]: BindArg<P[I]> };

export interface Deployment<C extends AnyClass> {
  readonly kind: 'deployment';
  readonly cls: C;
  readonly className: string;
  /** The options as given; validated and defaulted at `run`. */
  readonly rawOptions: Readonly<DeploymentOptions>;
  /** Where a worker finds the class: the defining module's URL and the registry key. */
  readonly moduleUrl: string;
  readonly key: string;
  /** Type-level only. */
  readonly __threadserveClass?: C;
  bind(...args: BindArgs<ConstructorParameters<C>>): BoundDeployment<InstanceType<C>>;
  /** A copy with some options replaced (Ray Serve's `.options()`). */
  options(overrides: DeploymentOptions): Deployment<C>;
}

const DEPLOYMENT = Symbol.for('threadserve.deployment');

function makeDeployment<C extends AnyClass>(cls: C, rawOptions: DeploymentOptions, moduleUrl: string, key: string): Deployment<C> {
  const d: Deployment<C> = Object.freeze({
    kind: 'deployment' as const,
    cls,
    className: cls.name,
    rawOptions: Object.freeze({ ...rawOptions }),
    moduleUrl,
    key,
    bind: (...args: unknown[]) => Object.freeze({ kind: 'bound' as const, deployment: d as Deployment<AnyClass>, args: Object.freeze(args) }),
    options: (overrides: DeploymentOptions) => makeDeployment(cls, { ...rawOptions, ...overrides }, moduleUrl, key),
  }) as Deployment<C>;
  return d;
}

function register<C extends AnyClass>(cls: C, options: DeploymentOptions, moduleUrl: string): Deployment<C> {
  if (typeof cls !== 'function' || !cls.name) {
    throw new TypeError('deployment(): the class must be a named class');
  }
  const key = registerClass(moduleUrl, cls.name, cls);
  return makeDeployment(cls, options, moduleUrl, key);
}

/** Function form: `const Model = deployment(ModelImpl, { numReplicas: 2 })`. */
export function deployment<C extends AnyClass>(cls: C, options?: DeploymentOptions): Deployment<C>;
/** Decorator form: `@deployment({ numReplicas: 2 }) class Model {}`. */
export function deployment(options?: DeploymentOptions): <C extends AnyClass>(cls: C, context: ClassDecoratorContext<C>) => void;
export function deployment(a?: unknown, b?: unknown): unknown {
  const moduleUrl = callerModuleUrl(deployment);
  if (typeof a === 'function') return register(a as AnyClass, (b ?? {}) as DeploymentOptions, moduleUrl);
  const options = (a ?? {}) as DeploymentOptions;
  return (cls: AnyClass, context: ClassDecoratorContext) => {
    if (context?.kind !== 'class') throw new TypeError('@deployment() decorates classes only');
    const d = register(cls, options, moduleUrl);
    // The decorated class keeps working as itself; `bind` and `options` on it build graph
    // nodes at run time (TypeScript still types `bind` as Function.prototype.bind: use the
    // free `bind(Class, ...args)` for type-checked arguments).
    Object.defineProperty(cls, DEPLOYMENT, { value: d });
    Object.defineProperty(cls, 'bind', { value: d.bind, configurable: true });
    Object.defineProperty(cls, 'options', { value: d.options, configurable: true });
  };
}

/** The deployment behind a decorated class or a `deployment()` result. */
export function toDeployment(target: unknown): Deployment<AnyClass> | undefined {
  if (typeof target === 'object' && target !== null && (target as Deployment<AnyClass>).kind === 'deployment') {
    return target as Deployment<AnyClass>;
  }
  if (typeof target === 'function') {
    return (target as unknown as Record<symbol, Deployment<AnyClass> | undefined>)[DEPLOYMENT];
  }
  return undefined;
}

/** Type-checked binding for both forms: `bind(Classify, bind(Preprocess), bind(Model, 'm.onnx'))`. */
export function bind<C extends AnyClass>(target: C | Deployment<C>, ...args: BindArgs<ConstructorParameters<C>>): BoundDeployment<InstanceType<C>> {
  const d = toDeployment(target);
  if (!d) {
    const name = typeof target === 'function' ? target.name : String(target);
    throw new TypeError(`bind(): ${name} is not a deployment; decorate it with @deployment() or wrap it with deployment()`);
  }
  return d.bind(...(args as never[])) as BoundDeployment<InstanceType<C>>;
}

export function isBound(v: unknown): v is BoundDeployment {
  return typeof v === 'object' && v !== null && (v as BoundDeployment).kind === 'bound';
}
