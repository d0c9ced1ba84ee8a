// The raw baselines' worker thread, kept as plain JavaScript with no runtime code in it.
//  - Started directly with workerData { role: 'echo' }: posts every message straight back
//    (the raw `worker.postMessage` round trip).
//  - Started with workerData { role: 'echo-port', port }: posts every message on that
//    MessagePort straight back on it (the far end of the worker -> worker MessageChannel).
//  - Loaded by piscina as its task file: the default export is the no-op task.
import { parentPort, workerData } from 'node:worker_threads';

if (workerData?.role === 'echo') {
  parentPort.on('message', (msg) => parentPort.postMessage(msg));
} else if (workerData?.role === 'echo-port') {
  const { port } = workerData;
  port.on('message', (msg) => port.postMessage(msg));
}

export default function noop(x) {
  return x;
}
