/**
 * How replica threads are started: which file piscina loads and which node flags they get.
 *
 * On Node 20, tsx registers its loader hooks on the main thread only, so a worker cannot import
 * a .ts module by inheriting `--import tsx`. When the runtime itself runs from source, or a
 * deployment lives in a .ts file, workers get `--import` of a small preload that registers tsx
 * inside the worker. Compiled code (dist/, plain .js deployments) needs nothing.
 */
const RUNNING_FROM_SOURCE = import.meta.url.endsWith('.ts');
const TS_MODULE = /\.[cm]?tsx?$/;

/** What piscina loads (see bootstrap.mjs for why it is not the entry itself). */
export const workerBootstrapUrl = new URL('../worker/bootstrap.mjs', import.meta.url).href;
/** The replica's task module, passed to the bootstrap in workerData. */
export const workerEntryUrl = new URL(
  RUNNING_FROM_SOURCE ? '../worker/entry.ts' : '../worker/entry.js',
  import.meta.url,
).href;

const sourceHooksUrl = new URL('../source-hooks.mjs', import.meta.url).href;

function isTsxFlag(arg: string | undefined): boolean {
  return arg !== undefined && /(^|[/\\@])tsx([/\\]|$)|tsx\/dist|source-hooks\.mjs/.test(arg);
}

/** Node flags for replica threads: the parent's flags minus tsx's, plus the preload if needed. */
export function workerExecArgv(moduleUrls: readonly string[]): string[] {
  const parent = process.execArgv;
  const out: string[] = [];
  for (let i = 0; i < parent.length; i++) {
    const arg = parent[i]!;
    if ((arg === '--import' || arg === '--require' || arg === '-r' || arg === '--loader') && isTsxFlag(parent[i + 1])) {
      i++;
      continue;
    }
    if (/^--(import|require|loader)=/.test(arg) && isTsxFlag(arg)) continue;
    // Flags about the main script (`node --input-type=module -e ...`) make no sense in a worker.
    if (arg.startsWith('--input-type')) continue;
    out.push(arg);
  }
  if (RUNNING_FROM_SOURCE || moduleUrls.some((u) => TS_MODULE.test(u))) out.push('--import', sourceHooksUrl);
  return out;
}
