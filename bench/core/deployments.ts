/**
 * The deployments the bench serves. They do (almost) nothing on purpose: what is measured is
 * the runtime's cost per call, not the work. Replica threads import this module to find the
 * classes, so it must have no side effects at the top level beyond `deployment()`.
 *
 * maxOngoingRequests is set well above the load (256 pipelined handle calls, 32 HTTP
 * connections) so the routers never queue: the bench measures the call path, not admission.
 */
import { deployment } from 'threadserve';
import type { Handle } from 'threadserve';
import { warmPipelined } from '../lib/call-loops.ts';
import type { Pipelined } from '../lib/call-loops.ts';

/** Part 1: the handle-call target. */
class NoopImpl {
  noop<T>(x: T): T {
    return x;
  }
}
export const Noop = deployment(NoopImpl, { name: 'Noop', maxOngoingRequests: 256 });
export type NoopInstance = NoopImpl;

/** Part 1e: pipelined handle calls made from inside a replica to another replica (Noop). */
class PipelinedCallerImpl {
  constructor(private readonly noop: Handle<NoopImpl>) {}

  /** Calls per second (and CPU per call) with bench/lib/call-loops.ts's INFLIGHT calls to Noop in flight. */
  pipelined(): Promise<Pipelined> {
    return warmPipelined((x) => this.noop.noop(x));
  }
}
export const PipelinedCaller = deployment(PipelinedCallerImpl, { name: 'PipelinedCaller' });
export type PipelinedCallerInstance = PipelinedCallerImpl;

/** Part 2b: a one-hop ingress, `call(body)` returns the body. */
class EchoIngressImpl {
  call(body: unknown): unknown {
    return body;
  }
}
export const EchoIngress = deployment(EchoIngressImpl, { name: 'EchoIngress', maxOngoingRequests: 64 });

/** Part 2c/2d: a trivial pipeline step; deployed three times, as A, B and C. */
class StepImpl {
  step(x: unknown): unknown {
    return x;
  }
}
export const StepA = deployment(StepImpl, { name: 'A', maxOngoingRequests: 64 });
export const StepB = deployment(StepImpl, { name: 'B', maxOngoingRequests: 64 });
export const StepC = deployment(StepImpl, { name: 'C', maxOngoingRequests: 64 });

/** Part 2c: an ingress that makes one handle call, to A. */
class TwoHopIngressImpl {
  constructor(private readonly a: Handle<StepImpl>) {}

  call(body: unknown): Promise<unknown> {
    return this.a.step(body);
  }
}
export const TwoHopIngress = deployment(TwoHopIngressImpl, { name: 'TwoHopIngress', maxOngoingRequests: 64 });

/** Part 2d: the pipeline's ingress, chaining A -> B -> C through handles. */
class PipelineIngressImpl {
  constructor(
    private readonly a: Handle<StepImpl>,
    private readonly b: Handle<StepImpl>,
    private readonly c: Handle<StepImpl>,
  ) {}

  async call(body: unknown): Promise<unknown> {
    return this.c.step(await this.b.step(await this.a.step(body)));
  }
}
export const PipelineIngress = deployment(PipelineIngressImpl, { name: 'PipelineIngress', maxOngoingRequests: 64 });

/** The application graphs, by the name the HTTP server script takes. */
export const apps = {
  onehop: () => EchoIngress.bind(),
  twohop: () => TwoHopIngress.bind(StepA.bind()),
  pipeline: () => PipelineIngress.bind(StepA.bind(), StepB.bind(), StepC.bind()),
};
