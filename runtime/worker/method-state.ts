/**
 * State that a method decorator keeps per instance: @batch keeps a BatchQueue per (instance,
 * method), @multiplexed a ModelCache. Both decorators come in two forms (decorator and plain
 * function) and both let a deployment reach the state of one of its methods by name, so the
 * bookkeeping lives here once.
 *
 * Entries live in WeakMaps keyed by the instance, so the state goes with its instance.
 */

/** What the per-method state is called in errors: "batched", "multiplexed". */
export class MethodState<S> {
  readonly #byInstance = new WeakMap<object, Map<Function, S>>();
  readonly #factories = new WeakMap<Function, (instance: object) => S>();

  constructor(
    /** "batched" / "multiplexed": used in errors. */
    readonly kind: string,
    /** How to make a method of this kind, for the error when a name is not one. */
    readonly howTo: string,
  ) {}

  /** Registers a wrapper; `create` makes its state the first time an instance needs it. */
  register(wrapper: Function, create: (instance: object) => S): (instance: object) => S {
    const stateFor = (instance: object): S => {
      let perInstance = this.#byInstance.get(instance);
      if (!perInstance) this.#byInstance.set(instance, (perInstance = new Map()));
      let state = perInstance.get(wrapper);
      if (state === undefined) {
        state = create(instance);
        perInstance.set(wrapper, state);
      }
      return state;
    };
    this.#factories.set(wrapper, stateFor);
    return stateFor;
  }

  /** The state behind one method of an instance (created if no call made it yet). */
  of(instance: object, method: string | symbol | Function): S {
    const fn = typeof method === 'function' ? method : (instance as Record<string | symbol, unknown>)[method];
    const stateFor = typeof fn === 'function' ? this.#factories.get(fn) : undefined;
    if (!stateFor) {
      const name = typeof method === 'function' ? method.name || 'anonymous' : String(method);
      throw new TypeError(`${name} is not a ${this.kind} method (${this.howTo})`);
    }
    return stateFor(instance);
  }

  /** Every state the instance has made so far, across its methods of this kind. */
  all(instance: object): S[] {
    return [...(this.#byInstance.get(instance)?.values() ?? [])];
  }
}

/** A wrapper called off its instance (`const f = obj.m; f()`) cannot find its state. */
export function instanceProblem(self: unknown, label: string, kind: string): TypeError | undefined {
  if (self !== undefined && self !== null && (typeof self === 'object' || typeof self === 'function')) return undefined;
  return new TypeError(`${label} is a ${kind} method: call it on its instance (this was ${String(self)})`);
}

/**
 * Both forms of a method decorator from one maker: `name(options)` decorates a class method,
 * `name(fn, options)` wraps a plain function.
 */
export function decoratorOrFunction<O>(name: string, a: unknown, b: unknown, make: (method: Function, options: O, label: string) => Function): unknown {
  if (typeof a === 'function') return make(a, (b ?? {}) as O, `${a.name || 'anonymous'}()`);
  const options = (a ?? {}) as O;
  return (method: Function, context: ClassMethodDecoratorContext) => {
    if (context?.kind !== 'method') throw new TypeError(`@${name}() decorates methods only`);
    return make(method, options, `${String(context.name)}()`);
  };
}
