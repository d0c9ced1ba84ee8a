/**
 * The `threadserve` command line: `run` (an application module or a config file), `build`
 * (a config file from an application). The commands live in cli-*.ts.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { buildCommand, runCommand } from './cli-run.ts';
import { deployCommand, statusCommand } from './cli-admin.ts';
import { DASHBOARD_ACCESS } from './dashboard/plugin.ts';
import { VERSION } from './version.ts';
import { LOG_FORMATS, LOG_LEVELS } from './logger.ts';

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError(`must be an integer port from 0 to 65535, got "${value}"`);
  return n;
}

function parsePositiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`must be a positive integer, got "${value}"`);
  return n;
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`must be a positive number, got "${value}"`);
  return n;
}

function parseNonNegative(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`must be a non-negative number, got "${value}"`);
  return n;
}

function parseChoice(choices: readonly string[]) {
  return (value: string): string => {
    if (!choices.includes(value)) throw new InvalidArgumentError(`must be one of ${choices.join(', ')}, got "${value}"`);
    return value;
  };
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command('threadserve')
    .description('Serve TypeScript deployments as worker-thread actor pools')
    .version(VERSION, '-V, --version', 'print the threadserve version')
    .showHelpAfterError();
  program
    .command('run')
    .description('serve an application module, or the applications of a config file (.yaml)')
    .argument('<app>', 'module whose export is a bound ingress deployment, or a config file')
    .option('--host <host>', "address to listen on (default: the config file's, or 127.0.0.1)")
    .option('--port <port>', "port to listen on (default: the config file's, $PORT or 8000)", parsePort)
    .option('--grpc-port <port>', 'gRPC port (Open Inference Protocol; default: 8001, or 0 when --port is 0)', parsePort)
    .option('--no-grpc', 'serve no gRPC')
    .option('--grpc-max-message-bytes <bytes>', 'largest gRPC message in or out (default: 4194304)', parsePositiveInteger)
    .option('--export <name>', 'export to serve', 'default')
    .option('--route <prefix>', "route prefix, overriding the ingress deployment's route")
    .option('--log-level <level>', `${LOG_LEVELS.join(', ')} (default: the config file's, or info)`, parseChoice(LOG_LEVELS))
    .option('--log-format <format>', 'auto (pretty on a terminal, JSON lines otherwise), json or pretty', parseChoice(LOG_FORMATS), 'auto')
    .option('--no-access-log', 'no log line per HTTP request (5xx answers are still logged)')
    .option('--body-timeout-s <seconds>', "time a client has to send a request's headers and body (default: 30)", parsePositive)
    .option('--memory-budget-mb <MiB>', 'memory requests in flight may make the server allocate: decoded pixels, tensors (default: 512)', parsePositive)
    .option('--memory-wait-s <seconds>', 'how long a request waits for room in the memory budget before 503 (default: 5)', parseNonNegative)
    .option('--max-replica-threads <n>', 'most replica threads at once (default: twice the cores)', parsePositiveInteger)
    .option('--admin-port <port>', 'admin API port for status and deploy (default 8265; 0: any free port)', parsePort)
    .option('--admin-host <host>', 'admin API address (default 127.0.0.1; any other needs a token)')
    .option('--admin-token <token>', 'token the admin API requires (default: $THREADSERVE_ADMIN_TOKEN)')
    .addOption(
      new Option('--dashboard <access>', 'who may open /-/dashboard: loopback clients, everyone, or nobody').choices(DASHBOARD_ACCESS).default('local'),
    )
    .action(runCommand);
  program
    .command('status')
    .description("print a running server's applications, deployments, replicas and autoscaling decisions")
    .option('--address <url>', 'the admin API', 'http://127.0.0.1:8265')
    .option('--token <token>', 'admin token (default: $THREADSERVE_ADMIN_TOKEN)')
    .option('--json', 'print the status as JSON')
    .action(statusCommand);
  program
    .command('deploy')
    .description('apply a config file to a running server: replica counts, user_config and autoscaling live; new code rolls replicas')
    .argument('<config>', 'config file (.yaml)')
    .option('--address <url>', 'the admin API', 'http://127.0.0.1:8265')
    .option('--token <token>', 'admin token (default: $THREADSERVE_ADMIN_TOKEN)')
    .action(deployCommand);
  program
    .command('build')
    .description('print the config file of an application with every option and its value')
    .argument('<app>', 'module whose export is a bound ingress deployment')
    .option('--export <name>', 'export to build', 'default')
    .option('--name <name>', 'application name', 'default')
    .option('-o, --output <file>', 'write the config to this file (import_path relative to it) instead of printing it')
    .action(buildCommand);
  await program.parseAsync(argv);
}

main(process.argv).catch((err: Error) => {
  process.stderr.write(`threadserve: ${err.message}\n`);
  process.exit(1);
});
