/**
 * The HTTP ingress: fastify on the main thread. Maps each application's route prefix to its
 * ingress deployment's `call(body, request)`, parses JSON and msgpack bodies, answers in the
 * type the Accept header asks for, and turns every failure into a JSON error body.
 */
import accepts from '@fastify/accepts';
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Packr } from 'msgpackr';
import { ThreadserveError } from '../shared/errors.ts';
import { codedError } from '../shared/error-codes.ts';
import type { Application } from './application.ts';
import { registerAppRoute } from './app-routes.ts';
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
  logger: Logger;
  accessLog: boolean;
  httpMetrics: boolean;
  tracer: IngressTracer | undefined;
  dashboard: DashboardAccess;
}

const MSGPACK_TYPES = ['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack'];

/** Fastify's own error codes, renamed to the runtime's stable codes. */
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_BODY',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_BODY',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_REQ_FILE_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_FILES_LIMIT: 'BODY_TOO_LARGE',
  FST_PARTS_LIMIT: 'BODY_TOO_LARGE',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'MALFORMED_BODY',
};

const packr = new Packr({ useRecords: false });


export function buildIngress(app: Application, opts: IngressOptions): { http: FastifyInstance; routes: RouteInfo[] } {
  const http = Fastify({
    loggerInstance: opts.logger as unknown as FastifyBaseLogger,
    bodyLimit: opts.bodyLimit,
    return503OnClosing: true,
    genReqId: requestIdOf,
    // fastify's own request logging makes a child logger and two lines per request: the
    // access log (http-observability.ts) writes one line from the root logger instead.
    logController: new LogController({ disableRequestLogging: true }),
  });
  const routes = installHttpObservability(http, { logger: opts.logger, accessLog: opts.accessLog, metrics: opts.httpMetrics ? app.metrics.http : undefined, tracer: opts.tracer });
  void http.register(accepts);
  registerDashboard(http, app, opts.dashboard);

  // Ingress bodies are JSON or msgpack; fastify's default text/plain parser would hand user
  // code a string its schema never expected, so other types answer 415.
  http.removeContentTypeParser('text/plain');
  http.addContentTypeParser(MSGPACK_TYPES, { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      done(null, packr.unpack(body as Buffer));
    } catch (err) {
      done(codedError('MALFORMED_BODY', `malformed msgpack body: ${(err as Error).message}`), undefined);
    }
  });

  http.setErrorHandler((err: FastifyError | Error, req, reply) => sendError(err, req, reply));
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
    if (spec.route !== null) registerAppRoute(http, app, spec, { requestTimeoutS: opts.requestTimeoutS, bodyLimit: opts.bodyLimit, packr });
  }
  return { http, routes };
}

function extraTypesHint(req: FastifyRequest): string {
  const extra = req.routeOptions.config?.acceptContentTypes;
  return extra?.length ? ` (or ${extra.join(', ')})` : '';
}

function sendError(err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): void {
  let status = 500;
  let code = 'INTERNAL';
  let details: Record<string, unknown> | undefined;
  if (err instanceof ThreadserveError) {
    status = err.statusCode;
    code = err.code;
    details = err.details;
  } else {
    const fe = err as FastifyError;
    const known = typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500;
    if (known) {
      status = fe.statusCode!;
      code = FASTIFY_CODES[fe.code] ?? (err instanceof SyntaxError ? 'MALFORMED_BODY' : 'BAD_REQUEST');
    } else if (typeof (err as { code?: unknown }).code === 'string') {
      code = (err as { code: string }).code;
    }
  }
  if (code === 'BACKPRESSURE') void reply.header('retry-after', String(details?.retryAfterS ?? 1));
  let message = err.message;
  if (code === 'UNSUPPORTED_MEDIA_TYPE') {
    message = `unsupported content type ${JSON.stringify(req.headers['content-type'] ?? '')}; send application/json or application/msgpack${extraTypesHint(req)}`;
  } else if (code === 'BODY_TOO_LARGE') {
    message = `request body is too large: the limit is ${req.routeOptions.bodyLimit ?? '?'} bytes`;
  }
  const body: { error: Record<string, unknown> } = { error: { code, message } };
  if (details?.issues) body.error.issues = details.issues;
  void reply.status(status).type('application/json').send(body);
}
