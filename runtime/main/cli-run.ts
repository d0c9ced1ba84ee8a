/**
 * `threadserve run <app.ts | config.yaml>` and `threadserve build <app.ts>`. A module is served
 * by its (default or named) export; a YAML file is a Ray Serve-style config (config-file.ts)
 * whose options override the code's. Flags override both. Prints the routes and replicas once
 * ready, and drains on SIGINT/SIGTERM.
 */
import { writeFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { loadApplication } from './app-module.ts';
import { loadConfiguredApps } from './config-apps.ts';
import { buildConfig } from './config-build.ts';
import { loadServeConfig } from './config-file.ts';
import { isPretty } from './logger.ts';
import type { LogFormat } from './logger.ts';
import { run } from './serve.ts';
import type { ServeInstance, ServeOptions } from './serve.ts';

export interface RunFlags {
  host?: string;
  port?: number;
  export: string;
  logLevel?: string;
  /** auto, json or pretty. */
  logFormat?: string;
  /** false with --no-access-log. */
  accessLog?: boolean;
  route?: string;
  maxReplicaThreads?: number;
  adminHost?: string;
  adminPort?: number;
  adminToken?: string;
  dashboard?: string;
  grpcPort?: number;
  /** false with --no-grpc. */
  grpc?: boolean;
  grpcMaxMessageBytes?: number;
  bodyTimeoutS?: number;
  memoryBudgetMb?: number;
  memoryWaitS?: number;
}

export const isConfigFile = (file: string): boolean => /\.ya?ml$/i.test(file);

/** Starts the server the way `threadserve run` does; returns it running. */
export async function startFromCli(target: string, flags: RunFlags): Promise<ServeInstance> {
  const common: ServeOptions = {
    ...(flags.host !== undefined ? { host: flags.host } : {}),
    ...(flags.port !== undefined ? { port: flags.port } : {}),
    ...(flags.logLevel !== undefined ? { logLevel: flags.logLevel as never } : {}),
    ...(flags.logFormat !== undefined ? { logFormat: flags.logFormat as LogFormat } : {}),
    ...(flags.accessLog !== undefined ? { accessLog: flags.accessLog } : {}),
    ...(flags.maxReplicaThreads !== undefined ? { maxReplicaThreads: flags.maxReplicaThreads } : {}),
    ...(flags.dashboard !== undefined ? { dashboard: flags.dashboard as never } : {}),
    ...(flags.grpc === false ? { grpcPort: false as const } : flags.grpcPort !== undefined ? { grpcPort: flags.grpcPort } : {}),
    ...(flags.grpcMaxMessageBytes !== undefined ? { grpcMaxMessageBytes: flags.grpcMaxMessageBytes } : {}),
    ...(flags.bodyTimeoutS !== undefined ? { bodyTimeoutS: flags.bodyTimeoutS } : {}),
    ...(flags.memoryBudgetMb !== undefined ? { memoryBudgetMb: flags.memoryBudgetMb } : {}),
    ...(flags.memoryWaitS !== undefined ? { memoryWaitS: flags.memoryWaitS } : {}),
    admin: {
      ...(flags.adminHost !== undefined ? { host: flags.adminHost } : {}),
      port: flags.adminPort ?? 8265,
      // Another server on this machine may hold the default port: serve without the admin API then.
      optional: flags.adminPort === undefined,
      ...((flags.adminToken ?? process.env.THREADSERVE_ADMIN_TOKEN) ? { token: flags.adminToken ?? process.env.THREADSERVE_ADMIN_TOKEN } : {}),
    },
  };
  if (!isConfigFile(target)) {
    const app = await loadApplication(resolve(target), flags.export, target);
    return run(app, {
      ...common,
      ...(flags.route !== undefined ? { route: flags.route } : {}),
      appSources: { default: { path: resolve(target), exportName: flags.export } },
    });
  }
  if (flags.route !== undefined) throw new Error('--route applies to an application module; set route_prefix in the config file');
  const config = loadServeConfig(target);
  const configured = await loadConfiguredApps(config);
  return run(configured.apps, {
    ...(config.host !== undefined ? { host: config.host } : {}),
    ...(config.port !== undefined ? { port: config.port } : {}),
    ...(config.requestTimeoutS !== undefined ? { requestTimeoutS: config.requestTimeoutS } : {}),
    ...(config.logLevel !== undefined ? { logLevel: config.logLevel as never } : {}),
    ...(config.maxReplicaThreads !== undefined ? { maxReplicaThreads: config.maxReplicaThreads } : {}),
    ...common,
    routePrefixes: configured.routePrefixes,
    deploymentOptions: configured.deploymentOptions,
    appSources: configured.sources,
  });
}

export async function runCommand(target: string, flags: RunFlags): Promise<void> {
  const instance = await startFromCli(target, flags);
  const log = instance.logger;
  // Start-up output in the logs' own format: a table for a person, one JSON line for a collector.
  if (isPretty((flags.logFormat ?? 'auto') as LogFormat)) {
    const admin = instance.adminUrl ? `admin API at ${instance.adminUrl} (threadserve status / deploy --address ${instance.adminUrl})\n` : '';
    const grpc = instance.grpcAddress === undefined ? '' : ` (gRPC: ${instance.grpcAddress})`;
    process.stdout.write(`threadserve is serving at ${instance.url}${grpc}\n${admin}\n${instance.statusText()}\n`);
  } else {
    // Printed whatever --log-level says: process managers and scripts wait for this line.
    log.child({}, { level: 'info' }).info({ ...instance.status(), grpc: instance.grpcAddress, admin: instance.adminUrl }, 'threadserve is serving');
  }
  let signals = 0;
  const stop = (signal: string) => {
    if (++signals > 1) {
      log.warn({ signal }, 'second signal: exiting without draining');
      log.flush();
      process.exit(130);
    }
    log.info({ signal }, 'draining');
    instance.close().then(
      () => {
        log.info('stopped');
        log.flush();
        process.exit(0);
      },
      (err: Error) => {
        log.error({ err }, 'shutdown failed');
        log.flush();
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

export async function buildCommand(file: string, flags: { export: string; name: string; output?: string }): Promise<void> {
  const path = resolve(file);
  const app = await loadApplication(path, flags.export, file);
  // import_path is relative to the config file: the output file's directory, else the current one.
  let importPath = relative(flags.output ? dirname(resolve(flags.output)) : process.cwd(), path);
  if (!importPath.startsWith('.') && !isAbsolute(importPath)) importPath = `./${importPath}`;
  const text = buildConfig(app, flags.export === 'default' ? importPath : `${importPath}:${flags.export}`, flags.name);
  if (flags.output) {
    writeFileSync(flags.output, text);
    process.stdout.write(`wrote ${flags.output}\n`);
  } else process.stdout.write(text);
}
