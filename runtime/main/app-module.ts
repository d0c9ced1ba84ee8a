/**
 * Loads an application from a module: `threadserve run app.ts`, a config file's import_path,
 * `threadserve build`. The export is a bound deployment, or an application builder (a
 * function taking the config file's `args` and returning one, as in Ray Serve).
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { isBound, toDeployment } from '../shared/deployment.ts';
import type { AnyClass, BoundDeployment, Deployment } from '../shared/deployment.ts';

/**
 * A CommonJS project (what `npm init -y` writes) loads app.ts as CommonJS: threadserve is an
 * ES module with top-level await, which CommonJS cannot require, and a top-level `await` in the
 * app itself does not compile to CommonJS. Say what to do instead of esbuild's or Node's words.
 */
function explainImportError(err: Error, file: string): Error {
  const code = (err as { code?: string }).code;
  const cjs =
    code === 'ERR_REQUIRE_ESM' ||
    code === 'ERR_REQUIRE_ASYNC_MODULE' ||
    /Top-level await is currently not supported with the "cjs" output format/.test(err.message);
  if (!cjs) return err;
  const detail = /ERROR: (.*)/.exec(err.message)?.[1] ?? err.message.split('\n')[0];
  return new Error(
    `${file} was loaded as CommonJS, and threadserve is an ES module. Add "type": "module" to your ` + `package.json, or name the file with .mts. (${detail})`,
  );
}

/**
 * Imports `path` (absolute) and returns its bound application. `shown` is how errors name the
 * module; `args`, when given, go to an application builder (a bound export takes none).
 */
export async function loadApplication(
  path: string,
  exportName: string,
  shown: string,
  args?: Record<string, unknown>,
  /** A fresh copy of a module whose code changed since it was imported (a redeploy): a new URL. */
  version?: string,
): Promise<BoundDeployment> {
  if (!existsSync(path)) throw new Error(`application file not found: ${shown}`);
  const url = pathToFileURL(path);
  if (version !== undefined) url.searchParams.set('threadserve-version', version);
  const mod = (await import(url.href).catch((err: Error) => {
    throw explainImportError(err, shown);
  })) as Record<string, unknown>;
  const app = mod[exportName];
  if (app === undefined) {
    const names = Object.keys(mod).filter((k) => isBound(mod[k]));
    throw new Error(`${shown} has no export "${exportName}"${names.length ? `; bound deployments exported: ${names.join(', ')}` : ''}`);
  }
  if (isBound(app)) {
    if (args !== undefined)
      throw new Error(`export "${exportName}" of ${shown} is a bound deployment and takes no args; export a function (args) => Ingress.bind(...) to use them`);
    return app;
  }
  if (typeof app === 'function' && !toDeployment(app)) {
    const built = await (app as (a: Record<string, unknown>) => unknown)(args ?? {});
    if (isBound(built)) return built;
    throw new Error(`the application builder "${exportName}" of ${shown} must return a bound deployment (Ingress.bind(...))`);
  }
  throw new Error(`export "${exportName}" of ${shown} is not a bound deployment: export Ingress.bind(...)`);
}

/** Every deployment of an application graph once, ingress first. */
export function deploymentsOf(root: BoundDeployment): Deployment<AnyClass>[] {
  const out: Deployment<AnyClass>[] = [];
  const seen = new Set<unknown>();
  const walk = (v: unknown): void => {
    if (seen.has(v)) return;
    if (isBound(v)) {
      seen.add(v);
      const d = toDeployment(v.deployment);
      if (d && !out.includes(d)) out.push(d);
      v.args.forEach(walk);
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) Object.values(v).forEach(walk);
  };
  walk(root);
  return out;
}

/** Every deployment name in an application graph (options.name, or the class name). */
export function deploymentNames(root: BoundDeployment): string[] {
  return [...new Set(deploymentsOf(root).map((d) => d.rawOptions.name ?? d.className))];
}
