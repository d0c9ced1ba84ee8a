// The local import graph a live deploy hashes and re-imports (runtime/main/source-graph.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { localSourceGraph, withImporters } from '../../runtime/main/source-graph.ts';

const dir = mkdtempSync(join(tmpdir(), 'threadserve-graph-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const runtime = pathToFileURL(fileURLToPath(new URL('../../runtime/index.ts', import.meta.url))).href;
const zod = import.meta.resolve('zod');

describe('the local source graph', () => {
  it('follows local imports (a .js specifier meaning .ts, a literal dynamic import), lists other local files, and leaves out packages, builtins and threadserve', async () => {
    const f = (name: string, text: string) => writeFileSync(join(dir, name), text);
    f('package.json', '{"type":"module"}');
    f(
      'app.ts',
      `import { deployment } from '${runtime}';\nimport { z } from '${zod}';\nimport { Model } from './model.js';\nexport default deployment(Model, { requestSchema: z.object({}) }).bind();\n`,
    );
    f(
      'model.ts',
      `import { readFileSync } from 'node:fs';\nimport { scale } from './helper.ts';\nimport words from './words.json';\nexport class Model { run() { return scale(words.length) + readFileSync.length; } async lazy() { return import('./lazy.ts'); } }\n`,
    );
    f('helper.ts', `export const scale = (n: number) => n * 2;\n`);
    f('lazy.ts', `export const lazy = 1;\n`);
    f('words.json', '["a"]');
    f('unused.ts', `export const unused = 1;\n`);
    const graph = await localSourceGraph([join(dir, 'app.ts')]);
    assert.deepEqual(
      graph.files.map((p) => p.slice(dir.length + 1)),
      ['app.ts', 'helper.ts', 'lazy.ts', 'model.ts', 'words.json'],
    );
    const rel = (s: Set<string>) => [...s].map((p) => p.slice(dir.length + 1)).sort();
    // A changed helper: it, the class file that imports it and the app module that imports that.
    assert.deepEqual(rel(withImporters(graph, [join(dir, 'helper.ts')])), ['app.ts', 'helper.ts', 'model.ts']);
    assert.deepEqual(rel(withImporters(graph, [join(dir, 'app.ts')])), ['app.ts']);
  });

  it('returns what it found when a file does not parse', async () => {
    writeFileSync(join(dir, 'broken.ts'), `import './helper.ts';\nexport const x = ;\n`);
    const graph = await localSourceGraph([join(dir, 'broken.ts')]);
    assert.ok(graph.files.includes(join(dir, 'broken.ts')));
  });
});
