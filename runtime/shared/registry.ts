/**
 * How a replica finds the user's class again inside its worker thread without the user naming
 * a file: `deployment()` records the URL of the module that called it (read from V8's call
 * sites) and registers the class under a key made of that URL and the class name. A worker
 * imports the module, which runs the same `deployment()` call there, and looks the key up.
 *
 * The registry hangs off globalThis under a registered symbol so that two copies of the
 * runtime in one thread (source and build, say) still share it.
 */
import { pathToFileURL } from 'node:url';

const REGISTRY = Symbol.for('threadserve.registry');

interface RegistryState {
  classes: Map<string, Function>;
}

function state(): RegistryState {
  const g = globalThis as unknown as Record<symbol, RegistryState | undefined>;
  let s = g[REGISTRY];
  if (!s) {
    s = { classes: new Map() };
    g[REGISTRY] = s;
  }
  return s;
}

/** Registers a class and returns its key; the nth class of one name in one module gets `#n`. */
export function registerClass(moduleUrl: string, className: string, cls: Function): string {
  const { classes } = state();
  const base = `${moduleUrl}#${className}`;
  let key = base;
  for (let n = 2; classes.has(key) && classes.get(key) !== cls; n++) key = `${base}#${n}`;
  classes.set(key, cls);
  return key;
}

export function lookupClass(key: string): Function | undefined {
  return state().classes.get(key);
}

/**
 * The URL of the module whose code called `fn`. V8 call sites give a file URL for ES modules
 * and a path for CommonJS; both become a file URL.
 */
export function callerModuleUrl(fn: Function): string {
  const original = Error.prepareStackTrace;
  const originalLimit = Error.stackTraceLimit;
  try {
    Error.stackTraceLimit = 10;
    Error.prepareStackTrace = (_err, sites) => sites;
    const holder: { stack?: unknown } = {};
    Error.captureStackTrace(holder, fn);
    const sites = holder.stack as NodeJS.CallSite[] | undefined;
    for (const site of sites ?? []) {
      const file = site.getFileName();
      if (!file || file.startsWith('node:')) continue;
      return file.startsWith('file:') ? file : pathToFileURL(file).href;
    }
  } finally {
    Error.prepareStackTrace = original;
    Error.stackTraceLimit = originalLimit;
  }
  throw new Error('threadserve: could not tell which module defined this deployment');
}
