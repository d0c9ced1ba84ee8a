/**
 * The Open Inference Protocol over gRPC: `inference.GRPCInferenceService` and the standard
 * `grpc.health.v1.Health`, on a port of their own, over the same ModelRegistry as the REST
 * routes (so every model deployment and every multiplexed model id is reachable, and calls go
 * through the deployments' routers with their limits and backpressure).
 *
 * A client that gives up (its deadline passes, or it cancels) aborts the call's signal: a call
 * still queued in a router leaves the queue and never runs. Shutdown stops taking calls
 * (UNAVAILABLE), lets running ones finish up to the grace period, then cuts the rest.
 */
import { Server, ServerCredentials, status as Status } from '@grpc/grpc-js';
import type { sendUnaryData, ServerDuplexStream, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { ServingStatus } from 'grpc-health-check';
import type { Http2Server, ServerHttp2Session } from 'node:http2';
import type { Logger } from 'pino';
import { HttpError } from '../../shared/errors.ts';
import { normalizeShapes } from '../v2/plugin.ts';
import type { ModelRegistry, V2InferResult } from '../v2/model-registry.ts';
import { mapChunks } from '../../shared/response-stream.ts';
import type { ChunkStream } from '../../shared/response-stream.ts';
import { loadInferenceService, SERVICE_NAME } from './proto.ts';
import type { ModelInferRequest, ModelInferResponse, ModelMetadataResponse, ModelRef } from './proto.ts';
import { callTraceOfMetadata } from './observe.ts';
import type { GrpcObserver } from './observe.ts';
import { toStatus } from './status.ts';
import type { CallTrace } from '../../shared/trace-context.ts';
import { serveInferStream } from './stream-infer.ts';
import type { StreamInferResponse } from './stream-infer.ts';
import { decodeModelInfer, encodeModelInfer } from './tensors.ts';

export interface GrpcServerOptions {
  host: string;
  /** 0: a free port, chosen by the system. */
  port: number;
  /** Largest request or response message, in bytes; larger ones fail with RESOURCE_EXHAUSTED. */
  maxMessageBytes: number;
  serverVersion: string;
  /** Whether every replica runs (the health service's answer follows it). */
  ready(): boolean;
  /** The access log and metrics of calls. */
  observer: GrpcObserver;
}

/** How often the health service looks at readiness (its Watch streams hear of changes). */
const HEALTH_POLL_MS = 1000;

/** Largest per-stream receive window the server offers (bytes a client may send unacknowledged). */
const MAX_STREAM_WINDOW = 8 * 1024 * 1024;

/**
 * HTTP/2 starts every stream and connection with a 64 KiB receive window, and grpc-js offers
 * no option to widen it on the server side (clients have 'grpc-node.flow_control_window'): a
 * 1 MiB tensor then waits for ~16 window updates, and concurrent calls on one connection
 * take turns in one 64 KiB connection window. Measured with bench/grpc/run.ts: it made gRPC
 * slower than REST for large tensors. So the windows are widened on grpc-js's HTTP/2 servers
 * (a private field; if a later grpc-js renames it, this does nothing and gRPC stays correct).
 */
function widenFlowControl(server: Server, streamWindow: number): void {
  const servers = (server as unknown as { http2Servers?: Map<Http2Server, unknown> }).http2Servers;
  if (!(servers instanceof Map)) return;
  const window = Math.max(streamWindow, 65535);
  for (const http2 of servers.keys()) {
    if (typeof http2.updateSettings !== 'function') continue;
    http2.updateSettings({ initialWindowSize: window });
    http2.on('session', (session: ServerHttp2Session) => session.setLocalWindowSize(4 * window));
  }
}

type Handler<Req, Res> = (request: Req, signal: AbortSignal, trace: CallTrace) => Promise<Res>;

export class GrpcInferenceServer {
  private readonly server: Server;
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAME]: 'NOT_SERVING' });
  private healthTimer: NodeJS.Timeout | undefined;
  private servingStatus: ServingStatus = 'NOT_SERVING';
  private closing = false;
  private readonly running = new Set<Promise<unknown>>();
  /** Open ModelStreamInfer streams: ended at shutdown once their requests are answered. */
  private readonly streams = new Set<() => void>();
  /** The port bound (the system's choice when 0 was asked for). */
  port = 0;

  constructor(
    private readonly registry: ModelRegistry,
    private readonly opts: GrpcServerOptions,
    private readonly log: Logger,
  ) {
    this.server = new Server({
      'grpc.max_receive_message_length': opts.maxMessageBytes,
      'grpc.max_send_message_length': opts.maxMessageBytes,
      // Channelz's per-call bookkeeping was ~3% of the main thread under load; nothing reads it.
      'grpc.enable_channelz': 0,
    });
    this.server.addService(loadInferenceService(), this.implementation());
    this.health.addToServer(this.server);
  }

  async listen(): Promise<string> {
    const host = this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host;
    this.port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`${host}:${this.opts.port}`, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
    });
    widenFlowControl(this.server, Math.min(this.opts.maxMessageBytes, MAX_STREAM_WINDOW));
    this.refreshHealth();
    this.healthTimer = setInterval(() => this.refreshHealth(), HEALTH_POLL_MS).unref();
    return `${host}:${this.port}`;
  }

  private refreshHealth(): void {
    const next: ServingStatus = !this.closing && this.opts.ready() ? 'SERVING' : 'NOT_SERVING';
    if (next === this.servingStatus) return;
    this.servingStatus = next;
    this.health.setStatus('', next);
    this.health.setStatus(SERVICE_NAME, next);
  }

  /** Wraps a handler: shutdown refusal, the client's cancellation as a signal, errors as statuses, draining. */
  private unary<Req, Res>(name: string, handler: Handler<Req, Res>) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      const t0 = performance.now();
      const trace = callTraceOfMetadata(call.metadata);
      const model = (call.request as { model_name?: unknown; name?: unknown }).model_name ?? (call.request as { name?: unknown }).name;
      const record = (code: Status, err?: unknown) =>
        this.opts.observer.record({
          method: name,
          ...(typeof model === 'string' && model !== '' && { model }),
          rid: trace.rid,
          code,
          ms: performance.now() - t0,
          ...(err !== undefined && { message: err instanceof Error ? err.message : String(err), err }),
        });
      if (this.closing) {
        callback({ code: Status.UNAVAILABLE, details: 'the server is shutting down' });
        record(Status.UNAVAILABLE, 'the server is shutting down');
        return;
      }
      const abort = new AbortController();
      let answered = false;
      // grpc-js also reports 'cancelled' as an answered call's stream closes: only an unanswered
      // call is aborted (making the error costs a stack trace, measurable per call).
      call.on('cancelled', () => {
        if (!answered) abort.abort(new HttpError(499, `${name}: the client cancelled the call or its deadline passed`));
      });
      const done = handler(call.request, abort.signal, trace).then(
        (res) => {
          answered = true;
          callback(null, res);
          record(Status.OK);
        },
        (err: unknown) => {
          answered = true;
          const status = toStatus(err);
          callback(status);
          record(status.code ?? Status.INTERNAL, err);
        },
      );
      this.running.add(done);
      void done.finally(() => this.running.delete(done));
    };
  }

  private implementation(): UntypedServiceImplementation {
    const { registry } = this;
    const model = (r: ModelRef) => {
      if (r.name === '') throw new HttpError(400, 'model name is empty');
      return { name: r.name, version: r.version === '' ? undefined : r.version };
    };
    return {
      ServerLive: this.unary('ServerLive', async () => ({ live: true })),
      ServerReady: this.unary('ServerReady', async () => ({ ready: !this.closing && registry.serverReady() })),
      ServerMetadata: this.unary('ServerMetadata', async () => ({ name: 'threadserve', version: this.opts.serverVersion, extensions: [] })),
      ModelReady: this.unary('ModelReady', async (r: ModelRef) => {
        const { name, version } = model(r);
        return { ready: await registry.ready(name, version) };
      }),
      ModelMetadata: this.unary('ModelMetadata', async (r: ModelRef): Promise<ModelMetadataResponse> => {
        const { name, version } = model(r);
        const m = await registry.metadata(name, version);
        return { name: m.name, versions: m.versions, platform: m.platform, inputs: normalizeShapes(m.inputs), outputs: normalizeShapes(m.outputs) };
      }),
      ModelInfer: this.unary('ModelInfer', (r: ModelInferRequest, signal, trace) => this.infer(r, signal, trace)),
      ModelStreamInfer: (call: ServerDuplexStream<ModelInferRequest, StreamInferResponse>) => this.stream(call),
    };
  }

  /** ModelInfer: one answer; a model that streams is refused, naming the call that reads streams. */
  private async infer(r: ModelInferRequest, signal: AbortSignal, trace: CallTrace): Promise<ModelInferResponse> {
    const out = await this.inferAny(r, signal, trace);
    if ('outputs' in out) return out;
    await out.cancel();
    throw new HttpError(400, `model "${r.model_name}" streams its answers (its predict() is a generator): call ModelStreamInfer`);
  }

  /** One answer, or for a model that streams, one answer per chunk. */
  private async inferAny(r: ModelInferRequest, signal: AbortSignal, trace: CallTrace): Promise<ModelInferResponse | ChunkStream<ModelInferResponse>> {
    if (r.model_name === '') throw new HttpError(400, 'model name is empty');
    const version = r.model_version === '' ? undefined : r.model_version;
    const request = decodeModelInfer(r);
    const result = await this.registry.infer(r.model_name, version, request, signal, trace);
    const encode = (x: V2InferResult) => encodeModelInfer(r.model_name, version, request, x, r.raw_input_contents.length > 0);
    return 'outputs' in result ? encode(result) : mapChunks(result, encode);
  }

  private stream(call: ServerDuplexStream<ModelInferRequest, StreamInferResponse>): void {
    if (this.closing) {
      call.emit('error', { code: Status.UNAVAILABLE, details: 'the server is shutting down' });
      return;
    }
    const trace = callTraceOfMetadata(call.metadata);
    const { done, stop } = serveInferStream(call, {
      infer: (r, signal) => this.inferAny(r, signal, trace),
      closing: () => this.closing,
      record: (model, code, ms, err) =>
        this.opts.observer.record({
          method: 'ModelStreamInfer',
          model,
          rid: trace.rid,
          code,
          ms,
          ...(err !== undefined && { message: String((err as Error).message ?? err), err }),
        }),
    });
    this.streams.add(stop);
    this.running.add(done);
    void done.finally(() => {
      this.streams.delete(stop);
      this.running.delete(done);
    });
  }

  /** Refuses new calls, waits for running ones up to `graceS`, then closes every connection. */
  async close(graceS: number): Promise<void> {
    this.closing = true;
    clearInterval(this.healthTimer);
    this.refreshHealth();
    for (const stop of this.streams) stop();
    let timer: NodeJS.Timeout | undefined;
    const drained = Promise.all([...this.running]).then(() => true);
    const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), graceS * 1000)));
    const inTime = await Promise.race([drained, late]);
    clearTimeout(timer);
    if (!inTime) this.log.warn(`gRPC: ${this.running.size} calls still running after the ${graceS}s graceful shutdown timeout; closing their connections`);
    // Answers are written by now (or abandoned): end the connections.
    await new Promise<void>((resolve) => {
      const force = setTimeout(
        () => {
          this.server.forceShutdown();
          resolve();
        },
        inTime ? 1000 : 0,
      );
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }
}
