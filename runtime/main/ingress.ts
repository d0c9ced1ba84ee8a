/**
 * The HTTP ingress: fastify on the main thread. Maps each application's route prefix to its
 * ingress deployment's `call(body, request)`, parses JSON and msgpack bodies, answers in the
 * type the Accept header asks for, and turns every failure into a JSON error body.
 */
import accepts from '@fastify/accepts';
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyError, FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Packr } from 'msgpackr';
import { codedError } from '../shared/error-codes.ts';
import type { Application } from './application.ts';
import { registerAppRoute } from './app-routes.ts';
import { checkParsedValues } from './body-guard.ts';
import { ConnectionGuard } from './connection-guard.ts';
import { clientErrorHandler, sendError } from './http-errors.ts';
import { VERSION } from './version.ts';
import { registerDashboard } from './dashboard/plugin.ts';
import type { DashboardAccess } from './dashboard/plugin.ts';
import { statusSnapshot } from './status-snapshot.ts';
import { DeploymentModelRegistry } from './v2/deployment-registry.ts';
import { v2Plugin } from './v2/plugin.ts';
import { installHttpObservability, requestIdOf } from './http-observability.ts';
import type { RouteInfo } from './http-observability.ts';
import type { IngressTracer } from './tracing.ts';
import { openApiPlugin } from './openapi.ts';

export interface IngressOptions {
  bodyLimit: number;
  requestTimeoutS: number | undefined;
  /** Time a client has to send its headers and body; past it: 408 CLIENT_TIMEOUT and the connection closes. */
  bodyTimeoutS: number;
  logger: Logger;
  accessLog: boolean;
  httpMetrics: boolean;
  tracer: IngressTracer | undefined;
  dashboard: DashboardAccess;
}

export interface Ingress {
  http: FastifyInstance;
  connections: ConnectionGuard;
  /** Every HTTP route, as registered (filled in as routes are added). */
  routes: RouteInfo[];
}

const MSGPACK_TYPES = ['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack'];

const packr = new Packr({ useRecords: false });

export function buildIngress(app: Application, opts: IngressOptions): Ingress {
  const bodyTimeoutMs = Math.round(opts.bodyTimeoutS * 1000);
  const http = Fastify({
    loggerInstance: opts.logger as unknown as FastifyBaseLogger,
    bodyLimit: opts.bodyLimit,
    // Node's own clock on slow clients: the whole request (headers and body) within bodyTimeoutS.
    // Node checks connections every connectionsCheckingInterval (30 s by default): check often
    // enough that the timeout means what it says.
    requestTimeout: bodyTimeoutMs,
    http: {
      headersTimeout: bodyTimeoutMs,
      requestTimeout: bodyTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(bodyTimeoutMs / 4))),
    },
    // Shutdown answers UNAVAILABLE in the catalogue's shape (ConnectionGuard), not fastify's own 503.
    return503OnClosing: false,
    genReqId: requestIdOf,
    clientErrorHandler: clientErrorHandler(opts.logger),
    // The access log (http-observability.ts) logs every 5xx with its stack: not again here.
    frameworkErrors: (err, req, reply) => sendError(err, req, reply, undefined),
    // fastify's own request logging makes a child logger and two lines per request: the
    // access log (http-observability.ts) writes one line from the root logger instead.
    logController: new LogController({ disableRequestLogging: true }),
  });
  const connections = new ConnectionGuard(http);
  connections.install();
  const routes = installHttpObservability(http, {
    logger: opts.logger,
    accessLog: opts.accessLog,
    metrics: opts.httpMetrics ? app.metrics.http : undefined,
    tracer: opts.tracer,
  });
  void http.register(accepts);
  registerDashboard(http, app, opts.dashboard);

  // JSON bodies: parsed, then checked for non-finite numbers (`1e999`) and reserved key names.
  http.removeContentTypeParser('application/json');
  http.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
    if (text === '') return done(codedError('MALFORMED_BODY', 'request body is empty; send a JSON value'), undefined);
    let value: unknown;
    try {
      value = JSON.parse(text as string);
    } catch (err) {
      return done(codedError('MALFORMED_BODY', `malformed JSON body: ${(err as Error).message}`), undefined);
    }
    try {
      checkParsedValues(value);
    } catch (err) {
      return done(err as Error, undefined);
    }
    done(null, value);
  });

  // Ingress bodies are JSON or msgpack; fastify's default text/plain parser would hand user
  // code a string its schema never expected, so other types answer 415.
  http.removeContentTypeParser('text/plain');
  http.addContentTypeParser(MSGPACK_TYPES, { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      const value: unknown = packr.unpack(body as Buffer);
      checkParsedValues(value);
      done(null, value);
    } catch (err) {
      if ((err as { code?: unknown }).code === 'INVALID_INPUT') return done(err as Error, undefined);
      done(codedError('MALFORMED_BODY', `malformed msgpack body: ${(err as Error).message}`), undefined);
    }
  });

  http.setErrorHandler((err: FastifyError | Error, req, reply) => sendError(err, req, reply, undefined));
  http.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route for ${req.method} ${req.url.split('?')[0]}` } });
  });

  http.get('/-/healthz', async (_req, reply) => {
    if (app.ready) return reply.type('text/plain').send('success');
    return reply.status(503).send({ error: { code: 'NOT_READY', message: 'not all replicas are running' } });
  });
  http.get('/-/routes', async () => {
    const routes: Record<string, string> = {};
    for (const a of app.plan.apps) if (a.route !== null) routes[a.route] = a.name;
    return routes;
  });
  http.get('/metrics', async (_req, reply) => {
    const registry = app.metrics.registry;
    return reply.type(registry.contentType).send(await registry.metrics());
  });
  http.get('/-/status', async () => statusSnapshot(app));

  // Every model deployment also speaks the Open Inference Protocol under /v2.
  void http.register(v2Plugin, { registry: new DeploymentModelRegistry(app), bodyLimit: opts.bodyLimit, serverVersion: VERSION });

  void http.register(openApiPlugin, { app });

  for (const spec of app.plan.apps) {
    if (spec.route !== null)
      registerAppRoute(http, app, spec, { requestTimeoutS: opts.requestTimeoutS, bodyLimit: opts.bodyLimit, packr, logger: opts.logger });
  }
  return { http, connections, routes };
}
