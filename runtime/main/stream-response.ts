/**
 * Answers an HTTP request with a stream (a call that returned an async iterable): JSON lines
 * (`application/x-ndjson`), or Server-Sent Events when the client asks for
 * `text/event-stream`. The status and headers wait for the first chunk, so a stream that fails
 * before it produces anything answers like any failed call (status and error body). An error
 * after the first chunk ends the stream with an error line (or an `error` event): the
 * connection never hangs. A client that goes away, or a socket that cannot keep up, reaches the
 * producer: the first cancels it (its generator's `return()` runs in the replica), the second
 * stops giving it credit, so it pauses.
 */
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ChunkStream } from '../shared/response-stream.ts';
import { classifyError } from './http-errors.ts';
import { toJson } from './json.ts';

export type StreamFormat = 'ndjson' | 'sse';

/** The media types a streamed answer can take, by preference of the client's Accept header. */
export const STREAM_TYPES: Record<string, StreamFormat> = {
  'application/x-ndjson': 'ndjson',
  'text/event-stream': 'sse',
};

/** The error line or event that ends a stream which failed after its first chunk. */
/** Where a fault after the first chunk is logged (the access log has seen a 200 by then). */
type FaultLog = { error(obj: object, msg: string): void } | undefined;

function errorBody(err: unknown, log: FaultLog, req: FastifyRequest): string {
  const e = err instanceof Error ? err : new Error(String(err));
  const answer = classifyError(e);
  if (answer.fault) log?.error({ reqId: req.id, err: e }, 'stream failed after its first chunk');
  return toJson({ error: { code: answer.code, message: answer.message } });
}

function frame(format: StreamFormat, json: string, event?: string): string {
  if (format === 'ndjson') return `${json}\n`;
  return `${event ? `event: ${event}\n` : ''}data: ${json}\n\n`;
}

export async function sendStream(
  req: FastifyRequest,
  reply: FastifyReply,
  stream: ChunkStream<unknown>,
  format: StreamFormat,
  log: FaultLog,
  /** A chunk as JSON text (the runtime's JSON by default; the V2 response encoding for models). */
  encode: (chunk: unknown) => string = toJson,
): Promise<FastifyReply> {
  // The client may leave before the first chunk: stop the producer then too.
  let answered = false;
  const onClose = () => {
    if (!answered) void stream.cancel();
  };
  reply.raw.once('close', onClose);
  let first: IteratorResult<unknown>;
  try {
    first = await stream.next();
  } catch (err) {
    reply.raw.off('close', onClose);
    throw err;
  }
  answered = true;
  reply.raw.off('close', onClose);

  async function* body(): AsyncGenerator<string> {
    try {
      if (first.done) return;
      yield frame(format, encode(first.value));
      for (;;) {
        const r = await stream.next();
        if (r.done) break;
        // Chunks that arrived meanwhile go out in the same write: a socket write per chunk was
        // most of a chunk's cost when the producer runs ahead (profiled: writev, 34%).
        let text = frame(format, encode(r.value));
        for (const chunk of stream.takeArrived()) text += frame(format, encode(chunk));
        yield text;
      }
      if (format === 'sse') yield frame(format, '{}', 'end');
    } catch (err) {
      yield frame(format, errorBody(err, log, req), 'error');
    } finally {
      // Runs when the stream ends, and when the client went away (the Readable is destroyed).
      await stream.return();
    }
  }

  if (format === 'sse') {
    void reply.header('cache-control', 'no-cache').header('x-accel-buffering', 'no');
    void reply.type('text/event-stream; charset=utf-8');
  } else {
    void reply.type('application/x-ndjson');
  }
  return reply.send(Readable.from(body(), { objectMode: false }));
}
