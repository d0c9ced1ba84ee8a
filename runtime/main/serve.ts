/**
 * `serve.run(app, options)`: validates everything, starts every replica, then the HTTP ingress
 * and the gRPC server. Returns a running instance; `close()` drains it (HTTP and gRPC first,
 * then calls, then threads).
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import { isBound } from '../shared/deployment.ts';
import type { BoundDeployment } from '../shared/deployment.ts';
import { OptionsError } from '../shared/errors.ts';
import type { Handle } from '../shared/handle.ts';
import { formatIssues } from '../shared/options.ts';
import { MEMORY_BUDGET_DEFAULTS, configureMemoryBudget } from '../shared/memory-budget.ts';
import type { DeploymentOptions } from '../shared/options.ts';
import { Application, plan, replicaThreadBudget } from './application.ts';
import { buildIngress } from './ingress.ts';
import { GrpcInferenceServer } from './grpc/server.ts';
import { GrpcObserver } from './grpc/observe.ts';
import { DASHBOARD_ACCESS } from './dashboard/plugin.ts';
import { formatStatus, replicaLines, routeLines } from './status-table.ts';
import type { ReplicaLine, RouteLine } from './status-table.ts';
import type { RouteInfo } from './http-observability.ts';
import { LOG_LEVELS, createLogger } from './logger.ts';
import { Tracing, detectTracer } from './tracing.ts';
import { DeploymentModelRegistry } from './v2/deployment-registry.ts';
import { VERSION } from './version.ts';
import { checkAdminOptions, startAdmin } from './admin.ts';
import { Deployer } from './redeploy.ts';

const serveOptionsSchema = z.strictObject({
  host: z.string({ error: 'must be a host name or address' }).min(1, { error: 'must be a host name or address' }).default('127.0.0.1'),
  port: z
    .number({ error: 'must be an integer port from 0 to 65535' })
    .int({ error: 'must be an integer port from 0 to 65535' })
    .min(0, { error: 'must be an integer port from 0 to 65535' })
    .max(65535, { error: 'must be an integer port from 0 to 65535' })
    .optional(),
  /** false: start no listener (tests use `instance.http.inject`). */
  listen: z.boolean({ error: 'must be true or false' }).default(true),
  /** Application name when one app is given (Ray Serve's default is "default"). */
  name: z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }).default('default'),
  /** Route prefix for a single app, overriding the ingress's `route`; null: no HTTP route. */
  route: z.string({ error: 'must be a path starting with "/"' }).regex(/^\//, { error: 'must be a path starting with "/"' }).nullable().optional(),
  bodyLimit: z
    .number({ error: 'must be a positive integer of bytes' })
    .int({ error: 'must be a positive integer of bytes' })
    .positive({ error: 'must be a positive integer of bytes' })
    .default(1024 * 1024),
  requestTimeoutS: z.number({ error: 'must be a positive number of seconds' }).positive({ error: 'must be a positive number of seconds' }).optional(),
  /**
   * The Open Inference Protocol over gRPC: its port (default 8001, or 0 when `port` is 0, so
   * servers on random ports never contend for 8001), or false for no gRPC server.
   */
  grpcPort: z
    .custom<number | false>((v) => v === false || (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535), {
      error: 'must be an integer port from 0 to 65535, or false',
    })
    .optional(),
  /** Largest gRPC message in or out, in bytes (gRPC's own default: 4 MiB). */
  grpcMaxMessageBytes: z
    .number({ error: 'must be a positive integer of bytes' })
    .int({ error: 'must be a positive integer of bytes' })
    .positive({ error: 'must be a positive integer of bytes' })
    .default(4 * 1024 * 1024),
  /** Time a client has to send a request's headers and body; past it: 408 and the connection closes. */
  bodyTimeoutS: z.number({ error: 'must be a positive number of seconds' }).positive({ error: 'must be a positive number of seconds' }).default(30),
  /** Memory that requests in flight may make the server allocate (decoded pixels, request tensors), in MiB. */
  memoryBudgetMb: z
    .number({ error: 'must be a positive number of MiB' })
    .positive({ error: 'must be a positive number of MiB' })
    .default(MEMORY_BUDGET_DEFAULTS.budgetMb),
  /** How long a request waits for room in the memory budget before 503 OVER_MEMORY_BUDGET. */
  memoryWaitS: z
    .number({ error: 'must be a non-negative number of seconds' })
    .min(0, { error: 'must be a non-negative number of seconds' })
    .default(MEMORY_BUDGET_DEFAULTS.waitS),
  /** The most replica threads the process runs (autoscaling grows within it); default twice the cores. */
  maxReplicaThreads: z
    .number({ error: 'must be a positive integer' })
    .int({ error: 'must be a positive integer' })
    .positive({ error: 'must be a positive integer' })
    .optional(),
  /** Who may open /-/dashboard: loopback clients ('local'), anyone ('open'), or nobody ('off'). */
  dashboard: z.enum(DASHBOARD_ACCESS, { error: `must be one of ${DASHBOARD_ACCESS.join(', ')}` }).default('local'),
  logLevel: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  /** 'auto': human-readable when stdout is a terminal, JSON lines otherwise. */
  logFormat: z.enum(['auto', 'json', 'pretty'], { error: 'must be one of auto, json, pretty' }).default('auto'),
  /** One log line per HTTP request (5xx answers are logged either way). */
  accessLog: z.boolean({ error: 'must be true or false' }).default(true),
  /** HTTP requests by route, method and status class, and their latency, in /metrics. */
  httpMetrics: z.boolean({ error: 'must be true or false' }).default(true),
});

