/**
 * Turns bound deployments into running deployments: walks each application graph, validates
 * every option before any thread starts, replaces bound arguments with handle references,
 * and owns the runners (the controller's job: start, route handle calls, stop).
 */
import type { Logger } from 'pino';
import { BadCallError, OptionsError } from '../shared/errors.ts';
import { isBound, toDeployment } from '../shared/deployment.ts';
import type { AnyClass, BoundDeployment, Deployment } from '../shared/deployment.ts';
import { isMultiplexedClass, makeHandle, methodNames } from '../shared/handle.ts';
import type { CallOptions, Handle, HandleRef } from '../shared/handle.ts';
import { mergeOptions, resolveDeploymentOptions } from '../shared/options.ts';
import type { DeploymentOptions } from '../shared/options.ts';
import { assignGpus, visibleGpus } from './gpu.ts';
import { GpuPool } from './gpu-pool.ts';
import { availableParallelism } from 'node:os';
import { realClock } from '../shared/clock.ts';
import { Autoscaler } from './autoscaler.ts';
import type { ResolvedDeploymentOptions } from '../shared/options.ts';
import { SlotTable } from '../shared/slot-table.ts';
import type { TargetRef } from '../shared/protocol.ts';
import { DeploymentRunner } from './deployment-runner.ts';
import { ReplicaLinks } from './replica-links.ts';
import { Metrics } from './metrics.ts';
import { workerBootstrapUrl } from './worker-setup.ts';
import { ReplicaModules } from './replica-modules.ts';
import type { Tracing } from './tracing.ts';

/** How long /metrics waits for a replica to report its heap (a replica busy in synchronous code cannot). */
const HEAP_ANSWER_S = 1;

export interface AppSpec {
  name: string;
  /** Route prefix, or null when the app is reachable by handle only. */
  route: string | null;
  ingress: string;
}

interface PlannedDeployment {
  bound: BoundDeployment;
  deployment: Deployment<AnyClass>;
  options: ResolvedDeploymentOptions;
  args: unknown[];
  methods: string[];
  /** Device ids per replica slot. */
  gpuSlots: number[][];
  /** The class has a @multiplexed loader: it serves many model ids. */
  multiplexed: boolean;
  /** `call(body, request)` declares its second parameter: build and send the request context. */
  wantsRequest: boolean;
  /** Deployments this one holds handles to (bound into its constructor arguments). */
  targets: string[];
}

export interface Plan {
  apps: AppSpec[];
  deployments: Map<string, PlannedDeployment>;
  /** The device ids this process may use (empty when no deployment asks for GPUs). */
  gpus: number[];
}

/** Validates the graphs of all applications; throws OptionsError before anything starts. */
export function plan(
  apps: Record<string, BoundDeployment>,
  routeOverrides: Record<string, string | null | undefined> = {},
  gpus: () => number[] = () => visibleGpus(),
  /** Options per deployment name over the code's (a config file, a redeploy). */
  optionOverrides: Readonly<Record<string, DeploymentOptions>> = {},
): Plan {
  const deployments = new Map<string, PlannedDeployment>();
  const byBound = new Map<BoundDeployment, string>();

  const visit = (bound: BoundDeployment, path: string[]): string => {
    const known = byBound.get(bound);
    if (known) return known;
    const deployment = toDeployment(bound.deployment);
    if (!deployment) throw new OptionsError(`${path.join(' -> ')}: not a deployment`);
    const override = optionOverrides[deployment.rawOptions.name ?? deployment.className];
    const options = resolveDeploymentOptions(deployment.className, override ? mergeOptions(deployment.rawOptions, override) : deployment.rawOptions);
    const name = options.name;
    if (path.includes(name)) throw new OptionsError(`deployment "${name}" depends on itself: ${[...path, name].join(' -> ')}`);
    if (deployments.has(name)) {
      throw new OptionsError(`deployment name "${name}" is used by two different bindings; give one another name with .options({ name })`);
    }
    const planned: PlannedDeployment = {
      bound,
      deployment,
      options,
      args: [],
      methods: methodNames(deployment.cls),
      gpuSlots: [],
      multiplexed: isMultiplexedClass(deployment.cls),
      wantsRequest: ((deployment.cls.prototype as { call?: Function }).call?.length ?? 0) >= 2,
      targets: [],
    };
    deployments.set(name, planned);
    byBound.set(bound, name);
    planned.args = bound.args.map((a) => toArg(a, [...path, name]));
    return name;
  };

  const toArg = (a: unknown, path: string[]): unknown => {
    if (isBound(a)) {
      const name = visit(a, path);
      const caller = deployments.get(path[path.length - 1]!)!;
      if (!caller.targets.includes(name)) caller.targets.push(name);
      const ref: HandleRef = { __threadserveHandle: name, methods: deployments.get(name)!.methods };
      return ref;
    }
    if (Array.isArray(a)) return a.map((x) => toArg(x, path));
    if (a !== null && typeof a === 'object' && Object.getPrototypeOf(a) === Object.prototype) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(a)) out[k] = toArg(v, path);
      return out;
    }
    if (typeof a === 'function') {
      throw new OptionsError(`deployment "${path[path.length - 1]}": constructor arguments must be data or bound deployments, got a function`);
    }
    return a;
  };

  const specs: AppSpec[] = [];
  const routes = new Map<string, string>();
  for (const [appName, root] of Object.entries(apps)) {
    if (!isBound(root)) {
      throw new OptionsError(`application "${appName}" must be a bound deployment (call .bind() on the ingress deployment)`);
    }
    const ingress = visit(root, []);
    const planned = deployments.get(ingress)!;
    const override = routeOverrides[appName];
    const route = override !== undefined ? override : (planned.options.route ?? (planned.methods.includes('call') ? '/' : null));
    if (route !== null) {
      if (/^\/(v2|-|metrics)(\/|$)/.test(route)) {
        throw new OptionsError(`application "${appName}": route ${route} is reserved (/v2 for the Open Inference Protocol, /-/ for health, /metrics)`);
      }
      if (!planned.methods.includes('call')) {
        throw new OptionsError(`deployment "${ingress}" is the ingress of application "${appName}" at route ${route} but has no call(body, request) method`);
      }
      const other = routes.get(route);
      if (other) throw new OptionsError(`applications "${other}" and "${appName}" both use route ${route}`);
      routes.set(route, appName);
    }
    specs.push({ name: appName, route, ingress });
  }
  return { apps: specs, deployments, gpus: placeGpus(deployments, gpus) };
}

