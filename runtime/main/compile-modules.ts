/**
 * Compiles TypeScript modules to plain ES modules with esbuild, one output file per source file
 * (not a bundle), following imports transitively, so that replica threads import them with no
 * loader hooks (see replica-modules.ts for why).
 *
 * Each file is its own esbuild build with every import made external: the output keeps one
 * module per source file (module identity and evaluation order stay as under tsx), and
 * `import.meta.url` is defined per file as the source's URL, so code that reads files next to
 * its source keeps working. Imports are rewritten: TypeScript (also reached through a tsconfig
 * `paths` alias or a `.js` specifier meaning a `.ts` file) to its compiled copy, other local
 * files to absolute file URLs (the output lives elsewhere), packages found under node_modules
 * left bare, so that Node resolves them from the output as it did from the source.
 *
 * Output goes under the nearest node_modules (for those bare imports) and carries a trailer
 * with a hash of its inputs and its compiled dependencies: a later run whose sources did not
 * change reads the trailers and never starts esbuild.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, parse } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BuildOptions, Message, Plugin } from 'esbuild';
import { resolveImport } from './esbuild-resolve.ts';

type Esbuild = typeof import('esbuild');

export const TS_FILE = /\.(?:[cm]?ts|tsx)$/;
const DECLARATION = /\.d\.[cm]?ts$/;
/** Bump when the build options below change: it invalidates every cached output. */
const FORMAT = 'threadserve-compile-1';
const TRAILER = /\n\/\/ threadserve-compiled ([0-9a-f]+) (\[.*\])\n$/;

const nearest = new Map<string, string | undefined>();
/** The closest `name` in `dir` or an ancestor (memoised: asked for every file). */
function nearestFile(dir: string, name: string): string | undefined {
  const key = `${name}\0${dir}`;
  if (!nearest.has(key)) {
    const here = join(dir, name);
    nearest.set(key, existsSync(here) ? here : dirname(dir) === dir ? undefined : nearestFile(dirname(dir), name));
  }
  return nearest.get(key);
}

/** Where the compiled copy of a source file goes: its absolute path mirrored under the cache. */
export function compiledPath(sourcePath: string): string {
  const modules = nearestFile(dirname(sourcePath), 'node_modules');
  // Real path: Node names a module by it, and the registry keys classes by the module's name.
  const dir = modules ? join(realpathSync(modules), '.cache', 'threadserve', 'replicas') : join(tmpdir(), `threadserve-replicas-${process.getuid?.() ?? 0}`);
  const { root } = parse(sourcePath);
  return `${join(dir, sourcePath.slice(root.length).replace(/:/g, '_'))}.mjs`;
}

/** Node's rule for .ts files: ES module only under a package.json with "type": "module". */
function isEsmScope(path: string): boolean {
  if (path.endsWith('.mts') || path.endsWith('.json')) return true;
  if (path.endsWith('.cts')) return false;
  const pkg = nearestFile(dirname(path), 'package.json');
  return pkg !== undefined && (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: string }).type === 'module';
}

/** The hash of everything the output depends on besides other files' outputs. */
function inputKey(path: string, source: string): string {
  const tsconfig = nearestFile(dirname(path), 'tsconfig.json');
  return createHash('sha256')
    .update(`${FORMAT}\0${process.versions.node}\0${tsconfig ? readFileSync(tsconfig, 'utf8') : ''}\0${source}`)
    .digest('hex')
    .slice(0, 32);
}

/** Writes through a temporary file: a concurrent process never imports half a file. */
async function writeAtomic(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path).catch(async (err: unknown) => {
    await unlink(tmp).catch(() => undefined);
    throw err;
  });
}

let esbuildUsers = 0;

/**
 * Runs `fn` with esbuild, sharing its service with any compile running meanwhile: the service
 * (a child process) stops only when its last user is done, never under another one's build.
 */
export async function withEsbuild<T>(fn: (esbuild: Esbuild) => Promise<T>): Promise<T> {
  esbuildUsers++;
  const esbuild = import('esbuild');
  try {
    return await fn(await esbuild);
  } finally {
    if (--esbuildUsers === 0)
      await esbuild.then(
        (e) => e.stop(),
        () => undefined,
      );
  }
}

/**
 * Compiles the given files and every TypeScript (or attribute-less JSON) file they import,
 * transitively. Returns source path -> compiled path for each. Rejects when a file cannot be
 * compiled faithfully (a syntax error, a CommonJS module): the caller falls back to tsx.
 */
