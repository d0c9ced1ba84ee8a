// Preload for running TypeScript sources without a build step (the CLI from a clone, tests,
// and replica threads, which on Node 20 do not inherit tsx's loader hooks from the main thread).
import { register } from 'node:module';
import { isMainThread, MessageChannel } from 'node:worker_threads';
import { register as registerEsm } from 'tsx/esm/api';
import { register as registerCjs } from 'tsx/cjs/api';

registerEsm();
registerCjs();

// A live deploy of new code re-imports the application module at a new URL
// (`?threadserve-version=N`, app-module.ts); Node's module cache would still hand it the old
// copies of the local files it imports. This resolve hook gives the files a deploy names
// (those that changed and those that import them, redeploy.ts) that version from then on, so
// the main thread sees their new code too (options set in code, a requestSchema among them).
// Other files, threadserve and packages keep their one copy.
const RELOAD_HOOKS = `
const current = new Map();
export function initialize({ port }) {
  port.on('message', ({ version, urls }) => {
    for (const u of urls) current.set(u, version);
    port.postMessage(version);
  });
  port.unref();
}
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  const version = current.size > 0 && !r.url.includes('?') ? current.get(r.url) : undefined;
  return version === undefined ? r : { ...r, url: r.url + '?threadserve-version=' + encodeURIComponent(version) };
}
`;

if (isMainThread) {
  const { port1, port2 } = new MessageChannel();
  register(`data:text/javascript,${encodeURIComponent(RELOAD_HOOKS)}`, { data: { port: port2 }, transferList: [port2] });
  port1.unref();
  /** Tells the hook to import these file URLs at `version` from now on; resolves once it knows. */
  globalThis[Symbol.for('threadserve.reimport')] = (version, urls) =>
    new Promise((resolve) => {
      const done = (v) => {
        if (v !== version) return;
        port1.off('message', done);
        port1.unref();
        resolve();
      };
      port1.on('message', done);
      port1.ref();
      port1.postMessage({ version, urls });
    });
}
