/**
 * One transport case in a process of its own: `transport/case.ts port|batched|ring|ring-batched`. Starts an
 * echoing worker and a calling worker joined by the transport (bench/transport/worker.ts),
 * waits for the caller's measurements and prints them as one JSON line.
 */
import { once } from 'node:events';
import { MessageChannel, Worker } from 'node:worker_threads';
import { createRing } from './shared-ring.ts';
import type { TransportKind, TransportRun, TransportWorkerData } from './worker.ts';

const KINDS: TransportKind[] = ['port', 'batched', 'ring', 'ring-batched'];
const kind = process.argv[2] as TransportKind;
if (!KINDS.includes(kind)) throw new Error(`usage: transport/case.ts ${KINDS.join('|')}`);

const { port1, port2 } = new MessageChannel();
const toEcho = createRing();
const toCaller = createRing();
const script = new URL('./worker.ts', import.meta.url);
// Workers inherit this process's execArgv, which registers tsx (bench/lib/proc.ts starts it so).
const start = (data: TransportWorkerData) => new Worker(script, { workerData: data, transferList: [data.port] });
const echo = start({ kind, role: 'echo', port: port2, rings: { out: toCaller, in: toEcho } });
await once(echo, 'online');
const caller = start({ kind, role: 'caller', port: port1, rings: { out: toEcho, in: toCaller } });
try {
  const run = await new Promise<TransportRun>((resolve, reject) => {
    caller.once('message', resolve);
    caller.once('error', reject);
    caller.once('exit', (code) => reject(new Error(`transport caller exited with code ${code} before reporting`)));
  });
  process.stdout.write(`${JSON.stringify({ kind, ...run })}\n`);
} finally {
  await Promise.all([caller.terminate(), echo.terminate()]);
}
