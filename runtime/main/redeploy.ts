/**
 * `threadserve deploy config.yaml` on a running server: reads the new config (same checks and
 * messages as `run`), works out what changed, refuses what cannot change live before touching
 * anything, then applies: replica counts, autoscaling settings, user_config (reconfigure()) and
 * timings live; a changed import path or changed code (any local file in the import graph of
 * the application module and its deployments' modules, source-graph.ts) rolls that
 * application's replicas one at a time.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { OptionsError } from '../shared/errors.ts';
import type { ResolvedDeploymentOptions } from '../shared/options.ts';
import { plan } from './application.ts';
import type { Application, Plan } from './application.ts';
import { loadConfiguredApps } from './config-apps.ts';
import { loadServeConfig } from './config-file.ts';
import { ReplicaModules } from './replica-modules.ts';
import { localSourceGraph, withImporters } from './source-graph.ts';
import type { SourceGraph } from './source-graph.ts';

interface LoadedApp {
  path: string;
  exportName: string;
  /** The source files whose change means new code, with who imports whom. */
  graph: SourceGraph;
  /** Each file's contents hashed when loaded. */
  hashes: Map<string, string>;
  /** The version its module was last imported at (undefined: the first import). */
  version: string | undefined;
}

export interface DeployResult {
  /** What changed, one line per deployment that changed. */
  changes: string[];
}

/** Options a running deployment cannot change: they shape its router, its callers' links or its routes. */
const FIXED_OPTIONS = ['maxOngoingRequests', 'maxQueuedRequests', 'numGpus', 'route', 'bodyLimit', 'acceptContentTypes', 'resourceLimits'] as const;

function hashFile(file: string): string {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return 'missing';
  }
}

/** The application's local source files: its module's and its deployments' import graphs. */
async function sourceFiles(appPath: string, p: Plan, names: readonly string[]): Promise<{ graph: SourceGraph; hashes: Map<string, string> }> {
  const entries = new Set([appPath]);
  for (const name of names) {
    const url = new URL(p.deployments.get(name)!.deployment.moduleUrl);
    // A deployment class from a package (OnnxModelDeployment installed) is not the application's code.
    if (url.protocol === 'file:' && !/[/\\]node_modules[/\\]/.test(url.pathname)) entries.add(fileURLToPath(url));
  }
  const graph = await localSourceGraph([...entries]);
  return { graph, hashes: new Map(graph.files.map((f) => [f, hashFile(f)])) };
}

/** The files whose contents differ from when they were loaded. */
const changedFiles = (app: LoadedApp) => app.graph.files.filter((f) => hashFile(f) !== app.hashes.get(f));

