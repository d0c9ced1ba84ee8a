/**
 * The local source files an application's code is made of: its module, its deployments'
 * modules and every file they import, transitively, that is neither a package under
 * node_modules nor threadserve's own runtime (a clone's runtime/ is local, but it is the
 * server's code, not the application's: it cannot change under a running server). A redeploy
 * hashes them to tell new code from old, and re-imports the changed ones and their importers
 * (redeploy.ts): a helper that a deployment's file imports is that deployment's code as much
 * as the class is.
 *
 * esbuild walks the imports, with the resolution rules compile-modules.ts compiles by (tsconfig
 * `paths`, `.js` specifiers meaning `.ts` files), and writes nothing. Static imports and dynamic
 * imports of a literal path are seen; a path computed at run time is not. Files that are not
 * code (a model next to its source, a native addon) are listed but not followed. Walking never
 * fails its caller: on a syntax error it returns the files found so far (importing the module
 * then fails with Node's own message).
 */
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, sep } from 'node:path';
import type { Plugin } from 'esbuild';
import { withEsbuild } from './compile-modules.ts';
import { resolveImport } from './esbuild-resolve.ts';

const CODE = /\.(?:[cm]?[jt]sx?|json)$/;
const IN_PACKAGE = /[/\\]node_modules[/\\]/;
/** This runtime's directory (runtime/ from source, dist/runtime/ built). */
const RUNTIME_DIR = dirname(dirname(fileURLToPath(import.meta.url))) + sep;

export interface SourceGraph {
  /** Every local file, entries included, sorted. */
  files: string[];
  /** File -> the local files that import it. */
  importers: Map<string, Set<string>>;
}

/** The local files `entries` (absolute paths) are made of, and who imports whom. */
export async function localSourceGraph(entries: readonly string[]): Promise<SourceGraph> {
  const files = new Set(entries);
  const importers = new Map<string, Set<string>>();
  const follow: Plugin = {
    name: 'threadserve-source-graph',
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        const file = await resolveImport(build, args);
        if (file === 'esbuild') return undefined;
        // Unresolvable (an optional package) or a package's file: not the application's code.
        if (file === 'outside' || IN_PACKAGE.test(file) || file.startsWith(RUNTIME_DIR)) return { path: args.path, external: true };
        files.add(file);
        if (!importers.has(file)) importers.set(file, new Set());
        importers.get(file)!.add(args.importer);
        return CODE.test(file) ? { path: file } : { path: args.path, external: true };
      });
    },
  };
  try {
    await withEsbuild((esbuild) =>
      esbuild.build({
        entryPoints: [...entries],
        outdir: tmpdir(), // required with several entries; nothing is written
        write: false,
        bundle: true, // only a bundling build follows imports
        format: 'esm',
        platform: 'node',
        logLevel: 'silent',
        plugins: [follow],
      }),
    );
  } catch {
    // The files found so far: see the comment at the top.
  }
  return { files: [...files].sort(), importers };
}

/** The files to re-import when `changed` did: those and every file that imports one, transitively. */
export function withImporters(graph: SourceGraph, changed: Iterable<string>): Set<string> {
  const out = new Set<string>();
  const visit = (f: string) => {
    if (out.has(f)) return;
    out.add(f);
    for (const i of graph.importers.get(f) ?? []) visit(i);
  };
  for (const f of changed) visit(f);
  return out;
}
