/**
 * One error shape at the HTTP edge: every failure, whichever layer it comes from (the runtime,
 * user code, fastify, the multipart parser, Node's HTTP parser), answers
 * `{ "error": { "code", "message" } }` with a code from the catalogue (error-codes.ts).
 * Messages never carry stacks or source paths; faults of the server (5xx other than the routine
 * 503s) are logged once, with their stack, and the client gets a message that says only that.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ThreadserveError } from '../shared/errors.ts';
import { lingerThenClose } from './connection-guard.ts';

/** Fastify's own error codes, renamed to the runtime's stable codes. */
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_BODY',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_BODY',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_BAD_URL: 'BAD_REQUEST',
  FST_ERR_MAX_PARAM_LENGTH: 'BAD_REQUEST',
};

/** The catalogue's code for an error that brings only an HTTP status. */
const STATUS_CODE_NAMES: Record<number, string> = {
  400: 'BAD_REQUEST',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  408: 'CLIENT_TIMEOUT',
  413: 'BODY_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  431: 'HEADERS_TOO_LARGE',
  503: 'UNAVAILABLE',
};

/** 503s that are part of normal operation, not faults: not logged as errors. */
const ROUTINE_5XX = new Set(['BACKPRESSURE', 'REPLICA_DIED', 'UNAVAILABLE', 'OVER_MEMORY_BUDGET', 'NOT_READY']);

/**
 * A message fit for a client: its first line, with file paths and URLs of source files cut
 * (onnxruntime, for one, puts `/onnxruntime_src/.../element_wise_ops.h:563` in its messages).
 */
export function publicMessage(message: string): string {
  const first = message.split('\n')[0]!;
  return first.replace(/(?:file:\/\/)?(?:\/[\w.@+-]+)+\.\w+(?::\d+)*(?:\s+[\w:<>~]+\(\))?/g, '<source>').trim();
}

export interface ErrorAnswer {
  status: number;
  code: string;
  message: string;
  issues?: unknown;
  retryAfterS?: number;
}

/** What to answer for an error, and whether it is a fault of the server (to be logged). */
export function classifyError(err: FastifyError | Error): ErrorAnswer & { fault: boolean } {
  if (err instanceof ThreadserveError) {
    const status = err.statusCode;
    const retry = err.details?.retryAfterS;
    const fault = status >= 500 && !ROUTINE_5XX.has(err.code);
    const out: ErrorAnswer & { fault: boolean } = { status, code: err.code, message: publicMessage(err.message), fault };
    if (err.details?.issues !== undefined) out.issues = err.details.issues;
    if (typeof retry === 'number') out.retryAfterS = retry;
    return out;
  }
  const fe = err as FastifyError & { retryAfterS?: unknown };
  const status = fe.statusCode;
  if (typeof status === 'number' && Number.isInteger(status) && status >= 400 && status < 600 && (status < 500 || status === 503)) {
    // A library's (or a plugin's) error that carries an HTTP status: fastify's 4xx, a 503 from a registry.
    const code = FASTIFY_CODES[fe.code] ?? (err instanceof SyntaxError ? 'MALFORMED_BODY' : (STATUS_CODE_NAMES[status] ?? 'HTTP_ERROR'));
    const out: ErrorAnswer & { fault: boolean } = { status, code, message: publicMessage(err.message), fault: false };
    if (typeof fe.retryAfterS === 'number') out.retryAfterS = fe.retryAfterS;
    return out;
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(code) && !code.startsWith('ERR_') && !code.startsWith('FST_')) {
    // An error from user code in a replica (USER_ERROR, or a code of its own): its message is the
    // user's, minus paths; the stack stays in the log.
    return { status: 500, code, message: publicMessage(err.message), fault: true };
  }
  return { status: 500, code: 'INTERNAL', message: 'internal server error; the server log has the details', fault: true };
}

/** fastify's own 413 and 415 messages say nothing useful: name the limit, or the types the route takes. */
export function answerMessage(answer: ErrorAnswer, err: Error, req: FastifyRequest): string {
  if (err instanceof ThreadserveError) return answer.message;
  if (answer.code === 'UNSUPPORTED_MEDIA_TYPE') {
    const extra = req.routeOptions.config?.acceptContentTypes;
    const hint = extra?.length ? ` (or ${extra.join(', ')})` : '';
    return `unsupported content type ${JSON.stringify(req.headers['content-type'] ?? '')}; send application/json or application/msgpack${hint}`;
  }
  if (answer.code === 'BODY_TOO_LARGE') return `request body is too large: the limit is ${req.routeOptions.bodyLimit ?? '?'} bytes`;
  return answer.message;
}

/** `log`: where faults go; undefined when the access log already logs every 5xx. */
export function sendError(err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply, log: Logger | undefined): void {
  const answer = classifyError(err);
  if (answer.fault) log?.error({ reqId: req.id, err }, 'request failed');
  if (answer.retryAfterS !== undefined) void reply.header('retry-after', String(Math.max(1, Math.ceil(answer.retryAfterS))));
  const body: { error: Record<string, unknown> } = { error: { code: answer.code, message: answerMessage(answer, err, req) } };
  if (answer.issues !== undefined) body.error.issues = answer.issues;
  void reply.status(answer.status).type('application/json').send(body);
}

/** Node's HTTP parser errors (`clientError`), which never reach a route: answered raw on the socket. */
export function clientErrorHandler(log: Logger) {
  return (err: Error & { code?: string }, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    let status = 400;
    let code = 'BAD_REQUEST';
    let message = `malformed HTTP request (${err.code ?? 'parse error'})`;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
      code = 'CLIENT_TIMEOUT';
      message = "the request (headers and body) did not arrive within the server's body timeout (bodyTimeoutS)";
    } else if (err.code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      code = 'HEADERS_TOO_LARGE';
      message = "request headers are too large (the limit is Node's maxHeaderSize)";
    }
    log.debug({ err: err.message, code: err.code }, 'client error');
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify({ error: { code, message } });
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    lingerThenClose(socket);
  };
}
