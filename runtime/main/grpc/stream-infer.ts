/**
 * ModelStreamInfer (Triton's extension of the protocol): ModelInfer requests over one
 * bidirectional stream. Each request runs as soon as it arrives, concurrently with the others,
 * and is answered when it is done (match answers by `id`); a failed request is answered with
 * its `error_message` and the stream goes on. The stream ends when the client ends its side and
 * every answer is written, or at shutdown once its running requests are answered.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { toStatus } from './status.ts';
import type { ModelInferRequest, ModelInferResponse } from './proto.ts';

export interface StreamInferResponse {
  error_message?: string;
  infer_response?: Partial<ModelInferResponse>;
}

export interface StreamInferDeps {
  infer(request: ModelInferRequest, signal: AbortSignal): Promise<ModelInferResponse>;
  /** Whether the server is shutting down (new requests are then refused). */
  closing(): boolean;
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
    deps.infer(request, abort.signal).then(
      (res) => call.write({ infer_response: res }),
      (err: unknown) => call.write({ error_message: toStatus(err).details ?? String(err), infer_response: echo }),
    ).finally(() => {
      running--;
      finish();
    });
  });
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
