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
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { OptionsError } from '../shared/errors.ts';
import type { ResolvedDeploymentOptions } from '../shared/options.ts';
import { plan } from './application.ts';
import type { Application, Plan } from './application.ts';
import { loadConfiguredApps } from './config-apps.ts';
import { loadServeConfig } from './config-file.ts';
import { ReplicaModules } from './replica-modules.ts';
import { localSourceFiles } from './source-graph.ts';

interface LoadedApp {
  path: string;
  exportName: string;
  /** The source files whose change means new code, and a hash of their contents when loaded. */
  files: string[];
  hash: string;
  /** The version its module was last imported at (undefined: the first import). */
  version: string | undefined;
}

export interface DeployResult {
  /** What changed, one line per deployment that changed. */
  changes: string[];
}

/** Options a running deployment cannot change: they shape its router, its callers' links or its routes. */
const FIXED_OPTIONS = ['maxOngoingRequests', 'maxQueuedRequests', 'numGpus', 'route', 'bodyLimit', 'acceptContentTypes', 'resourceLimits'] as const;

function hashFiles(files: readonly string[]): string {
  const h = createHash('sha256');
  for (const f of files) {
    try {
      h.update(f).update(readFileSync(f));
    } catch {
      h.update(`${f}: missing`);
    }
  }
  return h.digest('hex');
}

/** The application's local source files: its module's and its deployments' import graphs. */
async function sourceFiles(appPath: string, p: Plan, names: readonly string[]): Promise<string[]> {
  const entries = new Set([appPath]);
  for (const name of names) {
    const url = new URL(p.deployments.get(name)!.deployment.moduleUrl);
    if (url.protocol === 'file:') entries.add(fileURLToPath(url));
  }
  return localSourceFiles([...entries]);
}

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
        const files = await sourceFiles(s.path, app.plan, spec ? this.deploymentsOf(app.plan, spec.ingress) : []);
        this.loaded.set(name, { ...s, files, hash: hashFiles(files), version: undefined });
      }),
    ).then(() => undefined);
  }

  async deploy(file: string, text: string): Promise<DeployResult> {
    await this.ready;
    const config = loadServeConfig(file, text);
    const running = this.app.plan.apps.map((a) => a.name).sort();
    const wanted = config.applications.map((a) => a.name).sort();
    if (!same(running, wanted)) {
      throw new OptionsError(`${file}: deploy changes running applications only (running: ${running.join(', ')}; the file has: ${wanted.join(', ')}); adding or removing applications needs a restart`);
    }
    const newCode = new Set<string>();
    const configured = await loadConfiguredApps(config, (name, path) => {
      const before = this.loaded.get(name)!;
      if (before.path !== path || hashFiles(before.files) !== before.hash) {
        newCode.add(name);
        return String(++this.versions);
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
      const files = await sourceFiles(src.path, next, names);
      const version = rolled ? String(this.versions) : this.loaded.get(spec.name)!.version;
      this.loaded.set(spec.name, { ...src, files, hash: hashFiles(files), version });
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
