// The raw baselines' worker thread, kept as plain JavaScript with no runtime code in it.
//  - Started directly with workerData { role: 'echo' }: posts every message straight back
//    (the raw `worker.postMessage` round trip).
//  - Loaded by piscina as its task file: the default export is the no-op task.
import { parentPort, workerData } from 'node:worker_threads';

if (workerData?.role === 'echo') {
  parentPort.on('message', (msg) => parentPort.postMessage(msg));
}

export default function noop(x) {
  return x;
}