/** Assigns device ids to every first replica, or refuses (before any thread starts); returns the visible ids. */
function placeGpus(deployments: Map<string, PlannedDeployment>, gpus: () => number[]): number[] {
  const requests = [...deployments.values()].map((d) => ({
    deployment: d.options.name,
    numReplicas: d.options.numReplicas,
    numGpus: d.options.numGpus,
  }));
  if (!requests.some((r) => r.numGpus > 0)) return [];
  const visible = gpus();
  let assignment;
  try {
    assignment = assignGpus(requests, visible);
  } catch (err) {
    throw new OptionsError((err as Error).message);
  }
  for (const d of deployments.values()) d.gpuSlots = assignment[d.options.name] ?? [];
  return visible;
}

/**
 * The replica thread budget: `given`, or twice the cores (a replica waiting on another step or
 * on I/O leaves its core to others; CPU-bound services do better with the core count). It must
 * hold the replicas every deployment starts with.
 */
export function replicaThreadBudget(plan: Plan, given: number | undefined): number {
  let starting = 0;
  for (const d of plan.deployments.values()) starting += d.options.numReplicas;
  if (given === undefined) return Math.max(2 * availableParallelism(), starting);
  if (given < starting) {
    throw new OptionsError(`serve: maxReplicaThreads ${given} is less than the ${starting} replicas the deployments start with`);
  }
  return given;
}

export class Application {
  private readonly runners = new Map<string, DeploymentRunner>();
  readonly metrics: Metrics;
  /** Compiled copies of the TypeScript replicas import; the getters below read it when replicas start. */
  private readonly modules: ReplicaModules;
  readonly links: ReplicaLinks;
  readonly autoscaler: Autoscaler;