/** The source hooks' way to re-import local files at a new version (source-hooks.mjs), when loaded. */
type Reimport = (version: string, urls: string[]) => Promise<void>;
const reimport = () => (globalThis as Record<symbol, Reimport | undefined>)[Symbol.for('threadserve.reimport')];

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export class Deployer {
  private readonly loaded = new Map<string, LoadedApp>();
  private versions = 0;
  /** Walking the import graphs takes an esbuild run: started at construction, awaited by deploy. */
  readonly ready: Promise<void>;

  constructor(
    private readonly app: Application,
    private readonly log: Logger,
    sources: Record<string, { path: string; exportName: string }>,
  ) {
    this.ready = Promise.all(
      Object.entries(sources).map(async ([name, s]) => {
        const spec = app.plan.apps.find((a) => a.name === name);
        const code = await sourceFiles(s.path, app.plan, spec ? this.deploymentsOf(app.plan, spec.ingress) : []);
        this.loaded.set(name, { ...s, ...code, version: undefined });
      }),
    ).then(() => undefined);
  }

  async deploy(file: string, text: string): Promise<DeployResult> {
    await this.ready;
    const config = loadServeConfig(file, text);
    const running = this.app.plan.apps.map((a) => a.name).sort();
    const wanted = config.applications.map((a) => a.name).sort();
    if (!same(running, wanted)) {
      throw new OptionsError(
        `${file}: deploy changes running applications only (running: ${running.join(', ')}; the file has: ${wanted.join(', ')}); adding or removing applications needs a restart`,
      );
    }
    const newCode = new Set<string>();
    const configured = await loadConfiguredApps(config, async (name, path) => {
      const before = this.loaded.get(name)!;
      const changed = changedFiles(before);
      if (before.path !== path || changed.length > 0) {
        newCode.add(name);
        const version = String(++this.versions);
        // The application module is imported at the new version (app-module.ts); the files that
        // changed and those importing them must be too, or the main thread keeps their old code.
        await reimport()?.(
          version,
          [...withImporters(before.graph, changed)].map((f) => pathToFileURL(f).href),
        );
        return version;
      }
      return before.version;
    });
    for (const a of config.applications) if (configured.sources[a.name]!.exportName !== this.loaded.get(a.name)!.exportName) newCode.add(a.name);
    const next = plan(configured.apps, configured.routePrefixes, () => this.app.plan.gpus, configured.deploymentOptions);
    this.check(file, next);

    const changes: string[] = [];
    for (const spec of this.app.plan.apps) {
      const rolled = newCode.has(spec.name);
      const names = this.deploymentsOf(next, spec.ingress);
      const modules = rolled ? new ReplicaModules(names.map((n) => next.deployments.get(n)!.deployment.moduleUrl)) : undefined;
      await modules?.prepare(this.log);
      for (const name of names) {
        const runner = this.app.runner(name)!;
        const d = next.deployments.get(name)!;
        const what = this.describe(runner.spec.options, d.options, runner.target);
        if (modules) {
          await runner.roll(
            {
              moduleUrl: modules.moduleUrl(d.deployment.moduleUrl),
              classKey: modules.classKey(d.deployment.key, d.deployment.moduleUrl),
              args: d.args,
              workerEntry: modules.workerEntry,
              execArgv: modules.execArgv,
            },
            d.options,
          );
          what.unshift('new code: replicas replaced one at a time');
        } else {
          await runner.update(d.options);
        }
        d.gpuSlots = this.app.plan.deployments.get(name)!.gpuSlots;
        this.app.plan.deployments.set(name, d);
        if (what.length) changes.push(`${name}: ${what.join('; ')}`);
      }
      const src = configured.sources[spec.name]!;
      const code = await sourceFiles(src.path, next, names);
      const version = rolled ? String(this.versions) : this.loaded.get(spec.name)!.version;
      this.loaded.set(spec.name, { ...src, ...code, version });
    }
    if (config.maxReplicaThreads !== undefined && config.maxReplicaThreads !== this.app.autoscaler.budget) {
      changes.push(`maxReplicaThreads: ${this.app.autoscaler.budget} -> ${config.maxReplicaThreads}`);
      this.app.autoscaler.budget = config.maxReplicaThreads;
    }
    this.log.info({ file, changes }, 'deployed');
    return { changes };
  }

  /** Refuses, before anything changes, what a running server cannot take. */
  private check(file: string, next: Plan): void {
    const problems: string[] = [];
    for (const [name, now] of this.app.plan.deployments) {
      const d = next.deployments.get(name);
      if (!d) {
        problems.push(`deployment "${name}" is no longer in its application`);
        continue;
      }
      if (!same([...now.targets].sort(), [...d.targets].sort())) problems.push(`deployment "${name}" calls other deployments than it did`);
      for (const option of FIXED_OPTIONS) {
        if (!same(now.options[option], d.options[option])) problems.push(`deployment "${name}": ${option} cannot change on a running server`);
      }
    }
    for (const name of next.deployments.keys()) if (!this.app.plan.deployments.has(name)) problems.push(`deployment "${name}" is new`);
    for (const a of this.app.plan.apps) {
      const b = next.apps.find((x) => x.name === a.name)!;
      if (a.route !== b.route || a.ingress !== b.ingress) problems.push(`application "${a.name}": its route or ingress cannot change on a running server`);
    }
    if (problems.length) throw new OptionsError(`${file}: cannot deploy live (restart the server for these):\n  ${problems.join('\n  ')}`);
  }

  private deploymentsOf(p: Plan, ingress: string): string[] {
    const out: string[] = [];
    const visit = (n: string) => {
      if (out.includes(n)) return;
      out.push(n);
      for (const t of p.deployments.get(n)!.targets) visit(t);
    };
    visit(ingress);
    return out;
  }

  private describe(before: ResolvedDeploymentOptions, after: ResolvedDeploymentOptions, target: number): string[] {
    const what: string[] = [];
    if (!after.autoscalingConfig && (before.autoscalingConfig || after.numReplicas !== target)) what.push(`replicas ${target} -> ${after.numReplicas}`);
    if (!same(before.autoscalingConfig, after.autoscalingConfig)) what.push(after.autoscalingConfig ? 'autoscaling settings' : 'autoscaling off');
    if (!same(before.userConfig, after.userConfig)) what.push('user_config (reconfigure)');
    for (const k of ['healthCheckPeriodS', 'healthCheckTimeoutS', 'gracefulShutdownTimeoutS'] as const) {
      if (before[k] !== after[k]) what.push(`${k} ${before[k]} -> ${after[k]}`);
    }
    return what;
  }
}
