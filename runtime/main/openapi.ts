/**
 * `GET /-/openapi.json`: an OpenAPI 3.1 document of every route, and `/-/docs`, an interactive
 * page for it (@fastify/swagger-ui, its assets served from the installed package: no CDN).
 *
 * The document is built from the application plan rather than from fastify route schemas:
 * application routes validate with zod (`requestSchema`), which zod 4 converts to JSON Schema
 * 2020-12 (OpenAPI 3.1's dialect), and giving fastify those schemas would make it validate
 * every body a second time. Error answers come from the error catalogue.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ERROR_CODES } from '../shared/error-codes.ts';
import type { ErrorCode } from '../shared/error-codes.ts';
import type { Application } from './application.ts';
import { V2_SCHEMAS, v2Paths } from './openapi-v2.ts';
import { VERSION } from './version.ts';

type Schema = Record<string, unknown>;

const RESPONSE_TYPES = ['application/json', 'application/msgpack'];
const STREAM_RESPONSE_TYPES = ['application/x-ndjson', 'text/event-stream'];
const BODY_TYPES = ['application/json', 'application/msgpack'];
/** What every application route can answer besides its own errors. */
const APP_ROUTE_CODES: ErrorCode[] = [
  'MALFORMED_BODY',
  'NOT_ACCEPTABLE',
  'TIMEOUT',
  'BODY_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'USER_ERROR',
  'BAD_CALL',
  'BACKPRESSURE',
  'REPLICA_DIED',
  'UNAVAILABLE',
];
const APP_TAG = 'Applications';
const OPS_TAG = 'Operations';

/** The runtime's error body, with the codes one answer can carry. */
function errorBody(codes: string[]): Schema {
  return {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: codes.length ? { enum: codes } : { type: 'string' },
          message: { type: 'string' },
          issues: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
        },
      },
    },
  };
}

/** Error responses by status, each listing its codes and when they happen. */
function errorResponses(codes: ErrorCode[]): Record<string, Schema> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const c of codes) {
    const status = ERROR_CODES[c].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), c]);
  }
  const out: Record<string, Schema> = {};
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    out[String(status)] = {
      description: list.map((c) => `${c}: ${ERROR_CODES[c].when}`).join('; '),
      content: { 'application/json': { schema: errorBody(list) } },
      ...(list.includes('BACKPRESSURE') ? { headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'seconds to wait (BACKPRESSURE)' } } } : {}),
    };
  }
  out.default = {
    description: `HTTP_ERROR: ${ERROR_CODES.HTTP_ERROR.when}; or an error code of the application's own`,
    content: { 'application/json': { schema: errorBody([]) } },
  };
  return out;
}

/** A zod schema as JSON Schema 2020-12, describing what the client sends (before transforms). */
function bodySchema(schema: z.ZodType, id: string): Schema {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Schema;
  delete json.$schema;
  // Local references (#/$defs/...) must resolve inside this schema, not against the document.
  if (json.$defs !== undefined) json.$id = `urn:threadserve:schema:${id}`;
  return json;
}

function buildOpenApiDocument(app: Application): Schema {
  const schemas: Record<string, Schema> = { ...V2_SCHEMAS };
  const paths: Record<string, Schema> = {};
  for (const spec of app.plan.apps) {
    if (spec.route === null) continue;
    const options = app.plan.deployments.get(spec.ingress)!.options;
    const prefix = spec.route === '/' ? '' : spec.route.replace(/\/+$/, '');
    let body: Schema = {};
    const codes = [...APP_ROUTE_CODES];
    if (options.requestSchema !== undefined) {
      const name = `${spec.ingress}Request`;
      schemas[name] = bodySchema(options.requestSchema as z.ZodType, name);
      body = { $ref: `#/components/schemas/${name}` };
      codes.splice(1, 0, 'INVALID_REQUEST');
    }
    const content: Record<string, Schema> = {};
    for (const t of BODY_TYPES) content[t] = { schema: body };
    for (const t of options.acceptContentTypes ?? []) {
      content[t] =
        t === 'multipart/form-data'
          ? { schema: { type: 'object', additionalProperties: true, description: 'fields arrive as strings, files as bytes, under their field names' } }
          : { schema: { type: 'string', contentMediaType: t, description: 'the raw body, handed to call() as a Uint8Array' } };
    }
    const operation = (withPath: boolean): Schema => ({
      tags: [APP_TAG],
      operationId: withPath ? `${spec.name}_subpath` : spec.name,
      summary: `${spec.ingress}.call(body, request) of application "${spec.name}"`,
      ...(withPath
        ? {
            parameters: [
              {
                name: 'path',
                in: 'path',
                required: true,
                schema: { type: 'string' },
                description: 'any sub-path (may contain "/"), given to call() as request.path',
              },
            ],
          }
        : {}),
      requestBody: { required: true, content },
      responses: {
        200: {
          description:
            'the value call() returned, in the type Accept asks for (typed arrays become JSON arrays); when call() returns a stream ' +
            '(an async iterable), one JSON value per line (application/x-ndjson) or Server-Sent Events (text/event-stream, when Accept prefers it)',
          content: Object.fromEntries([...RESPONSE_TYPES, ...STREAM_RESPONSE_TYPES].map((t) => [t, { schema: {} }])),
        },
        ...errorResponses(codes),
      },
    });
    paths[prefix || '/'] = { post: operation(false) };
    paths[`${prefix}/{path}`] = { post: operation(true) };
  }
  Object.assign(paths, v2Paths(), operationsPaths());
  return {
    openapi: '3.1.0',
    info: {
      title: 'threadserve',
      version: VERSION,
      description: 'Applications served by threadserve, the Open Inference Protocol (KServe V2) and the operational routes.',
    },
    tags: [{ name: APP_TAG }, { name: 'Open Inference Protocol (KServe V2)' }, { name: OPS_TAG }],
    paths,
    components: { schemas },
  };
}

function operationsPaths(): Record<string, Schema> {
  const get = (summary: string, content: Record<string, Schema>, extra: Record<string, Schema> = {}) => ({
    get: { tags: [OPS_TAG], summary, responses: { 200: { description: 'OK', content }, ...extra } },
  });
  return {
    '/-/healthz': get(
      '200 "success" once every replica runs',
      { 'text/plain': { schema: { type: 'string' } } },
      {
        503: { description: 'NOT_READY: replicas start or restart', content: { 'application/json': { schema: errorBody(['NOT_READY']) } } },
      },
    ),
    '/-/routes': get('Route prefix to application', { 'application/json': { schema: { type: 'object', additionalProperties: { type: 'string' } } } }),
    '/-/status': get('Deployments, replicas and queues', { 'application/json': { schema: { type: 'object' } } }),
    '/metrics': get('Prometheus metrics', { 'text/plain': { schema: { type: 'string' } } }),
    '/-/openapi.json': get('This document', { 'application/json': { schema: { type: 'object' } } }),
  };
}

/** Registers `/-/openapi.json` and `/-/docs` (call before the server is ready). */
export async function openApiPlugin(http: FastifyInstance, opts: { app: Application }): Promise<void> {
  const document = buildOpenApiDocument(opts.app);
  await http.register(swagger, { mode: 'static', specification: { document: document as never } });
  await http.register(swaggerUi, { routePrefix: '/-/docs' });
  http.get('/-/openapi.json', async () => document);
}