  constructor(
    readonly plan: Plan,
    private readonly log: Logger,
    /** The most replica threads the process runs at once (see replicaThreadBudget). */
    maxReplicaThreads: number = replicaThreadBudget(plan, undefined),
    /** Set when an OpenTelemetry SDK is registered (tracing.ts). */
    private readonly tracing: Tracing | undefined = undefined,
  ) {
    this.metrics = new Metrics({
      deployments: () =>
        this.allRunners().map((r) => ({ name: r.name, queued: r.router.queued, target: r.target, waitingForGpu: r.waitingForGpu, replicas: r.status() })),
      replicaHeaps: async () => (await Promise.all(this.allRunners().map((r) => r.heaps(HEAP_ANSWER_S)))).flat(),
    });
    const gpus = new GpuPool(plan.gpus);
    for (const d of plan.deployments.values()) for (const ids of d.gpuSlots) gpus.reserve(ids, d.options.numGpus);
    // Room freed by one deployment may let another start the replicas it is waiting for.
    gpus.onRelease(() => {
      for (const r of this.runners.values()) if (r.waitingForGpu > 0) void r.reconcile();
    });
    const replicasInProcess = () => this.allRunners().reduce((n, r) => n + Math.max(r.target, r.replicaCount), 0);
    const modules = (this.modules = new ReplicaModules([...plan.deployments.values()].map((d) => d.deployment.moduleUrl)));
    const tables = new Map([...plan.deployments.keys()].map((name) => [name, SlotTable.create()]));
    const targetRef = (name: string): TargetRef => ({
      table: tables.get(name)!.buffer,
      maxOngoing: plan.deployments.get(name)!.options.maxOngoingRequests,
    });
    this.links = new ReplicaLinks(new Map([...plan.deployments].map(([name, d]) => [name, d.targets])));
    for (const [name, d] of plan.deployments) {
      const runner = new DeploymentRunner(
        {
          options: d.options,
          get moduleUrl() {
            return modules.moduleUrl(d.deployment.moduleUrl);
          },
          get classKey() {
            return modules.classKey(d.deployment.key, d.deployment.moduleUrl);
          },
          args: d.args,
          gpuSlots: d.gpuSlots,
          gpus,
          get replicasInProcess() {
            return replicasInProcess();
          },
          workerBootstrap: workerBootstrapUrl,
          get workerEntry() {
            return modules.workerEntry;
          },
          get execArgv() {
            return modules.execArgv;
          },
          table: tables.get(name)!,
          targets: Object.fromEntries(d.targets.map((t) => [t, targetRef(t)])),
          tracing: tracing !== undefined,
        },
        // Handle calls from replicas that found no linked replica with room.
        (target, method, args, options) => this.relay(target, method, args, options),
        log,
        this.metrics,
        this.links,
        (calls, spans) => {
          for (const [target, c] of Object.entries(calls)) this.runners.get(target)?.router.served(c.s, c.e);
          if (spans !== undefined) this.tracing?.record(spans);
        },
      );
      this.runners.set(name, runner);
    }
    this.autoscaler = new Autoscaler(() => this.allRunners(), maxReplicaThreads, realClock, log, this.metrics);
  }

  async start(): Promise<void> {
    await this.modules.prepare(this.log);
    const results = await Promise.allSettled([...this.runners.values()].map((r) => r.start()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await this.stop();
      throw failed.reason;
    }
    this.autoscaler.start();
  }

  /** `signal` drops the call while it still waits in the deployment's queue (Router.call). */
  call(deployment: string, method: string, args: unknown[], options: CallOptions = {}, signal?: AbortSignal): Promise<unknown> {
    const runner = this.runners.get(deployment);
    if (!runner) return Promise.reject(new BadCallError(`no deployment named "${deployment}"`));
    if (this.tracing !== undefined) return this.tracing.call(deployment, method, options, (o) => runner.router.call(method, args, o, signal));
    return runner.router.call(method, args, options, signal);
  }

  private relay(deployment: string, method: string, args: unknown[], options: CallOptions): Promise<unknown> {
    const runner = this.runners.get(deployment);
    if (!runner) return Promise.reject(new BadCallError(`no deployment named "${deployment}"`));
    if (this.tracing !== undefined) return this.tracing.call(deployment, method, options, (o) => runner.router.relay(method, args, o));
    return runner.router.relay(method, args, options);
  }

  handle<T = unknown>(deployment: string): Handle<T> {
    const d = this.plan.deployments.get(deployment);
    if (!d) throw new BadCallError(`no deployment named "${deployment}"; running: ${[...this.runners.keys()].join(', ')}`);
    return makeHandle<T>(deployment, d.methods, (m, a, o) => this.call(deployment, m, a, o));
  }

  runner(name: string): DeploymentRunner | undefined {
    return this.runners.get(name);
  }

  allRunners(): DeploymentRunner[] {
    return [...this.runners.values()];
  }

  get ready(): boolean {
    for (const r of this.runners.values()) if (!r.ready) return false;
    return true;
  }

  /** Waits for calls to finish (up to the longest graceful timeout), then stops every replica. */
  async stop(): Promise<void> {
    this.autoscaler.stop();
    const runners = [...this.runners.values()];
    const timeoutS = Math.max(0, ...runners.map((r) => r.spec.options.gracefulShutdownTimeoutS));
    const deadline = Date.now() + timeoutS * 1000;
    for (const r of runners) await r.quiesce(Math.max(0, (deadline - Date.now()) / 1000));
    await Promise.all(runners.map((r) => r.stop()));
  }
}
