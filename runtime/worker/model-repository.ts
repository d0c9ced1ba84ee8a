/**
 * Turning a request's model id into a file in a model repository, safely. Model ids arrive
 * from clients (the serve_multiplexed_model_id header, the V2 URL path), so an id is treated
 * as untrusted until it is proven to be a plain name whose file lies inside the repository.
 *
 * Every refusal is the same 404 MODEL_NOT_FOUND: a client probing `../../etc/passwd` learns
 * nothing more than one asking for a model that does not exist. Messages name the id (quoted
 * and shortened, since it is client input) but never the repository's path on disk.
 */
import { realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ThreadserveError } from '../shared/errors.ts';
import { codedError } from '../shared/error-codes.ts';

/** Letters, digits, `_`, `-`, `.`; not starting with `.` (no `..`, no hidden files); 1..128. */
const MODEL_ID = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;
/** Extensions such as '.onnx' or '.tar.gz', or '' for a directory or a bare name. */
const EXTENSION = /^(\.[A-Za-z0-9_-]+)*$/;

function quote(id: unknown): string {
  if (typeof id !== 'string') return `of type ${id === null ? 'null' : typeof id}`;
  return JSON.stringify(id.length > 64 ? `${id.slice(0, 64)}...` : id);
}

function notFound(id: unknown, why: string): ThreadserveError {
  return codedError('MODEL_NOT_FOUND', `model ${quote(id)} not found: ${why}`);
}

/** Returns `id` when it is a plain model name; otherwise throws the 404 MODEL_NOT_FOUND error. */
export function safeModelId(id: unknown): string {
  if (typeof id !== 'string' || !MODEL_ID.test(id)) {
    throw notFound(id, 'a model id is 1 to 128 letters, digits, "_", "-" or "." and does not start with "."');
  }
  return id;
}

/** True when `child` is `root` itself or below it (both absolute and already resolved). */
function within(root: string, child: string): boolean {
  const rel = relative(root, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/**
 * The real path of model `id` in `repoDir` (`<repoDir>/<id><ext>`), after proving it exists
 * and, with symlinks resolved, lies strictly inside the repository. A symlink inside the
 * repository that points outside it is refused: to serve models from elsewhere, make the
 * repository directory itself the link (it is resolved first, so that works).
 * A missing repository directory is a deployment mistake, not a client one: its error is
 * passed through as is.
 */
export async function modelPath(repoDir: string, id: unknown, ext = '.onnx'): Promise<string> {
  if (typeof ext !== 'string' || !EXTENSION.test(ext)) {
    throw new TypeError(`modelPath(): ext must look like ".onnx" (or be ""), got ${JSON.stringify(ext)}`);
  }
  const name = safeModelId(id);
  const root = await realpath(resolve(repoDir));
  const candidate = join(root, name + ext);
  // Already implied by safeModelId; checked again so this function's guarantee does not rest
  // on a regular expression alone.
  if (!within(root, candidate) || candidate === root) throw notFound(id, 'outside the model repository');
  let real: string;
  try {
    real = await realpath(candidate);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') {
      throw notFound(id, 'no such model in the model repository');
    }
    throw err;
  }
  if (real === root || !within(root, real)) throw notFound(id, 'it links outside the model repository');
  return real;
}
