/**
 * A directory of onnxruntime-optimised copies of models, so that loading a model again skips
 * graph optimisation. A multiplexed repository loads and unloads the same models all the time:
 * for the ~1 KiB forecast models, creating, running once and releasing a session took 2.2 ms
 * of CPU with graph optimisation 'all' and 1.4 ms from the saved optimised copy (optimisation
 * off), and the saved copy runs as fast as the original optimised in memory (42 µs a run).
 *
 * The first load of a model saves onnxruntime's optimised graph (`optimizedModelFilePath`)
 * under a key of the file (path, device, inode, size, modification time), onnxruntime's
 * version, the machine (the 'all' level writes CPU-specific kernels, onnxruntime warns) and
 * the session options that shape the graph; later loads open that copy with optimisation
 * 'disabled'. A changed model file gets a new key. Copies are written to a temporary name
 * and renamed, so replicas saving the same model at once never read a half-written file; a
 * copy that does not load is deleted and made again. When saving is impossible (a directory
 * that cannot be created or belongs to another user, a model onnxruntime cannot serialise)
 * the model loads as if there were no cache.
 */
import { createHash } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import { InferenceSession, env } from 'onnxruntime-node';

/** What the cache did for one load. */
export type OptimizedCopy = 'saved' | 'reused' | 'unavailable';

/** The default directory: one per user under the system's temporary directory. */
export function defaultOptimizedModelDir(): string {
  const user = typeof process.getuid === 'function' ? String(process.getuid()) : os.userInfo().username;
  return path.join(os.tmpdir(), `threadserve-onnx-optimized-${user}`);
}

/** Options that change nothing in the saved graph (logging, profiling, where to save). */
const NOT_IN_KEY = new Set(['logId', 'logSeverityLevel', 'logVerbosityLevel', 'enableProfiling', 'profileFilePrefix', 'optimizedModelFilePath']);

const MACHINE = `${os.arch()} ${os.cpus()[0]?.model ?? 'unknown cpu'}`;

async function copyPath(dir: string, modelPath: string, options: InferenceSession.SessionOptions): Promise<string> {
  const file = path.resolve(modelPath);
  const s = await stat(file);
  const shaping = Object.entries(options)
    .filter(([k]) => !NOT_IN_KEY.has(k))
    .sort(([a], [b]) => a.localeCompare(b));
  const key = createHash('sha256')
    .update(JSON.stringify([file, s.dev, s.ino, s.size, s.mtimeMs, env.versions.common, MACHINE, shaping]))
    .digest('hex')
    .slice(0, 32);
  return path.join(dir, `${path.basename(file, path.extname(file))}-${key}.onnx`);
}

/** Directories made and checked in this thread: a private one, owned by this user. */
const readyDirs = new Map<string, Promise<void>>();

function ensureDir(dir: string): Promise<void> {
  let ready = readyDirs.get(dir);
  if (!ready) {
    ready = (async () => {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const s = await stat(dir);
      if (!s.isDirectory()) throw new Error(`${dir} is not a directory`);
      // Another user's directory could hold a planted "optimised" model: never read from it.
      if (typeof process.getuid === 'function' && s.uid !== process.getuid()) throw new Error(`${dir} belongs to another user (uid ${s.uid})`);
    })();
    ready.catch(() => readyDirs.delete(dir));
    readyDirs.set(dir, ready);
  }
  return ready;
}

/** Keys whose save failed in this thread: loaded plainly from then on, without trying again. */
const unsaveable = new Set<string>();

const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );

/**
 * Creates a CPU session for `modelPath`, from its optimised copy in `dir` when there is one,
 * else saving that copy while creating it. `onUnavailable` hears why the cache was not used.
 */
export async function createWithOptimizedCopy(
  modelPath: string,
  options: InferenceSession.SessionOptions,
  dir: string,
  onUnavailable: (reason: string) => void,
): Promise<{ session: InferenceSession; copy: OptimizedCopy }> {
  const plain = async (reason: string) => {
    onUnavailable(reason);
    return { session: await InferenceSession.create(modelPath, options), copy: 'unavailable' as const };
  };
  let copy: string;
  try {
    await ensureDir(dir);
    copy = await copyPath(dir, modelPath, options);
  } catch (err) {
    return plain(`the optimised-model directory cannot be used: ${(err as Error).message}`);
  }
  if (await exists(copy)) {
    try {
      return { session: await InferenceSession.create(copy, { ...options, graphOptimizationLevel: 'disabled' }), copy: 'reused' };
    } catch {
      await rm(copy, { force: true }); // damaged (a full disk, a crash mid-rename elsewhere): made again below
    }
  }
  if (unsaveable.has(copy)) return plain('onnxruntime could not save its optimised copy earlier');
  const temporary = `${copy}.${process.pid}-${threadId}.tmp`;
  let session: InferenceSession;
  try {
    // Level 3 (errors): saving at level 'all' warns on every save that the copy is CPU-specific, which the key already covers.
    session = await InferenceSession.create(modelPath, {
      ...options,
      optimizedModelFilePath: temporary,
      logSeverityLevel: Math.max(options.logSeverityLevel ?? 2, 3) as 3 | 4,
    });
  } catch (err) {
    await rm(temporary, { force: true });
    unsaveable.add(copy);
    // The model itself may be what fails: the plain load then throws onnxruntime's own error.
    return plain(`onnxruntime could not save its optimised copy: ${(err as Error).message}`);
  }
  try {
    await rename(temporary, copy);
  } catch {
    await rm(temporary, { force: true }); // the session is fine; the next load tries again
  }
  return { session, copy: 'saved' };
}