export async function compileModules(entries: readonly string[]): Promise<Map<string, string>> {
  const compiled = new Map<string, string>();
  const jobs: Promise<void>[] = [];
  let esbuild: Promise<Esbuild> | undefined;
  const loadEsbuild = () => {
    if (!esbuild) {
      esbuildUsers++;
      esbuild = import('esbuild');
    }
    return esbuild;
  };
  const visit = (path: string): string => {
    let out = compiled.get(path);
    if (out === undefined) {
      if (!isEsmScope(path)) throw new Error(`${path} is a CommonJS module (its package.json has no "type": "module")`);
      out = compiledPath(path);
      compiled.set(path, out);
      jobs.push(compileOrReuse(path, out, visit, loadEsbuild));
    }
    return out;
  };
  try {
    for (const e of entries) visit(e);
    // Jobs discover more files while they run; wait until a round adds none. Wait for all of
    // them even after one failed: none may be left writing, or cut off by stopping esbuild.
    let failure: unknown;
    for (let done = 0; done < jobs.length;) {
      const round = jobs.slice(done);
      done = jobs.length;
      for (const r of await Promise.allSettled(round)) if (r.status === 'rejected') failure ??= r.reason;
    }
    if (failure !== undefined) throw failure;
  } finally {
    // esbuild's service is a child process of its own: stop it once no compile needs it.
    if (esbuild && --esbuildUsers === 0)
      await esbuild.then(
        (e) => e.stop(),
        () => undefined,
      );
  }
  return compiled;
}

async function compileOrReuse(path: string, out: string, visit: (p: string) => string, esbuild: () => Promise<Esbuild>): Promise<void> {
  const key = inputKey(path, await readFile(path, 'utf8'));
  const cached = TRAILER.exec(await readFile(out, 'utf8').catch(() => ''));
  if (cached?.[1] === key) {
    const deps = JSON.parse(cached[2]!) as string[];
    if (deps.every((d) => existsSync(d))) {
      for (const d of deps) visit(d);
      return;
    }
  }
  const deps = new Set<string>();
  const result = await (await esbuild()).build(buildOptions(path, out, (p) => (deps.add(p), visit(p)))).catch((err: { errors?: Message[] }) => {
    throw new Error(err.errors?.map(describe).join('; ') ?? String(err), { cause: err });
  });
  const code = result.outputFiles.find((f) => f.path === out)!;
  for (const f of result.outputFiles) if (f !== code) await writeAtomic(f.path, f.text);
  await writeAtomic(out, `${code.text}\n// threadserve-compiled ${key} ${JSON.stringify([...deps])}\n`);
}

/** One esbuild message as a line; a plugin's own errors already name the file. */
function describe(m: Message): string {
  return m.pluginName || !m.location ? m.text : `${m.location.file}:${m.location.line}:${m.location.column}: ${m.text}`;
}

function buildOptions(path: string, out: string, visit: (p: string) => string): BuildOptions & { write: false } {
  return {
    entryPoints: [path],
    outfile: out,
    write: false,
    bundle: true, // only a bundling build calls onResolve; the plugin makes every import external
    format: 'esm',
    platform: 'node',
    target: `node${process.versions.node}`,
    keepNames: true, // as tsx does: class and function names survive (errors are matched by name)
    treeShaking: false,
    sourcemap: 'linked',
    sourcesContent: false,
    conditions: [], // with mainFields, makes build.resolve pick the files Node would
    mainFields: ['main'],
    logLevel: 'silent',
    define: {
      'import.meta.url': JSON.stringify(pathToFileURL(path).href),
      'import.meta.filename': JSON.stringify(path),
      'import.meta.dirname': JSON.stringify(dirname(path)),
    },
    plugins: [rewriteImports(visit)],
  };
}

function rewriteImports(visit: (path: string) => string): Plugin {
  return {
    name: 'threadserve-replica-imports',
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        const file = await resolveImport(build, args);
        if (file === 'esbuild') return undefined;
        // Unresolvable (an optional package, say): Node decides at run time, as it would have.
        if (file === 'outside') return { path: args.path, external: true };
        const spec = args.path;
        const isRequire = args.kind === 'require-call' || args.kind === 'require-resolve';
        if (TS_FILE.test(file) && !DECLARATION.test(file)) {
          if (isRequire) throw new Error(`${args.importer} require()s ${spec}, a TypeScript file: only tsx loads that`);
          return { path: pathToFileURL(visit(file)).href, external: true };
        }
        // JSON without `with { type: 'json' }` loads under tsx but not under Node 20: make it a module.
        if (file.endsWith('.json') && args.with.type !== 'json' && !isRequire) {
          return { path: pathToFileURL(visit(file)).href, external: true };
        }
        // A package stays bare; a self-reference, `#imports` or a `paths` alias to JS would not resolve from the output.
        const bare = !/^(\.{0,2}[/\\]|file:|[A-Za-z]:)/.test(spec);
        if (bare && /[/\\]node_modules[/\\]/.test(file)) return { path: spec, external: true };
        return { path: pathToFileURL(file).href, external: true };
      });
    },
  };
}
