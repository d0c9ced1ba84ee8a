// The file ocr/raw-case.ts starts its worker threads with: Node 20 workers do not get tsx's hooks
// from the parent, so the worker is started from this .mjs with `--import source-hooks.mjs`
// and then imports the TypeScript module named in workerData.entry.
import { workerData } from 'node:worker_threads';

await import(workerData.entry);
