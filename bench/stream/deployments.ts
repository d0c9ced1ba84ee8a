/**
 * What the streaming bench serves besides examples/stream: an ingress whose call() is a
 * generator of small numbers (the cost of a chunk with nothing else in it), one that reads
 * that stream in its own thread and yields it again (a stream that crosses two threads), and
 * one that answers a single number (the cost of a request with no stream).
 */
import { bind, deployment } from 'threadserve';
import type { Handle } from 'threadserve';

@deployment({ route: '/ticks', maxOngoingRequests: 64 })
export class Ticks {
  async *call(body: { n: number }) {
    for (let i = 0; i < body.n; i++) yield i;
  }
}

/** The producer behind RelayedTicks, in a thread of its own. */
@deployment({ maxOngoingRequests: 64 })
export class Counter {
  async *count(n: number) {
    for (let i = 0; i < n; i++) yield i;
  }
}

@deployment({ route: '/relayed', maxOngoingRequests: 64 })
export class RelayedTicks {
  constructor(private readonly counter: Handle<Counter>) {}

  async *call(body: { n: number }) {
    for await (const t of this.counter.count(body.n)) yield t;
  }
}

@deployment({ route: '/one', maxOngoingRequests: 64 })
export class One {
  call() {
    return 0;
  }
}

export const ticksApp = bind(Ticks);
export const relayedApp = bind(RelayedTicks, bind(Counter));
export const oneApp = bind(One);
