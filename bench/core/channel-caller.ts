/**
 * Part 1d's calling thread: a plain worker (no runtime code) that keeps INFLIGHT messages in
 * flight over the MessagePort it is given, to a worker that echoes them (bench/core/baseline-worker.mjs
 * in role 'echo-port'), with the same loop a replica runs in part 1e. Posts its calls/s to the
 * parent. TypeScript, so it is started with tsx's hooks (bench/core/inner-case.ts does that).
 */
import type { MessagePort } from 'node:worker_threads';
import { parentPort, workerData } from 'node:worker_threads';
import { fifoCaller, warmPipelined } from '../lib/call-loops.ts';

const { port } = workerData as { port: MessagePort };
const measured = await warmPipelined(fifoCaller(port));
port.close();
parentPort!.postMessage(measured);