export type ServeOptions = z.input<typeof serveOptionsSchema> & {
  logger?: Logger;
  /** Route prefix per application name, over the ingress's `route` (null: no HTTP route). */
  routePrefixes?: Record<string, string | null>;
  /** Options per deployment name, over what the code sets (what a config file does). */
  deploymentOptions?: Record<string, DeploymentOptions>;
  /**
   * Start the admin API (`threadserve status`, `threadserve deploy`) on a listener of its own:
   * host 127.0.0.1 unless given (elsewhere a token is required), port 8265 unless given (0: any).
   * `optional`: when the port is taken, log and serve without it (the CLI's default port).
   */
  admin?: { host?: string; port?: number; token?: string; optional?: boolean };
  /** The module and export each application came from, so a redeploy can tell changed code. */
  appSources?: Record<string, { path: string; exportName: string }>;
};

export interface ServeInstance {
  /** http://host:port when listening. */
  readonly url: string | undefined;
  /** host:port of the gRPC server (Open Inference Protocol and grpc.health.v1) when it runs. */
  readonly grpcAddress: string | undefined;
  /** The admin API's http://host:port when it runs. */
  readonly adminUrl: string | undefined;
  /** The fastify instance: `inject()` for tests, or add your own routes before traffic. */
  readonly http: FastifyInstance;
  readonly logger: Logger;
  /** A handle to any running deployment by name. */
  handle<T = unknown>(deployment: string): Handle<T>;
  /** Whether every replica of every deployment is running. */
  readonly ready: boolean;
  /** Every HTTP route (application, Open Inference Protocol, `/-/` and `/metrics`), as registered. */
  readonly routes: readonly RouteInfo[];
  /** Routes plus a deployments and replicas table. */
  statusText(): string;
  /** The same as data (what the CLI logs when its output is JSON). */
  status(): { url: string | undefined; routes: RouteLine[]; replicas: ReplicaLine[] };
  /** Runs `reconfigure(userConfig)` on every replica of a deployment. */
  reconfigure(deployment: string, userConfig: unknown): Promise<void>;
  /**
   * Sets a deployment's replica count while it serves: new replicas start (as GPU room allows),
   * surplus ones stop taking calls and stop once their calls are done. Resolves when done.
   */
  scale(deployment: string, numReplicas: number): Promise<void>;
  close(): Promise<void>;
}

function defaultPort(): number {
  const env = process.env.PORT;
  if (env === undefined || env === '') return 8000;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new OptionsError(`serve: PORT must be an integer port from 0 to 65535, got ${JSON.stringify(env)}`);
  return n;
}

