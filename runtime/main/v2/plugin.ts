/**
 * The Open Inference Protocol (KServe V2) REST routes as an encapsulated fastify plugin: health,
 * server and model metadata, readiness, infer (JSON and the binary tensor data extension) and
 * the repository index. It reaches models only through a ModelRegistry, so model ids are
 * whatever the registry accepts (multiplexed per-country ids included).
 *
 *   await http.register(v2Plugin, { registry, bodyLimit });
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from '../../shared/errors.ts';
import { answerMessage, classifyError } from '../http-errors.ts';
import { admitMemory } from '../../shared/memory-budget.ts';
import { decodeInferRequest, encodeInferResponse, tensorBytes } from './codec.ts';
import type { DecodedRequest } from './codec.ts';
import { callTraceOf } from '../http-observability.ts';
import type { ModelRegistry, V2InferRequest, V2InferResult, V2ModelMetadata, V2TensorMetadata } from './model-registry.ts';
import type { ChunkStream } from '../../shared/response-stream.ts';
import { sendStream } from '../stream-response.ts';

export interface V2PluginOptions {
  registry: ModelRegistry;
  /** Largest infer body in bytes, JSON header and binary tensor data together. */
  bodyLimit: number;
  /** Reported by `GET /v2`; the lead passes the package version. */
  serverVersion?: string;
}

type Params = { model: string; version?: string };

const EXTENSIONS = ['binary_tensor_data'];

/** ONNX reports dynamic dimensions as null, negative or symbolic names; V2 clients expect -1. */
export function normalizeShapes(tensors: V2TensorMetadata[]): V2TensorMetadata[] {
  return tensors.map((t) => ({
    name: t.name,
    datatype: t.datatype,
    shape: (t.shape as unknown[]).map((d) => (typeof d === 'number' && Number.isSafeInteger(d) && d >= 0 ? d : -1)),
  }));
}

/** Drops keys that steer the wire format only, so models see the parameters meant for them. */
function without(params: Record<string, unknown> | undefined, key: string): Record<string, unknown> | undefined {
  if (params === undefined || !(key in params)) return params;
  const { [key]: _dropped, ...rest } = params;
  return Object.keys(rest).length > 0 ? rest : undefined;
}

function toRegistryRequest(req: DecodedRequest): V2InferRequest {
  const out: V2InferRequest = { inputs: req.inputs };
  if (req.id !== undefined) out.id = req.id;
  const parameters = without(req.parameters, 'binary_data_output');
  if (parameters !== undefined) out.parameters = parameters;
  if (req.outputs !== undefined) {
    out.outputs = req.outputs.map((o) => {
      const p = without(o.parameters, 'binary_data');
      return p === undefined ? { name: o.name } : { name: o.name, parameters: p };
    });
  }
  return out;
}

