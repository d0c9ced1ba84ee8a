/**
 * ModelStreamInfer (Triton's extension of the protocol): ModelInfer requests over one
 * bidirectional stream. Each request runs as soon as it arrives, concurrently with the others,
 * and is answered when it is done (match answers by `id`); a failed request is answered with
 * its `error_message` and the stream goes on. The stream ends when the client ends its side and
 * every answer is written, or at shutdown once its running requests are answered.
 *
 * A model that streams (its predict() is a generator) answers one request with one response
 * per chunk, as Triton's decoupled models do: each carries the request's id and the parameter
 * `triton_final_response: false`, and a last empty response says `true`. Responses wait for
 * the client to read (the HTTP/2 window), so the model's generator pauses for a slow reader;
 * a client that cancels the stream cancels the generator.
 */
import { once } from 'node:events';
import { status as Status } from '@grpc/grpc-js';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { ChunkStream } from '../../shared/response-stream.ts';
import { toParameters } from './parameters.ts';
import { toStatus } from './status.ts';
import type { ModelInferRequest, ModelInferResponse } from './proto.ts';

const NOT_FINAL = toParameters({ triton_final_response: false });
const FINAL = toParameters({ triton_final_response: true });

export interface StreamInferResponse {
  error_message?: string;
  infer_response?: Partial<ModelInferResponse>;
}

export interface StreamInferDeps {
  infer(request: ModelInferRequest, signal: AbortSignal): Promise<ModelInferResponse | ChunkStream<ModelInferResponse>>;
  /** Whether the server is shutting down (new requests are then refused). */
  closing(): boolean;
  /** Each request's outcome, once answered (or its stream of answers ended), for the access log and metrics. */
  record(model: string, code: Status, ms: number, err?: unknown): void;
}

/**
 * Serves one stream. Resolves when the stream is over; `stop()` ends it as soon as its
 * running requests are answered (at shutdown).
 */
export function serveInferStream(call: ServerDuplexStream<ModelInferRequest, StreamInferResponse>, deps: StreamInferDeps) {
  const abort = new AbortController();
  let running = 0;
  let inputEnded = false;
  let over = false;
  let settle!: () => void;
  const done = new Promise<void>((resolve) => (settle = resolve));
  const finish = () => {
    if (over || !inputEnded || running > 0) return;
    over = true;
    call.end();
    settle();
  };
  call.on('data', (request: ModelInferRequest) => {
    if (over) return;
    const echo = { model_name: request.model_name, ...(request.id !== '' && { id: request.id }) };
    if (deps.closing()) {
      call.write({ error_message: 'the server is shutting down', infer_response: echo });
      return;
    }
    running++;
    const t0 = performance.now();
    const failed = (err: unknown) => {
      const status = toStatus(err);
      call.write({ error_message: status.details ?? String(err), infer_response: echo });
      deps.record(request.model_name, status.code ?? Status.INTERNAL, performance.now() - t0, err);
    };
    const answered = () => deps.record(request.model_name, Status.OK, performance.now() - t0);
    deps
      .infer(request, abort.signal)
      .then((res) => {
        if ('outputs' in res) {
          call.write({ infer_response: res });
          answered();
          return undefined;
        }
        return writeChunks(res, echo).then(answered, failed);
      }, failed)
      .finally(() => {
        running--;
        finish();
      });
  });
  /** One response per chunk, each written once the client has room for it, then the final flag. */
  const writeChunks = async (stream: ChunkStream<ModelInferResponse>, echo: Partial<ModelInferResponse>) => {
    const cancel = () => void stream.cancel();
    abort.signal.addEventListener('abort', cancel, { once: true });
    try {
      for await (const res of stream) {
        res.parameters = { ...res.parameters, ...NOT_FINAL };
        if (!call.write({ infer_response: res })) await once(call, 'drain', { signal: abort.signal });
      }
      call.write({ infer_response: { ...echo, parameters: FINAL } });
    } finally {
      abort.signal.removeEventListener('abort', cancel);
    }
  };
  call.on('end', () => {
    inputEnded = true;
    finish();
  });
  const gone = () => {
    abort.abort(new Error('ModelStreamInfer: the client cancelled the stream'));
    over = true;
    settle();
  };
  call.on('cancelled', gone);
  call.on('error', gone);
  return {
    done,
    stop: () => {
      inputEnded = true;
      finish();
    },
  };
}
