/**
 * How replica threads are started: which file piscina loads and which node flags they get.
 *
 * On Node 20, tsx registers its loader hooks on the main thread only, so a worker cannot import
 * a .ts module by inheriting `--import tsx`. Replicas normally import TypeScript compiled ahead
 * (replica-modules.ts); when something they import is still a .ts file (compiling failed),
 * they get `--import` of a small preload that registers tsx inside the worker.
 */
const RUNNING_FROM_SOURCE = import.meta.url.endsWith('.ts');
const TS_MODULE = /\.[cm]?tsx?$/;

/** What piscina loads (see bootstrap.mjs for why it is not the entry itself). */
export const workerBootstrapUrl = new URL('../worker/bootstrap.mjs', import.meta.url).href;
/** The replica's task module, passed to the bootstrap in workerData. */
export const workerEntryUrl = new URL(RUNNING_FROM_SOURCE ? '../worker/entry.ts' : '../worker/entry.js', import.meta.url).href;

const sourceHooksUrl = new URL('../source-hooks.mjs', import.meta.url).href;

function isTsxFlag(arg: string | undefined): boolean {
  return arg !== undefined && /(^|[/\\@])tsx([/\\]|$)|tsx\/dist|source-hooks\.mjs/.test(arg);
}

/**
 * Node flags for replica threads: the parent's flags minus tsx's, plus the preload if any of
 * `moduleUrls` (everything a replica imports by URL: its entry and the deployments' modules) is TypeScript.
 */
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
  if (moduleUrls.some((u) => TS_MODULE.test(u.replace(/[?#].*$/, '')))) out.push('--import', sourceHooksUrl);
  return out;
}
