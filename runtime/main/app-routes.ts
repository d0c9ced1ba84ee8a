/**
 * One application's HTTP route: POST <prefix> and POST <prefix>/* call the ingress
 * deployment's `call(body, request)`. Each route lives in its own fastify scope so that the
 * extra body types one deployment accepts (raw image bytes, multipart) apply to it alone.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Packr } from 'msgpackr';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { codedError } from '../shared/error-codes.ts';
import type { CallOptions } from '../shared/handle.ts';
import type { RequestContext } from '../shared/protocol.ts';
import { ResponseStream } from '../shared/response-stream.ts';
import type { AppSpec, Application } from './application.ts';
import { callTraceOf } from './http-observability.ts';
import { toJson } from './json.ts';
import { MULTIPART_DEFAULTS, registerMultipart } from './multipart-body.ts';
import { STREAM_TYPES, sendStream } from './stream-response.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The extra body types a route takes, named in its 415 message. */
    acceptContentTypes?: string[];
  }
}

const RESPONSE_TYPES = ['application/json', 'application/msgpack', 'application/x-msgpack', ...Object.keys(STREAM_TYPES)];
const ALLOWED_METHODS = 'POST';
/** Ray Serve's header naming the multiplexed model a request is for. */
export const MODEL_ID_HEADER = 'serve_multiplexed_model_id';

export interface AppRouteOptions {
  requestTimeoutS: number | undefined;
  bodyLimit: number;
  packr: Packr;
  /** Where a stream that fails after its first chunk is logged (the access log has seen a 200). */
  logger: Logger;
}

export function registerAppRoute(http: FastifyInstance, app: Application, spec: AppSpec, opts: AppRouteOptions): void {
  const planned = app.plan.deployments.get(spec.ingress)!;
  const options = planned.options;
  // Copying headers and query to the replica costs ~2 µs a request: only when call() takes them.
  const wantsRequest = planned.wantsRequest;
  // Read per request from the live plan: a redeploy with new code may bring a new schema.
  const schema = () => app.plan.deployments.get(spec.ingress)!.options.requestSchema as z.ZodType | undefined;
  const extraTypes = options.acceptContentTypes ?? [];
  const route = spec.route!;
  const prefix = route === '/' ? '' : route.replace(/\/+$/, '');
  const bodyLimit = options.bodyLimit ?? opts.bodyLimit;

  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.method !== 'POST') {
      void reply.header('allow', ALLOWED_METHODS);
      throw codedError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${route}; use ${ALLOWED_METHODS}`);
    }
    const responseType = req.accepts().type(RESPONSE_TYPES) as string | false;
    if (responseType === false) {
      throw codedError('NOT_ACCEPTABLE', `cannot answer in ${String(req.headers.accept)}; accepted: ${RESPONSE_TYPES.join(', ')}`);
    }
    const requestSchema = schema();
    const body = requestSchema ? validateBody(requestSchema, req.body) : req.body;
    const args: unknown[] = [body];
    if (wantsRequest) {
      const path = req.url.split('?')[0]!.slice(prefix.length);
      const ctx: RequestContext = {
        id: String(req.id),
        method: req.method,
        url: req.url,
        path: path === '/' ? '' : path,
        headers: req.headers,
        // fastify's query parser builds objects of a prototype of its own: send a plain copy.
        query: { ...(req.query as Record<string, unknown> | undefined) },
      };
      args.push(ctx);
    }
    const callOptions: CallOptions = { trace: callTraceOf(req) };
    if (opts.requestTimeoutS !== undefined) callOptions.timeoutS = opts.requestTimeoutS;
    const modelId = req.headers[MODEL_ID_HEADER];
    if (typeof modelId === 'string' && modelId !== '') callOptions.multiplexedModelId = modelId;
    const result = await app.call(spec.ingress, 'call', args, callOptions);
    if (result instanceof ResponseStream) return sendStream(req, reply, result, STREAM_TYPES[responseType] ?? 'ndjson', opts.logger);
    // A client that asked for a stream gets the one value a call that does not stream answers.
    if (responseType === 'application/json' || responseType in STREAM_TYPES) return reply.type('application/json').send(toJson(result));
    return reply.type(responseType).send(opts.packr.pack(result));
  };

  void http.register(async (scope) => {
    const rawTypes = extraTypes.filter((t) => t !== 'multipart/form-data');
    if (rawTypes.length) {
      // Raw bodies (an image's bytes) reach the deployment as one Uint8Array, moved, not copied.
      scope.addContentTypeParser(rawTypes, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    }
    if (extraTypes.includes('multipart/form-data')) {
      // Fields become strings, files Buffers, under their field names.
      await registerMultipart(scope, { ...MULTIPART_DEFAULTS, bodyLimit });
    }
    const routeOptions = { config: { acceptContentTypes: extraTypes }, bodyLimit };
    scope.all(prefix || '/', routeOptions, handler);
    scope.all(`${prefix}/*`, routeOptions, handler);
  });
}

function validateBody(schema: z.ZodType, body: unknown): unknown {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(body)', message: i.message }));
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  throw codedError('INVALID_REQUEST', `request body is invalid: ${summary}`, { issues });
}
