/**
 * The catalogue of error codes: every code the runtime answers with, its HTTP status and when
 * it happens, in one place (the README's table is checked against it by a test). Errors with
 * a class of their own (errors.ts) use their code from here too; the rest are made with
 * `codedError`, which takes the status from the catalogue, so a code cannot be invented inline.
 */
import { ThreadserveError } from './errors.ts';

export interface ErrorCodeInfo {
  /** The HTTP status of the answer; 0 where the error is thrown at start-up, never answered. */
  readonly status: number;
  readonly when: string;
}

export const ERROR_CODES = Object.freeze({
  MALFORMED_BODY: { status: 400, when: 'JSON, msgpack or multipart that does not parse (no boundary, a boundary over 70 characters, an unterminated part)' },
  BAD_REQUEST: { status: 400, when: 'a request HTTP cannot take: a bad percent-escape in the URL, a malformed request line, header or `content-length`' },
  INVALID_INPUT: {
    status: 400,
    when: 'a non-finite number (`1e999`, NaN) or a reserved name (`__proto__`, `constructor`, `prototype`) in a body, naming the field; a value msgpack decodes to a class instance',
  },
  INVALID_REQUEST: { status: 400, when: 'the body fails `requestSchema`' },
  MODEL_ID_REQUIRED: { status: 400, when: 'a multiplexed deployment got a call without a model id' },
  HTTP_ERROR: {
    status: 0,
    when: 'user code threw `new HttpError(status, message)`: answered with that status (the ONNX model deployment answers 400 this way when onnxruntime cannot run inputs that passed its checks, naming the input and node)',
  },
  NOT_FOUND: { status: 404, when: 'no route, or (V2) an unknown model or version' },
  MODEL_NOT_FOUND: { status: 404, when: 'a multiplexed model id names no model in the repository' },
  FORBIDDEN: { status: 403, when: "`/-/dashboard` asked from a non-loopback address while serve's `dashboard` option is `'local'` (the default)" },
  METHOD_NOT_ALLOWED: { status: 405, when: 'not POST on an application route (`Allow: POST`)' },
  NOT_ACCEPTABLE: { status: 406, when: '`Accept` names no type threadserve can answer in' },
  TIMEOUT: { status: 408, when: "past `requestTimeoutS`, or a handle call's `timeoutS`" },
  CLIENT_TIMEOUT: { status: 408, when: 'the client did not send its headers and body within `bodyTimeoutS` (the connection is closed)' },
  BODY_TOO_LARGE: {
    status: 413,
    when: 'body over the limit, a multipart body over its parts, files, fields or file-size limit, or a request needing more memory than the whole budget (the message names the limit)',
  },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, when: 'a content type the route does not take' },
  HEADERS_TOO_LARGE: { status: 431, when: "the request's headers are over Node's `maxHeaderSize` (16 KiB by default)" },
  INTERNAL: { status: 500, when: 'a fault of the server itself (logged with its stack; the body says only that)' },
  BAD_CALL: { status: 500, when: 'a handle called a method the class lacks, or sent values that cannot cross threads faithfully' },
  BATCH_RESULT_COUNT: { status: 500, when: 'a `@batch` method returned other than one result per item' },
  INVALID_OUTPUT: { status: 500, when: 'a model deployment returned an output the V2 protocol cannot encode' },
  USER_ERROR: { status: 500, when: 'user code threw an error without a `code` of its own (errors with one keep it)' },
  UNSUPPORTED: { status: 501, when: 'binary tensor data on a big-endian host' },
  BACKPRESSURE: { status: 503, when: "a deployment's queue is full (`maxQueuedRequests`), also for calls made inside replicas; with `Retry-After`" },
  REPLICA_DIED: { status: 503, when: 'the replica running the call died (crash, `process.exit`, out of memory), or was stopped at the drain timeout' },
  UNAVAILABLE: { status: 503, when: 'the server or the deployment is shutting down (the connection is closed)' },
  OVER_MEMORY_BUDGET: { status: 503, when: "admitting the request's pixels or tensors would pass `memoryBudgetMb` for longer than `memoryWaitS`" },
  NOT_READY: { status: 503, when: '`/-/healthz` while replicas start or restart' },
  UNAUTHORIZED: { status: 401, when: 'an admin API request without the token the server was started with' },
  INVALID_OPTIONS: { status: 0, when: 'bad deployment or serve options or config file (thrown by `run`; the admin API answers `threadserve deploy` with 400)' },
  DEPLOY_FAILED: { status: 500, when: '`threadserve deploy`: a replica with the new code failed to start (the old replicas keep serving)' },
  STARTUP_FAILED: { status: 0, when: "a replica's constructor or `init()` threw (thrown by `run`)" },
} satisfies Record<string, ErrorCodeInfo>);

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error with a catalogued code and its status (500 for codes that are never answered). */
export function codedError(code: Exclude<ErrorCode, 'HTTP_ERROR'>, message: string, details?: Record<string, unknown>): ThreadserveError {
  return new ThreadserveError(code, message, ERROR_CODES[code].status || 500, details);
}
