/**
 * Model leases: a call-long pin on the models a call fetched. The replica host runs every call
 * inside `withModelLeases`; a model cache's `get()` made anywhere within it (across awaits,
 * through AsyncLocalStorage) pins the model until the call settles, so the plain
 * `const m = await this.getModel(id)` style is safe against eviction without a callback.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

interface LeaseScope {
  closed: boolean;
  readonly pinned: Set<object>;
  readonly releases: Array<() => void>;
}

const leases = new AsyncLocalStorage<LeaseScope>();

/** Runs fn; leases taken inside it are released when it settles (also when it throws). */
export async function withModelLeases<R>(fn: () => R | PromiseLike<R>): Promise<R> {
  const scope: LeaseScope = { closed: false, pinned: new Set(), releases: [] };
  try {
    return await leases.run(scope, fn);
  } finally {
    scope.closed = true;
    for (const release of scope.releases) release();
  }
}

/**
 * Pins `key` for the running call: calls `acquire` now and `release` when the call ends, once
 * per key and call. Outside a call nothing happens; neither does anything in a call that has
 * already returned (a timer it left behind), which would otherwise pin forever.
 */
export function leaseForCurrentCall(key: object, acquire: () => void, release: () => void): void {
  const scope = leases.getStore();
  if (!scope || scope.closed || scope.pinned.has(key)) return;
  scope.pinned.add(key);
  acquire();
  scope.releases.push(release);
}

/** True inside a call that is still running (a lease taken now would be released). */
export function inCall(): boolean {
  const scope = leases.getStore();
  return scope !== undefined && !scope.closed;
}

/** True when the running call holds a lease on `key`. */
export function pinnedInCall(key: object): boolean {
  const scope = leases.getStore();
  return scope !== undefined && !scope.closed && scope.pinned.has(key);
}
