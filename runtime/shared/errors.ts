/**
 * The one errors module. Every error the runtime raises is a ThreadserveError with a stable
 * string `code` and the HTTP `statusCode` the ingress answers with. Errors cross threads as
 * plain `SerializedError` records and are rebuilt on the other side, so a caller sees the
 * same name, message, code and stack whichever thread threw.
 */

export class ThreadserveError extends Error {
  readonly code: string;
  readonly statusCode: number;
  /** Extra JSON-safe fields for the HTTP error body (e.g. validation issues). */
  declare readonly details?: Record<string, unknown>;

  constructor(code: string, message: string, statusCode = 500, details?: Record<string, unknown>) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.statusCode = statusCode;
    if (details !== undefined) this.details = details;
  }
}

/** Thrown by user code to choose the HTTP status of the answer. */
export class HttpError extends ThreadserveError {
  constructor(statusCode: number, message: string, details?: Record<string, unknown>) {
    if (!Number.isInteger(statusCode) || statusCode < 400 || statusCode > 599) {
      throw new RangeError(`HttpError status must be an integer from 400 to 599, got ${statusCode}`);
    }
    super('HTTP_ERROR', message, statusCode, details);
  }
}

/** The router's queue is full (`maxQueuedRequests`): answer 503 with Retry-After. */
export class BackpressureError extends ThreadserveError {
  readonly retryAfterS: number;
  constructor(message: string, retryAfterS = 1) {
    super('BACKPRESSURE', message, 503, { retryAfterS });
    this.retryAfterS = retryAfterS;
  }
}

/** The replica running a call died (crash, process.exit, out of memory). */
export class ReplicaDiedError extends ThreadserveError {
  constructor(message: string) {
    super('REPLICA_DIED', message, 503);
  }
}

/** The deployment is stopping or stopped and takes no new calls. */
export class DeploymentUnavailableError extends ThreadserveError {
  constructor(message: string) {
    super('UNAVAILABLE', message, 503);
  }
}

/** Invalid deployment or serve options, raised at `run` before any thread starts. */
export class OptionsError extends ThreadserveError {
  constructor(message: string) {
    super('INVALID_OPTIONS', message, 500);
  }
}

/** A handle call named a method the deployment does not have, or passed bad arguments. */
export class BadCallError extends ThreadserveError {
  constructor(message: string) {
    super('BAD_CALL', message, 500);
  }
}

/** A call or request took longer than its timeout. */
export class TimeoutError extends ThreadserveError {
  constructor(message: string) {
    super('TIMEOUT', message, 408);
  }
}

/** An error thrown by user code in another thread that is not a ThreadserveError. */
export class RemoteError extends Error {
  readonly code: string;
  readonly statusCode = 500;
  constructor(name: string, message: string, code: string, stack: string | undefined) {
    super(message);
    this.name = name;
    this.code = code;
    if (stack !== undefined) this.stack = stack;
  }
}

export interface SerializedError {
  name: string;
  message: string;
  code: string;
  stack?: string;
  /** Present only for ThreadserveErrors: the class to rebuild and its HTTP status. */
  statusCode?: number;
  details?: Record<string, unknown>;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof ThreadserveError) {
    const out: SerializedError = {
      name: err.name,
      message: err.message,
      code: err.code,
      statusCode: err.statusCode,
    };
    if (err.stack !== undefined) out.stack = err.stack;
    if (err.details !== undefined) out.details = err.details;
    return out;
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const out: SerializedError = {
      name: err.name,
      message: err.message,
      code: typeof code === 'string' ? code : 'USER_ERROR',
    };
    if (err.stack !== undefined) out.stack = err.stack;
    return out;
  }
  return { name: 'Error', message: `non-error value thrown: ${String(err)}`, code: 'USER_ERROR' };
}

const rebuilders: Record<string, (s: SerializedError) => ThreadserveError> = {
  HTTP_ERROR: (s) => new HttpError(s.statusCode ?? 500, s.message, s.details),
  BACKPRESSURE: (s) => new BackpressureError(s.message, Number(s.details?.retryAfterS ?? 1)),
  REPLICA_DIED: (s) => new ReplicaDiedError(s.message),
  UNAVAILABLE: (s) => new DeploymentUnavailableError(s.message),
  INVALID_OPTIONS: (s) => new OptionsError(s.message),
  BAD_CALL: (s) => new BadCallError(s.message),
  TIMEOUT: (s) => new TimeoutError(s.message),
};

/** Rebuilds an error that crossed a thread boundary, keeping its class where the runtime knows it. */
export function deserializeError(s: SerializedError): Error {
  if (s.statusCode !== undefined) {
    const rebuild = rebuilders[s.code];
    const err = rebuild ? rebuild(s) : new ThreadserveError(s.code, s.message, s.statusCode, s.details);
    if (s.stack !== undefined) err.stack = s.stack;
    return err;
  }
  return new RemoteError(s.name, s.message, s.code, s.stack);
}
