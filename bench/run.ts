/**
 * `npm run bench [-- <part>] [options]`: threadserve against raw baselines, printed as markdown.
 *
 *   part         all (default) | core | http | memory | transport (not in all: a spike's
 *                micro-bench, the shared-memory ring against a MessageChannel)
 *   --only=KEYS  run only these cases of the part (comma-separated): postmessage|piscina|handle|channel|replica,
 *                fastify|onehop|observed|twohop|pipeline
 *   --prof=DIR   write V8 CPU profiles of the measured processes (and their worker threads)
 *                under DIR/<part>-<case>/; summarise them with bench/lib/profile-summary.ts
 *   --duration=S seconds of measured HTTP load per server and round (default 8)
 *   --rounds=N   interleaved rounds of every case (default 3)
 *
 * This process only orchestrates: every case, server and load generator is a child process.
 * The machine has 2 cores and may be shared: compare ratios within one run, and run twice.
 */
import { performance } from 'node:perf_hooks';
import { CORE_CASES, formatCore, runCore } from './core/run.ts';
import { HTTP_CASES, runHttp } from './http/run.ts';
import { formatHttp } from './http/report.ts';
import { loadavg, machine } from './lib/machine.ts';
import { formatMemory, runMemory } from './memory/run.ts';
import { formatTransport, runTransport } from './transport/run.ts';

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
  console.log(`(${((performance.now() - started) / 1000).toFixed(0)} s; load average at end: ${loadavg()})`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
