// The file piscina loads in each replica thread. Piscina tries require() before import();
// under tsx a .ts entry would then load as CommonJS while user code imports the runtime as
// ES modules, giving two copies of every runtime module in the thread (and failing
// instanceof checks). An .mjs file with top-level await cannot be required, so piscina
// falls back to import(), and everything stays ESM. The entry to load (entry.ts from
// source, entry.js from dist/) comes in workerData.
import { workerData } from 'node:worker_threads';

const entry = await import(workerData.threadserveEntry);
export default entry.default;
