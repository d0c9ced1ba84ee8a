// Compiling replica modules ahead: a small graph written to a temporary project, compiled, then
// imported in a worker with no loader hooks (tsx would hide an import left pointing at a .ts file).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { compileModules, compiledPath } from '../../runtime/main/compile-modules.ts';

const run = promisify(execFile);
const COMPILER = new URL('../../runtime/main/compile-modules.ts', import.meta.url).href;
const HOOKS = fileURLToPath(new URL('../../runtime/source-hooks.mjs', import.meta.url));

const FILES: Record<string, string> = {
  'package.json': '{ "type": "module" }',
  'tsconfig.json': '{ "compilerOptions": { "target": "ES2022", "paths": { "aliased": ["./lib/aliased.ts"] } } }',
  'node_modules/fakepkg/package.json': '{ "name": "fakepkg", "main": "index.js" }',
  'node_modules/fakepkg/index.js': 'module.exports = { fromPackage: 42 };',
  'app.ts': `
    import { join } from 'node:path';
    import { double } from './dep.ts';
    import { helper } from './helper.js';
    import { aliased } from 'aliased';
    import { plain } from './plain.mjs';
    import data from './data.json';
    import attr from './attr.json' with { type: 'json' };
    import pkg from 'fakepkg';
    function tagged<T extends new (...a: any[]) => object>(cls: T, ctx: ClassDecoratorContext<T>) {
      return class extends cls { tag = String(ctx.name); };
    }
    @tagged export class Decorated { constructor(readonly n: number = 1) {} }
    export class CodedError extends Error { code = 'CODED'; }
    export const result = {
      double: double(21), helper: helper(), aliased, plain, data, attr, fromPackage: pkg.fromPackage,
      url: import.meta.url, dirname: import.meta.dirname, joined: join('a', 'b'),
      tag: (new Decorated() as Decorated & { tag: string }).tag, className: Decorated.name,
    };
    export function fail(): never { throw new CodedError('nope'); }`,
  'dep.ts': 'export const double = (x: number): number => x * 2;',
  'helper.ts': "export const helper = (): string => 'helper.ts via ./helper.js';",
  'lib/aliased.ts': "export const aliased: string = 'through tsconfig paths';",
  'plain.mjs': "export const plain = 'plain ' + import.meta.url;",
  'data.json': '{ "from": "json without attributes" }',
  'attr.json': '{ "from": "json with attributes" }',
};

/** Imports a module in a worker that has no loader hooks and returns what `pick` computes from it. */
function importBare(url: string, pick: string): Promise<unknown> {
  const code = `import(${JSON.stringify(url)}).then((m) => require('node:worker_threads').parentPort.postMessage(${pick}))`;
  const w = new Worker(code, { eval: true, execArgv: [] });
  return new Promise((resolve, reject) => {
    w.once('message', (m) => void w.terminate().then(() => resolve(m)));
    w.once('error', reject);
  });
}

