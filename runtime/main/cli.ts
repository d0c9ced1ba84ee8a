/**
 * `threadserve run <app>`: imports an application module, serves its (default or named)
 * export, prints the routes and replicas once ready, and drains on SIGINT/SIGTERM.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { isBound } from '../shared/deployment.ts';
import { DASHBOARD_ACCESS } from './dashboard/plugin.ts';
import { run } from './serve.ts';
import { VERSION } from './version.ts';
import { LOG_LEVELS, isPretty } from './logger.ts';
import type { LogFormat, LogLevel } from './logger.ts';

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError(`must be an integer port from 0 to 65535, got "${value}"`);
  return n;
}

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
    `${file} was loaded as CommonJS, and threadserve is an ES module. Add "type": "module" to your ` +
      `package.json, or name the file with .mts. (${detail})`,
  );
}

function parseBytes(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`must be a positive integer of bytes, got "${value}"`);
  return n;
}

interface RunOptions {
  host: string;
  port?: number;
  grpcPort?: number;
  /** false with --no-grpc. */
  grpc: boolean;
  grpcMaxMessageBytes?: number;
  export: string;
  logLevel: string;
  logFormat: string;
  accessLog: boolean;
  route?: string;
  dashboard: string;
}

function parseChoice(choices: readonly string[]) {
  return (value: string): string => {
    if (!choices.includes(value)) throw new InvalidArgumentError(`must be one of ${choices.join(', ')}, got "${value}"`);
    return value;
  };
}

async function runCommand(file: string, opts: RunOptions) {
  const path = resolve(file);
  if (!existsSync(path)) throw new Error(`application file not found: ${file}`);
  const mod = (await import(pathToFileURL(path).href).catch((err: Error) => {
    throw explainImportError(err, file);
  })) as Record<string, unknown>;
  const app = mod[opts.export];
  if (app === undefined) {
    const names = Object.keys(mod).filter((k) => isBound(mod[k]));
    throw new Error(`${file} has no export "${opts.export}"${names.length ? `; bound deployments exported: ${names.join(', ')}` : ''}`);
  }
  if (!isBound(app)) throw new Error(`export "${opts.export}" of ${file} is not a bound deployment: export Ingress.bind(...)`);
  const instance = await run(app, {
    host: opts.host,
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.route !== undefined ? { route: opts.route } : {}),
    ...(!opts.grpc ? { grpcPort: false as const } : opts.grpcPort !== undefined ? { grpcPort: opts.grpcPort } : {}),
    ...(opts.grpcMaxMessageBytes !== undefined ? { grpcMaxMessageBytes: opts.grpcMaxMessageBytes } : {}),
    logLevel: opts.logLevel as LogLevel,
    logFormat: opts.logFormat as LogFormat,
    accessLog: opts.accessLog,
    dashboard: opts.dashboard as never,
  });
  const log = instance.logger;
  // Start-up output in the logs' own format: a table for a person, one JSON line for a collector.
  if (isPretty(opts.logFormat as LogFormat)) {
    const grpc = instance.grpcAddress === undefined ? '' : ` (gRPC: ${instance.grpcAddress})`;
    process.stdout.write(`threadserve is serving at ${instance.url}${grpc}\n\n${instance.statusText()}\n`);
  } else {
    log.info({ ...instance.status(), grpc: instance.grpcAddress }, 'threadserve is serving');
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

export async function main(argv: string[]): Promise<void> {
  const program = new Command('threadserve')
    .description('Serve TypeScript deployments as worker-thread actor pools')
    .version(VERSION, '-V, --version', 'print the threadserve version')
    .showHelpAfterError();
  program
    .command('run')
    .description('serve an application module')
    .argument('<app>', 'module whose export is a bound ingress deployment')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (default: $PORT or 8000)', parsePort)
    .option('--grpc-port <port>', 'gRPC port (Open Inference Protocol; default: 8001, or 0 when --port is 0)', parsePort)
    .option('--no-grpc', 'serve no gRPC')
    .option('--grpc-max-message-bytes <bytes>', 'largest gRPC message in or out (default: 4194304)', parseBytes)
    .option('--export <name>', 'export to serve', 'default')
    .option('--route <prefix>', 'route prefix, overriding the ingress deployment\'s route')
    .option('--log-level <level>', LOG_LEVELS.join(', '), parseChoice(LOG_LEVELS), 'info')
    .option('--log-format <format>', 'auto (pretty on a terminal, JSON lines otherwise), json or pretty', parseChoice(['auto', 'json', 'pretty']), 'auto')
    .option('--no-access-log', 'no log line per HTTP request (5xx answers are still logged)')
    .addOption(new Option('--dashboard <access>', 'who may open /-/dashboard: loopback clients, everyone, or nobody').choices(DASHBOARD_ACCESS).default('local'))
    .action(runCommand);
  await program.parseAsync(argv);
}

main(process.argv).catch((err: Error) => {
  process.stderr.write(`threadserve: ${err.message}\n`);
  process.exit(1);
});
