/**
 * `threadserve build app.ts`: the config file of an application, with every option the file
 * can set and its value (the code's, or the default), in Ray Serve's shape, ready to edit and
 * run with `threadserve run config.yaml`.
 */
import { Document } from 'yaml';
import type { BoundDeployment } from '../shared/deployment.ts';
import { methodNames } from '../shared/handle.ts';
import { resolveDeploymentOptions } from '../shared/options.ts';
import type { ResolvedDeploymentOptions } from '../shared/options.ts';
import { deploymentsOf } from './app-module.ts';
import { camelToSnake } from './config-file.ts';

function deploymentEntry(o: ResolvedDeploymentOptions): Record<string, unknown> {
  const auto = o.autoscalingConfig;
  return {
    name: o.name,
    num_replicas: auto ? 'auto' : o.numReplicas,
    max_ongoing_requests: o.maxOngoingRequests,
    max_queued_requests: o.maxQueuedRequests,
    user_config: o.userConfig ?? null,
    autoscaling_config: auto ? Object.fromEntries(Object.entries({ initialReplicas: null, ...auto }).map(([k, v]) => [camelToSnake(k), v])) : null,
    graceful_shutdown_timeout_s: o.gracefulShutdownTimeoutS,
    health_check_period_s: o.healthCheckPeriodS,
    health_check_timeout_s: o.healthCheckTimeoutS,
    ray_actor_options: { num_gpus: o.numGpus },
  };
}

/** The config file text for one application; `importPath` as the file should name the module. */
export function buildConfig(app: BoundDeployment, importPath: string, name = 'default'): string {
  const deployments = deploymentsOf(app).map((d) => ({ d, o: resolveDeploymentOptions(d.className, d.rawOptions) }));
  const ingress = deployments[0]!;
  const route = ingress.o.route ?? (methodNames(ingress.d.cls).includes('call') ? '/' : null);
  const doc = new Document({
    http_options: { host: '127.0.0.1', port: 8000, request_timeout_s: null },
    logging_config: { log_level: 'info' },
    max_replica_threads: null,
    applications: [
      {
        name,
        route_prefix: route,
        import_path: importPath,
        args: null,
        deployments: deployments.map(({ o }) => deploymentEntry(o)),
      },
    ],
  });
  doc.commentBefore = [
    ' threadserve config: run with `threadserve run <this file>`; apply to a running server with `threadserve deploy <this file>`.',
    ' import_path is relative to this file. null leaves the value to the code (max_replica_threads: twice the cores;',
    ' request_timeout_s: none). Options the file sets override the code; num_replicas: auto turns on autoscaling_config.',
  ].join('\n');
  return doc.toString({ lineWidth: 0 });
}
