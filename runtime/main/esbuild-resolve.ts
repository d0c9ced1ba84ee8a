/**
 * The resolve step both of the runtime's import-following esbuild plugins take (the replica
 * compiler, compile-modules.ts, and the source graph that redeploys hash, source-graph.ts):
 * an import resolves as esbuild itself would resolve it, with Node's built-ins, URL imports and
 * what does not resolve (an optional package) left to Node at run time.
 */
import { isBuiltin } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { OnResolveArgs, PluginBuild } from 'esbuild';

/** Marks this helper's own nested lookups, which the plugin that asked must let esbuild handle. */
const INNER = Symbol('threadserve.resolve');

/**
 * 'esbuild': an entry point or this helper's own lookup (return undefined: esbuild goes on);
 * 'outside': a built-in, a URL, or unresolvable (keep the import as written, external);
 * otherwise the file the import resolves to.
 */
export async function resolveImport(build: PluginBuild, args: OnResolveArgs): Promise<'esbuild' | 'outside' | string> {
  if (args.kind === 'entry-point' || args.pluginData === INNER) return 'esbuild';
  const spec = args.path;
  if (isBuiltin(spec) || /^(data|https?|node):/.test(spec)) return 'outside';
  const r = await build.resolve(spec.startsWith('file:') ? fileURLToPath(spec) : spec, {
    kind: args.kind,
    importer: args.importer,
    resolveDir: args.resolveDir,
    with: args.with,
    pluginData: INNER,
  });
  return r.errors.length > 0 || r.external || !r.path ? 'outside' : r.path;
}
