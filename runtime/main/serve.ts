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
import { Application, plan } from './application.ts';
import { buildIngress } from './ingress.ts';
import { GrpcInferenceServer } from './grpc/server.ts';
import { DASHBOARD_ACCESS } from './dashboard/plugin.ts';
import { formatStatus, replicaLines, routeLines } from './status-table.ts';
import type { ReplicaLine, RouteLine } from './status-table.ts';
import type { RouteInfo } from './http-observability.ts';
import { LOG_LEVELS, createLogger } from './logger.ts';
import { Tracing, detectTracer } from './tracing.ts';
import { DeploymentModelRegistry } from './v2/deployment-registry.ts';
import { VERSION } from './version.ts';

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
  bodyLimit: z.number({ error: 'must be a positive integer of bytes' }).int({ error: 'must be a positive integer of bytes' }).positive({ error: 'must be a positive integer of bytes' }).default(1024 * 1024),
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
  grpcMaxMessageBytes: z.number({ error: 'must be a positive integer of bytes' }).int({ error: 'must be a positive integer of bytes' }).positive({ error: 'must be a positive integer of bytes' }).default(4 * 1024 * 1024),
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

export type ServeOptions = z.input<typeof serveOptionsSchema> & { logger?: Logger };

export interface ServeInstance {
  /** http://host:port when listening. */
  readonly url: string | undefined;
  /** host:port of the gRPC server (Open Inference Protocol and grpc.health.v1) when it runs. */
  readonly grpcAddress: string | undefined;
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
  close(): Promise<void>;
}

function defaultPort(): number {
  const env = process.env.PORT;
  if (env === undefined || env === '') return 8000;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new OptionsError(`serve: PORT must be an integer port from 0 to 65535, got ${JSON.stringify(env)}`);
  return n;
}

export async function run(
  apps: BoundDeployment | Record<string, BoundDeployment>,
  options: ServeOptions = {},
): Promise<ServeInstance> {
  const { logger: givenLogger, ...rest } = options;
  const parsed = serveOptionsSchema.safeParse(rest);
  if (!parsed.success) throw new OptionsError(formatIssues('serve', rest, parsed.error.issues));
  const o = parsed.data;
  const port = o.port ?? defaultPort();
  const logger = givenLogger ?? createLogger(o.logLevel, o.logFormat);
  // Spans only when the user registered an OpenTelemetry SDK before this call.
  const tracer = detectTracer();
  const tracing = tracer === undefined ? undefined : new Tracing(tracer);

  const named: Record<string, BoundDeployment> = isBound(apps) ? { [o.name]: apps } : apps;
  if (!isBound(apps) && (typeof apps !== 'object' || apps === null || Object.keys(apps).length === 0)) {
    throw new OptionsError('serve.run: give a bound deployment (Ingress.bind(...)) or a record of them');
  }
  const routeOverrides = isBound(apps) && o.route !== undefined ? { [o.name]: o.route } : {};
  const graph = plan(named, routeOverrides);

  const app = new Application(graph, logger, tracing);
  await app.start();
  const { http, routes } = buildIngress(app, {
    bodyLimit: o.bodyLimit,
    requestTimeoutS: o.requestTimeoutS,
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
          { host: o.host, port: grpcPort, maxMessageBytes: o.grpcMaxMessageBytes, serverVersion: VERSION, ready: () => app.ready },
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

  let closing: Promise<void> | undefined;
  const graceS = Math.max(...app.allRunners().map((r) => r.spec.options.gracefulShutdownTimeoutS));
  return {
    url,
    grpcAddress,
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
    close: () => {
      closing ??= (async () => {
        // Stop accepting, let in-flight HTTP requests finish; past the grace period cut them.
        const timer = setTimeout(() => http.server.closeAllConnections?.(), graceS * 1000);
        await Promise.all([http.close(), grpc?.close(graceS)]);
        clearTimeout(timer);
        await app.stop();
      })();
      return closing;
    },
  };
}