/** The body of POST /v2/repository/index: empty, or `{"ready": boolean}` to list ready models only. */
function readyFilter(body: unknown): boolean {
  if (!Buffer.isBuffer(body) || body.length === 0) return false;
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `request JSON is malformed: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(400, 'request body must be a JSON object');
  const ready = (value as { ready?: unknown }).ready;
  if (ready !== undefined && typeof ready !== 'boolean') throw new HttpError(400, 'ready must be a boolean');
  return ready === true;
}

export const v2Plugin: FastifyPluginAsync<V2PluginOptions> = async (app, opts) => {
  const { registry, bodyLimit } = opts;

  // This plugin is encapsulated (not wrapped in fastify-plugin), so replacing the parsers here
  // leaves the main app's JSON and msgpack parsers alone. Every body arrives as a Buffer: the
  // binary extension puts raw tensor bytes after the JSON, and clients send it as
  // application/json, application/octet-stream or with no content type at all.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err: Error, req, reply) => {
    // The protocol's shape, `{"error": "message"}`, with the same statuses and clean messages as
    // the rest of the ingress; a fault of the server is logged once, with its stack.
    const answer = classifyError(err);
    if (answer.fault) req.log.error({ err, reqId: req.id }, 'v2 request failed');
    if (answer.retryAfterS !== undefined) void reply.header('retry-after', String(Math.max(1, Math.ceil(answer.retryAfterS))));
    void reply
      .status(answer.status)
      .type('application/json; charset=utf-8')
      .send({ error: answer.code === 'BODY_TOO_LARGE' ? answerMessage(answer, err, req) : answer.message });
  });

  app.get('/v2/health/live', async () => ({ live: true }));
  app.get('/v2/health/ready', async (_req, reply) => {
    if (registry.serverReady()) return { ready: true };
    return reply.status(503).send({ ready: false, error: 'server is not ready' });
  });
  app.get('/v2', async () => ({ name: 'threadserve', version: opts.serverVersion ?? 'unknown', extensions: EXTENSIONS }));

  const metadata = async (req: FastifyRequest<{ Params: Params }>): Promise<V2ModelMetadata> => {
    const { model, version } = req.params;
    const m = await registry.metadata(model, version);
    return { name: m.name, versions: m.versions, platform: m.platform, inputs: normalizeShapes(m.inputs), outputs: normalizeShapes(m.outputs) };
  };

  const ready = async (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    const { model, version } = req.params;
    if (await registry.ready(model, version)) return { name: model, ready: true };
    const which = version === undefined ? `model '${model}'` : `version '${version}' of model '${model}'`;
    return reply.status(503).send({ name: model, ready: false, error: `${which} is not ready` });
  };

  const infer = async (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    const { model, version } = req.params;
    const headerLength = req.headers['inference-header-content-length'];
    const decoded = decodeInferRequest(req.body as Buffer | undefined, Array.isArray(headerLength) ? headerLength[0] : headerLength);
    // The decoded tensors count against the process's memory budget until the answer is encoded.
    const lease = await admitMemory(tensorBytes(decoded), `an inference request for model '${model}'`);
    try {
      return await answer(req, reply, model, version, decoded);
    } finally {
      lease.release();
    }
  };

  const answer = async (req: FastifyRequest, reply: FastifyReply, model: string, version: string | undefined, decoded: DecodedRequest) => {
    const result = await registry.infer(model, version, toRegistryRequest(decoded), undefined, callTraceOf(req));
    if (!('outputs' in result)) return streamAnswer(req, reply, model, version, decoded, result);
    const modelVersion = result.model_version ?? version;
    const encoded = encodeInferResponse(
      {
        model_name: model,
        ...(modelVersion !== undefined && { model_version: modelVersion }),
        ...(decoded.id !== undefined && { id: decoded.id }),
        ...(result.parameters !== undefined && { parameters: result.parameters }),
        outputs: result.outputs,
      },
      decoded,
    );
    if (encoded.headerLength !== undefined) void reply.header('inference-header-content-length', String(encoded.headerLength));
    return reply.type(encoded.contentType).send(encoded.body);
  };

  /**
   * A model that streams (its predict() is an async generator) answers one V2 response per
   * chunk, as JSON lines or, when the client accepts text/event-stream, as Server-Sent Events.
   * Binary outputs do not apply: every chunk is JSON.
   */
  const streamAnswer = (
    req: FastifyRequest,
    reply: FastifyReply,
    model: string,
    version: string | undefined,
    decoded: DecodedRequest,
    stream: ChunkStream<V2InferResult>,
  ) => {
    const asJson = { outputs: decoded.outputs?.map((o) => ({ name: o.name })) };
    const encode = (chunk: unknown) => {
      const r = chunk as V2InferResult;
      const modelVersion = r.model_version ?? version;
      const top = {
        model_name: model,
        ...(modelVersion !== undefined && { model_version: modelVersion }),
        ...(decoded.id !== undefined && { id: decoded.id }),
        ...(r.parameters !== undefined && { parameters: r.parameters }),
        outputs: r.outputs,
      };
      return encodeInferResponse(top, asJson).body as string;
    };
    const format = req.accepts().type(['application/x-ndjson', 'text/event-stream']) === 'text/event-stream' ? 'sse' : 'ndjson';
    return sendStream(req, reply, stream, format, req.log, encode);
  };

  for (const base of ['/v2/models/:model', '/v2/models/:model/versions/:version']) {
    app.get<{ Params: Params }>(base, metadata);
    app.get<{ Params: Params }>(`${base}/ready`, ready);
    app.post<{ Params: Params }>(`${base}/infer`, { bodyLimit }, infer);
  }

  app.post('/v2/repository/index', async (req) => {
    const onlyReady = readyFilter(req.body);
    return (await registry.list()).filter((m) => !onlyReady || m.state === 'READY');
  });

  // Unknown paths and methods under /v2 answer in the protocol's error shape rather than falling
  // through to the main app's not-found handler or to an application mounted at '/'.
  app.all('/v2/*', async (req, reply) => {
    return reply.status(404).send({ error: `no V2 route for ${req.method} ${req.url.split('?')[0]}` });
  });
};
