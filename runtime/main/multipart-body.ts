/**
 * Multipart bodies for routes that accept `multipart/form-data`: fields become strings and files
 * Uint8Arrays under their field names (repeated names become arrays), within limits that each
 * answer 413 naming the limit that was hit. A body the parser cannot read (no boundary, a
 * boundary over 70 characters, an unterminated part) is the client's fault: 400 MALFORMED_BODY,
 * never a 500 with the parser's stack.
 */
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { codedError } from '../shared/error-codes.ts';
import { ThreadserveError } from '../shared/errors.ts';
import { RESERVED_NAMES } from './body-guard.ts';
import { publicMessage } from './http-errors.ts';

export interface MultipartLimits {
  /** Bytes of the whole body (the route's bodyLimit); also the limit of each file. */
  bodyLimit: number;
  files: number;
  fields: number;
  /** Files plus fields. */
  parts: number;
  /** Bytes of one non-file field. */
  fieldSize: number;
}

export const MULTIPART_DEFAULTS = Object.freeze({ files: 8, fields: 32, parts: 32, fieldSize: 1024 * 1024 });

/** RFC 2046 caps a boundary at 70 characters; the parser refuses longer ones with a message of its own. */
const MAX_BOUNDARY = 70;

function limitError(err: Error & { code?: string }, limits: MultipartLimits): ThreadserveError {
  switch (err.code) {
    case 'FST_PARTS_LIMIT':
      return codedError('BODY_TOO_LARGE', `multipart body has more than ${limits.parts} parts (the parts limit)`);
    case 'FST_FILES_LIMIT':
      return codedError('BODY_TOO_LARGE', `multipart body has more than ${limits.files} files (the files limit)`);
    case 'FST_FIELDS_LIMIT':
      return codedError('BODY_TOO_LARGE', `multipart body has more than ${limits.fields} fields (the fields limit)`);
    case 'FST_REQ_FILE_TOO_LARGE':
      return codedError('BODY_TOO_LARGE', `a multipart file is over ${limits.bodyLimit} bytes (the file size limit)`);
    case 'FST_PROTO_VIOLATION':
      return codedError('INVALID_INPUT', 'a multipart field is named "__proto__" or "constructor", names reserved for objects\' own use');
    default:
      return codedError('MALFORMED_BODY', `malformed multipart body: ${publicMessage(err.message)}`);
  }
}

function checkHeaders(req: FastifyRequest, limits: MultipartLimits): void {
  const length = Number(req.headers['content-length']);
  if (length > limits.bodyLimit) throw codedError('BODY_TOO_LARGE', `request body is too large: the limit is ${limits.bodyLimit} bytes`);
  const type = req.headers['content-type'] ?? '';
  const boundary = /;\s*boundary=(?:"([^"]*)"|([^;\s]*))/i.exec(type);
  const value = boundary?.[1] ?? boundary?.[2];
  if (!value) throw codedError('MALFORMED_BODY', 'malformed multipart body: the content type names no boundary (multipart/form-data; boundary=...)');
  if (value.length > MAX_BOUNDARY) {
    throw codedError('MALFORMED_BODY', `malformed multipart body: the boundary is ${value.length} characters; at most ${MAX_BOUNDARY} are allowed`);
  }
}

async function collect(req: FastifyRequest, limits: MultipartLimits): Promise<Record<string, unknown>> {
  const body: Record<string, unknown> = {};
  let total = 0;
  try {
    for await (const part of req.parts()) {
      const name = part.fieldname;
      if (RESERVED_NAMES.has(name)) throw codedError('INVALID_INPUT', `multipart field "${name}" is a reserved name`);
      let value: string | Uint8Array;
      if (part.type === 'file') {
        value = await part.toBuffer();
        total += value.byteLength;
      } else {
        if (part.valueTruncated) throw codedError('BODY_TOO_LARGE', `multipart field "${name}" is over ${limits.fieldSize} bytes (the field size limit)`);
        value = String(part.value);
        total += Buffer.byteLength(value);
      }
      if (total > limits.bodyLimit) throw codedError('BODY_TOO_LARGE', `request body is too large: the limit is ${limits.bodyLimit} bytes`);
      const prev = body[name];
      body[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
    }
  } catch (err) {
    if (err instanceof ThreadserveError) throw err;
    throw limitError(err as Error, limits);
  }
  return body;
}

/** Registers the parser in a route's scope; the parsed body is in place before the route's schema runs. */
export async function registerMultipart(scope: FastifyInstance, limits: MultipartLimits): Promise<void> {
  await scope.register(multipart, {
    limits: { fileSize: limits.bodyLimit, files: limits.files, fields: limits.fields, parts: limits.parts, fieldSize: limits.fieldSize },
    throwFileSizeLimit: true,
  });
  scope.addHook('preValidation', async (req) => {
    if (!req.isMultipart()) return;
    checkHeaders(req, limits);
    req.body = await collect(req, limits);
  });
}
