/** Per-call timeouts (`handle.options({ timeoutS })`), the same on both sides of a thread hop. */
import { TimeoutError } from './errors.ts';
import { ResponseStream } from './response-stream.ts';

/**
 * Rejects with a TimeoutError naming `what` when `p` has not settled after `timeoutS`. A
 * stream the call answers with is held to the same deadline: it is cancelled when it passes.
 */
export function withTimeout<T>(p: Promise<T>, timeoutS: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutS * 1000;
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new TimeoutError(`${what} timed out after ${timeoutS}s`));
      // A stream that starts after its caller gave up would wait for a reader forever, holding its replica's slot.
      p.then(
        (late) => (late instanceof ResponseStream ? late.cancel() : undefined),
        () => undefined,
      );
    }, timeoutS * 1000);
  });
  return Promise.race([p, t]).then(
    (v) => {
      clearTimeout(timer);
      if (v instanceof ResponseStream) v.expireAt(deadline);
      return v;
    },
    (e: unknown) => {
      clearTimeout(timer);
      throw e;
    },
  );
}
