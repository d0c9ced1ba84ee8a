/** Per-call timeouts (`handle.options({ timeoutS })`), the same on both sides of a thread hop. */
import { TimeoutError } from './errors.ts';

/** Rejects with a TimeoutError naming `what` when `p` has not settled after `timeoutS`. */
export function withTimeout<T>(p: Promise<T>, timeoutS: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} timed out after ${timeoutS}s`)), timeoutS * 1000);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