describe('compileModules', () => {
  let dir: string;
  const at = (p: string) => join(dir, p);
  before(async () => {
    dir = await realpath(await mkdtemp(join(tmpdir(), 'ts-compile-')));
    for (const [name, text] of Object.entries(FILES)) {
      await mkdir(dirname(at(name)), { recursive: true });
      await writeFile(at(name), text);
    }
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('compiles each TypeScript and attribute-less JSON file once, under the nearest node_modules', async () => {
    const out = await compileModules([at('app.ts')]);
    assert.deepEqual([...out.keys()].sort(), ['app.ts', 'data.json', 'dep.ts', 'helper.ts', 'lib/aliased.ts'].map(at).sort());
    for (const [src, compiled] of out) {
      assert.equal(compiled, compiledPath(src));
      assert.ok(compiled.startsWith(join(dir, 'node_modules', '.cache', 'threadserve', 'replicas')) && compiled.endsWith('.mjs'), compiled);
    }
    const app = await readFile(out.get(at('app.ts'))!, 'utf8');
    assert.match(app, new RegExp(`from "${pathToFileURL(compiledPath(at('dep.ts'))).href}"`), 'a .ts import points at its compiled copy');
    assert.match(app, new RegExp(`from "${pathToFileURL(at('plain.mjs')).href}"`), 'a .mjs import points at the original');
    assert.match(app, /from "fakepkg"/, 'a package stays bare');
    assert.match(app, /from "node:path"/);
  });

  it('gives code that runs without tsx, with import.meta of the source and names kept', async () => {
    const out = await compileModules([at('app.ts')]);
    const url = pathToFileURL(out.get(at('app.ts'))!).href;
    const result = (await importBare(url, 'm.result')) as Record<string, unknown>;
    assert.deepEqual(result, {
      double: 42,
      helper: 'helper.ts via ./helper.js',
      aliased: 'through tsconfig paths',
      plain: `plain ${pathToFileURL(at('plain.mjs')).href}`,
      data: { from: 'json without attributes' },
      attr: { from: 'json with attributes' },
      fromPackage: 42,
      url: pathToFileURL(at('app.ts')).href,
      dirname: dir,
      joined: join('a', 'b'),
      tag: 'Decorated',
      className: '', // the decorator returned an anonymous class
    });
    const thrown = await importBare(url, '(() => { try { m.fail() } catch (e) { return { name: e.constructor.name, code: e.code } } })()');
    assert.deepEqual(thrown, { name: 'CodedError', code: 'CODED' });
  });

  it('rewrites a compiled file only when its source changed', async () => {
    const first = await compileModules([at('app.ts')]);
    const mtime = async (src: string) => (await stat(first.get(src)!)).mtimeMs;
    const [appBefore, depBefore] = [await mtime(at('app.ts')), await mtime(at('dep.ts'))];
    await new Promise((r) => setTimeout(r, 20));
    await writeFile(at('dep.ts'), 'export const double = (x: number): number => x + x;');
    const again = await compileModules([at('app.ts')]);
    assert.deepEqual([...again.keys()].sort(), [...first.keys()].sort(), 'dependencies come from the cache trailer');
    assert.equal(await mtime(at('app.ts')), appBefore);
    assert.notEqual(await mtime(at('dep.ts')), depBefore);
    assert.match(await readFile(again.get(at('dep.ts'))!, 'utf8'), /x \+ x/);
  });

  it('survives processes compiling the same files at once', async () => {
    await writeFile(at('dep.ts'), 'export const double = (x: number): number => 2 * x;');
    await rm(join(dir, 'node_modules', '.cache'), { recursive: true });
    const code = `import { compileModules } from ${JSON.stringify(COMPILER)};
      const out = await compileModules([${JSON.stringify(at('app.ts'))}]);
      console.log(JSON.stringify([...out]));`;
    const runs = await Promise.all([1, 2, 3].map(() => run(process.execPath, ['--import', HOOKS, '--input-type=module', '-e', code], { encoding: 'utf8' })));
    assert.equal(new Set(runs.map((r) => r.stdout)).size, 1);
    const compiled = new Map(JSON.parse(runs[0]!.stdout) as [string, string][]);
    assert.equal(await importBare(pathToFileURL(compiled.get(at('app.ts'))!).href, 'm.result.double'), 42);
    const leftovers = (await readdir(join(dir, 'node_modules', '.cache'), { recursive: true })).filter((f) => f.endsWith('.tmp'));
    assert.deepEqual(leftovers, []);
  });

  it('refuses what it cannot compile faithfully', async () => {
    await mkdir(at('cjs'), { recursive: true });
    await writeFile(at('cjs/package.json'), '{}');
    await writeFile(at('cjs/mod.ts'), 'export const x = 1;');
    await assert.rejects(compileModules([at('cjs/mod.ts')]), /CommonJS module/);
    await writeFile(at('broken.ts'), 'export const = ;');
    await assert.rejects(compileModules([at('broken.ts')]), /broken\.ts/);
    await writeFile(at('requires.ts'), "export function load(): unknown { return require('./dep.ts'); }");
    await assert.rejects(compileModules([at('requires.ts')]), /require\(\)s \.\/dep\.ts/);
  });
});
