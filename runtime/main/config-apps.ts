/**
 * Turns a loaded config file into what `serve.run` takes: imports each application's module
 * (import_path relative to the file), checks that every deployment the file names is in that
 * application, and collects the route prefixes and per-deployment options. Errors name the
 * file and line of the application entry.
 */
import { dirname, relative, resolve } from 'node:path';
import { OptionsError } from '../shared/errors.ts';
import type { BoundDeployment } from '../shared/deployment.ts';
import type { DeploymentOptions } from '../shared/options.ts';
import { deploymentNames, loadApplication } from './app-module.ts';
import type { ServeConfig } from './config-file.ts';

export interface ConfiguredApps {
  apps: Record<string, BoundDeployment>;
  routePrefixes: Record<string, string | null>;
  deploymentOptions: Record<string, DeploymentOptions>;
  /** The absolute module path and export of each application (a redeploy compares them). */
  sources: Record<string, { path: string; exportName: string }>;
}

export async function loadConfiguredApps(
  config: ServeConfig,
  /** The version to import an application's module at (a redeploy after its code changed). */
  versionOf: (app: string, path: string) => string | undefined | Promise<string | undefined> = () => undefined,
): Promise<ConfiguredApps> {
  const out: ConfiguredApps = { apps: {}, routePrefixes: {}, deploymentOptions: {}, sources: {} };
  for (const a of config.applications) {
    const path = resolve(dirname(config.file), a.importPath);
    const shown = relative(process.cwd(), path) || path;
    let app: BoundDeployment;
    try {
      app = await loadApplication(path, a.exportName, shown, a.args, await versionOf(a.name, path));
    } catch (err) {
      throw new OptionsError(`${a.where(['import_path'])}: application "${a.name}": ${(err as Error).message}`);
    }
    const names = deploymentNames(app);
    for (const [j, d] of a.deployments.entries()) {
      if (!names.includes(d.name)) {
        throw new OptionsError(
          `${a.where(['deployments', j, 'name'])}: application "${a.name}" has no deployment "${d.name}"; its deployments: ${names.join(', ')}`,
        );
      }
      out.deploymentOptions[d.name] = d.options;
    }
    out.apps[a.name] = app;
    out.sources[a.name] = { path, exportName: a.exportName };
    if (a.routePrefix !== undefined) out.routePrefixes[a.name] = a.routePrefix;
  }
  return out;
}