export async function run(apps: BoundDeployment | Record<string, BoundDeployment>, options: ServeOptions = {}): Promise<ServeInstance> {
  const { logger: givenLogger, routePrefixes, deploymentOptions, admin, appSources, ...rest } = options;
  const parsed = serveOptionsSchema.safeParse(rest);
  if (!parsed.success) throw new OptionsError(formatIssues('serve', rest, parsed.error.issues));
  const o = parsed.data;
  const port = o.port ?? defaultPort();
  if (admin) checkAdminOptions({ host: admin.host ?? '127.0.0.1', token: admin.token });
  const logger = givenLogger ?? createLogger(o.logLevel, o.logFormat);
  // Spans only when the user registered an OpenTelemetry SDK before this call.
  const tracer = detectTracer();
  const tracing = tracer === undefined ? undefined : new Tracing(tracer);

  const named: Record<string, BoundDeployment> = isBound(apps) ? { [o.name]: apps } : apps;
  if (!isBound(apps) && (typeof apps !== 'object' || apps === null || Object.keys(apps).length === 0)) {
    throw new OptionsError('serve.run: give a bound deployment (Ingress.bind(...)) or a record of them');
  }
  const routeOverrides = { ...routePrefixes, ...(isBound(apps) && o.route !== undefined ? { [o.name]: o.route } : {}) };
  const graph = plan(named, routeOverrides, undefined, deploymentOptions);

  configureMemoryBudget(o.memoryBudgetMb, o.memoryWaitS);
  const app = new Application(graph, logger, replicaThreadBudget(graph, o.maxReplicaThreads), tracing);
  // Walks and hashes the application's source files while replicas start: a file changed
  // after start-up is new code for the next deploy (redeploy.ts).
  const deployer = admin ? new Deployer(app, logger, appSources ?? {}) : undefined;
  await app.start();
  await deployer?.ready;
  const { http, connections, routes } = buildIngress(app, {
    bodyLimit: o.bodyLimit,
    requestTimeoutS: o.requestTimeoutS,
    bodyTimeoutS: o.bodyTimeoutS,
    logger,
    accessLog: o.accessLog,
    httpMetrics: o.httpMetrics,
    tracer: tracing,
    dashboard: o.dashboard,
  });
  let url: string | undefined;
  let grpc: GrpcInferenceServer | undefined;
  let grpcAddress: string | undefined;
  try {
    if (o.listen) {
      await http.listen({ host: o.host, port });
      const addr = http.server.address();
      const actualPort = typeof addr === 'object' && addr ? addr.port : port;
      url = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${actualPort}`;
      const grpcPort = o.grpcPort ?? (port === 0 ? 0 : 8001);
      if (grpcPort !== false) {
        grpc = new GrpcInferenceServer(
          new DeploymentModelRegistry(app),
          {
            host: o.host,
            port: grpcPort,
            maxMessageBytes: o.grpcMaxMessageBytes,
            serverVersion: VERSION,
            ready: () => app.ready,
            observer: new GrpcObserver(logger, o.accessLog, o.httpMetrics ? app.metrics.grpc : undefined),
          },
          logger,
        );
        grpcAddress = await grpc.listen();
      }
    } else {
      await http.ready();
    }
  } catch (err) {
    await Promise.all([http.close(), grpc?.close(0)]);
    await app.stop();
    throw err;
  }
  let adminHttp: FastifyInstance | undefined;
  let adminUrl: string | undefined;
  if (admin && deployer) {
    const adminOptions = { host: admin.host ?? '127.0.0.1', port: admin.port ?? 8265, token: admin.token };
    try {
      ({ http: adminHttp, url: adminUrl } = await startAdmin(app, deployer, adminOptions, logger));
    } catch (err) {
      if (admin.optional && (err as { code?: string }).code === 'EADDRINUSE') {
        logger.warn(`admin API not started: port ${adminOptions.port} is in use (choose one with --admin-port; 0 picks a free one)`);
      } else {
        await http.close();
        await app.stop();
        throw err;
      }
    }
  }

  let closing: Promise<void> | undefined;
  const graceS = Math.max(...app.allRunners().map((r) => r.spec.options.gracefulShutdownTimeoutS));
  return {
    url,
    grpcAddress,
    adminUrl,
    http,
    logger,
    handle: (name) => app.handle(name),
    get ready() {
      return app.ready;
    },
    routes,
    statusText: () => formatStatus(app, url, routes),
    status: () => ({ url, routes: routeLines(app, routes), replicas: replicaLines(app) }),
    reconfigure: async (name, userConfig) => {
      const runner = app.runner(name);
      if (!runner) throw new OptionsError(`reconfigure: no deployment named "${name}"`);
      await runner.reconfigure(userConfig);
    },
    scale: async (name, numReplicas) => {
      const runner = app.runner(name);
      if (!runner)
        throw new OptionsError(
          `scale: no deployment named "${name}"; running: ${app
            .allRunners()
            .map((r) => r.name)
            .join(', ')}`,
        );
      if (!Number.isInteger(numReplicas) || numReplicas < 0) {
        throw new OptionsError(`scale: deployment "${name}": numReplicas must be a non-negative integer, got ${JSON.stringify(numReplicas)}`);
      }
      await runner.scaleTo(numReplicas);
    },
    close: () => {
      closing ??= (async () => {
        // Stop accepting; close idle and stalled connections now; let requests being served
        // finish; past the grace period cut them.
        connections.startDrain();
        const timer = setTimeout(() => http.server.closeAllConnections?.(), graceS * 1000);
        await Promise.all([http.close(), grpc?.close(graceS)]);
        clearTimeout(timer);
        await adminHttp?.close();
        await app.stop();
      })();
      return closing;
    },
  };
}
