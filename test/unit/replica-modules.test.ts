// What replicas are told to import: compiled URLs and class keys, or the sources under tsx.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compiledPath } from '../../runtime/main/compile-modules.ts';
import { ReplicaModules } from '../../runtime/main/replica-modules.ts';
import { workerEntryUrl } from '../../runtime/main/worker-setup.ts';

const APP = new URL('../fixtures/replica-loader.ts', import.meta.url);
const compiledUrl = (u: URL | string) => pathToFileURL(compiledPath(fileURLToPath(u))).href;
const hooks = (argv: string[]) => argv.some((a) => a.endsWith('source-hooks.mjs'));

describe('ReplicaModules', () => {
  it('hands out compiled URLs, class keys rewritten by module prefix, and no tsx hooks', async () => {
    const m = new ReplicaModules([APP.href]);
    await m.prepare();
    assert.equal(m.moduleUrl(APP.href), compiledUrl(APP));
    assert.equal(m.classKey(`${APP.href}#Loader#2`, APP.href), `${compiledUrl(APP)}#Loader#2`);
    assert.equal(m.workerEntry, compiledUrl(workerEntryUrl));
    assert.equal(hooks(m.execArgv), false);
    assert.equal(m.moduleUrl('file:///elsewhere.mjs'), 'file:///elsewhere.mjs');
  });

  it('settles on the sources, with tsx, when asked before it compiled', async () => {
    const m = new ReplicaModules([APP.href]);
    assert.equal(m.workerEntry, workerEntryUrl);
    await m.prepare();
    assert.equal(m.moduleUrl(APP.href), APP.href, 'never mixes a source entry with compiled modules');
    assert.equal(m.classKey(`${APP.href}#Loader`, APP.href), `${APP.href}#Loader`);
    assert.equal(hooks(m.execArgv), true);
  });

  it('leaves JavaScript alone', async () => {
    const js = 'file:///app/deployments.mjs';
    const m = new ReplicaModules([js], 'file:///app/node_modules/threadserve/dist/runtime/worker/entry.js');
    await m.prepare();
    assert.equal(m.moduleUrl(js), js);
    assert.equal(m.workerEntry, 'file:///app/node_modules/threadserve/dist/runtime/worker/entry.js');
    assert.equal(hooks(m.execArgv), false);
  });
});
