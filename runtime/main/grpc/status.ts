/**
 * Errors as gRPC statuses. Every runtime error carries its HTTP status (error-codes.ts); the
 * gRPC code follows from it as gRPC's own HTTP mapping has it, with the cases the protocol
 * makes plain: a bad tensor is INVALID_ARGUMENT, an unknown model NOT_FOUND, backpressure and
 * shutdown UNAVAILABLE (with a `retry-after` trailer when the router gives one), a timeout
 * DEADLINE_EXCEEDED, a bug INTERNAL.
 */
import { Metadata, status as Status } from '@grpc/grpc-js';
import type { StatusObject } from '@grpc/grpc-js';

const BY_HTTP_STATUS: Record<number, Status> = {
  400: Status.INVALID_ARGUMENT,
  401: Status.UNAUTHENTICATED,
  403: Status.PERMISSION_DENIED,
  404: Status.NOT_FOUND,
  408: Status.DEADLINE_EXCEEDED,
  409: Status.ABORTED,
  412: Status.FAILED_PRECONDITION,
  413: Status.RESOURCE_EXHAUSTED,
  429: Status.RESOURCE_EXHAUSTED,
  499: Status.CANCELLED,
  501: Status.UNIMPLEMENTED,
  503: Status.UNAVAILABLE,
  504: Status.DEADLINE_EXCEEDED,
};

type CodedError = Error & { statusCode?: unknown; code?: unknown; details?: { retryAfterS?: unknown }; retryAfterS?: unknown };

/** The gRPC code for an error; INTERNAL for errors without a status (bugs). */
export function grpcCodeOf(err: CodedError): Status {
  const http = err.statusCode;
  if (typeof http !== 'number') return Status.INTERNAL;
  return BY_HTTP_STATUS[http] ?? (http >= 400 && http < 500 ? Status.FAILED_PRECONDITION : Status.INTERNAL);
}

/** What a unary handler's callback takes as its error. */
export function toStatus(err: unknown): Partial<StatusObject> {
  const e = (err instanceof Error ? err : new Error(String(err))) as CodedError;
  const code = grpcCodeOf(e);
  const metadata = new Metadata();
  if (typeof e.code === 'string') metadata.set('threadserve-error-code', e.code);
  const retryAfter = e.details?.retryAfterS ?? e.retryAfterS;
  if (typeof retryAfter === 'number') metadata.set('retry-after', String(Math.ceil(retryAfter)));
  return { code, details: e.message, metadata };
}
