/**
 * `npm run bench [-- <part>] [options]`: threadserve against raw baselines, printed as markdown.
 *
 *   part         all (default) | core | http | memory | transport (not in all: a spike's
 *                micro-bench, the shared-memory ring against a MessageChannel)
 *   --only=KEYS  run only these cases of the part (comma-separated): postmessage|piscina|handle|channel|replica,
 *                fastify|onehop|observed|twohop|pipeline
 *   --prof=DIR   write V8 CPU profiles of the measured processes (and their worker threads)
 *                under DIR/<part>-<case>/; summarise them with bench/profile-summary.ts
 *   --duration=S seconds of measured HTTP load per server and round (default 8)
 *   --rounds=N   interleaved rounds of every case (default 3)
 *
 * This process only orchestrates: every case, server and load generator is a child process.
 * The machine has 2 cores and may be shared: compare ratios within one run, and run twice.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { CORE_CASES, formatCore, runCore } from './core.ts';
import { HTTP_CASES, runHttp } from './http.ts';
import { formatHttp } from './http-report.ts';
import { formatMemory, runMemory } from './memory.ts';
import { formatTransport, runTransport } from './transport.ts';

const PARTS = ['all', 'core', 'http', 'memory', 'transport'] as const;

interface Args {
  part: (typeof PARTS)[number];
  only?: string;
  profDir?: string;
  durationS?: number;
  rounds?: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { part: 'all' };
  for (const a of argv) {
    const [flag, value] = a.split('=', 2) as [string, string | undefined];
    if ((PARTS as readonly string[]).includes(a)) args.part = a as Args['part'];
    else if (flag === '--only' && value && value.split(',').every((v) => [...CORE_CASES, ...HTTP_CASES].some((c) => c.key === v))) args.only = value;
    else if (flag === '--prof' && value) args.profDir = value;
    else if (flag === '--duration' && value && Number(value) > 0) args.durationS = Number(value);
    else if (flag === '--rounds' && value && Number.isInteger(Number(value)) && Number(value) > 0) args.rounds = Number(value);
    else throw new Error(`bench: unknown argument ${a}; see the top of bench/run.ts`);
  }
  return args;
}

/** Which runtime was measured: the commit, and whether runtime/ differs from it. */
function revision(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = git('status', '--porcelain', '--', 'runtime') !== '';
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' (runtime/ modified)' : ''}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

function machine(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  return [
    `- CPU: ${model}, ${cpus.length} logical cores (os.availableParallelism ${os.availableParallelism()})`,
    `- Node ${process.version} on ${os.type()} ${os.release()} (${os.arch()}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    `- load average at start: ${load}; threadserve at ${revision()}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = performance.now();
  console.log('## threadserve bench\n');
  console.log(machine());
  console.log(`- run at ${new Date().toISOString()}${args.profDir ? `, CPU profiles in ${args.profDir}` : ''}\n`);

  if (args.part === 'all' || args.part === 'core') {
    const core = await runCore({ only: args.only, profDir: args.profDir, rounds: args.rounds });
    console.log(`${formatCore(core)}\n`);
  }
  if (args.part === 'all' || args.part === 'http') {
    const http = await runHttp({ only: args.only, profDir: args.profDir, durationS: args.durationS, rounds: args.rounds });
    console.log(`${formatHttp(http)}\n`);
  }
  if (args.part === 'all' || args.part === 'memory') {
    console.log(`${formatMemory(await runMemory({ rounds: args.rounds }))}\n`);
  }
  if (args.part === 'transport') {
    console.log(`${formatTransport(await runTransport({ rounds: args.rounds }))}\n`);
  }
  console.log(`(${((performance.now() - started) / 1000).toFixed(0)} s; load average at end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
