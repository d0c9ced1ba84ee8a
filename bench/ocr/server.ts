/**
 * One OCR server for bench/ocr/run.ts, alone in its process (its replicas are its worker threads):
 *   ocr/server.ts grouped   <replicas> <intraOp>
 *   ocr/server.ts separated <prePostReplicas (0: in the ingress)> <detIntraOp> <recIntraOp> [recReplicas]
 * Serves POST /ocr on 127.0.0.1 (a free port), prints `LISTENING <url>` once every replica is
 * up, and drains on SIGTERM/SIGINT, so with --cpu-prof the main thread and every replica
 * thread (they inherit the flag) write their profiles.
 */
import { serve } from 'threadserve';
import { groupedApp, separatedApp } from './apps.ts';
import { serveUntilSignal } from '../lib/serve-until-signal.ts';

const [kind, a, b, c, d] = process.argv.slice(2);
const int = (s: string | undefined, what: string, min = 1): number => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) throw new Error(`ocr/server.ts: ${what} must be an integer >= ${min}, got ${s}`);
  return n;
};

const app =
  kind === 'grouped'
    ? groupedApp({ replicas: int(a, 'replicas'), intraOp: int(b, 'intraOp') })
    : kind === 'separated'
      ? separatedApp({
          prePost: int(a, 'prePost', 0),
          detIntraOp: int(b, 'detIntraOp'),
          recIntraOp: int(c, 'recIntraOp'),
          recReplicas: int(d ?? '1', 'recReplicas'),
        })
      : undefined;
if (!app) throw new Error('usage: ocr/server.ts grouped <replicas> <intraOp> | separated <prePost> <detIntraOp> <recIntraOp> [recReplicas]');

const instance = await serve.run(app, { host: '127.0.0.1', port: 0, logLevel: 'warn' });
serveUntilSignal(`LISTENING ${instance.url}`, () => instance.close());
