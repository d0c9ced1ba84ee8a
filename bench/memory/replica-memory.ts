/**
 * Memory per replica thread against a bare worker thread, as RSS slopes: the RSS of a process
 * with 9 threads minus that of one with 1, over 8. Each count runs in a fresh process (a
 * process's RSS only grows, so adding threads to a warm one would flatter the slope), every
 * measurement is repeated and the median kept.
 *
 *   node --import ./runtime/source-hooks.mjs bench/memory/replica-memory.ts [source|cli] [--rounds=N]
 *
 * prints the result as JSON. `source` serves a trivial TypeScript deployment the way tests do
 * (serve.run in a process started with tsx); `cli` runs it through `node bin/threadserve.js run`.
 * This module is also that deployment: the CLI serves its default export, and each replica
 * imports it (so nothing below may run on import, or in a worker).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { deployment, serve } from 'threadserve';

class Trivial {
  call(body: unknown): unknown {
    return body;
  }
}
const app = deployment(Trivial, { numReplicas: Number(process.env.THREADSERVE_BENCH_REPLICAS ?? 1) }).bind();
export default app;

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HOOKS = fileURLToPath(new URL('../../runtime/source-hooks.mjs', import.meta.url));
const SETTLE_MS = 1500;

export type ReplicaMode = 'source' | 'cli';

/** A worker that does nothing but stay alive: what every thread costs at least. */
const BARE = `import { Worker } from 'node:worker_threads';
for (let i = 0; i < Number(process.env.THREADSERVE_BENCH_REPLICAS); i++) {
  const w = new Worker("require('node:worker_threads').parentPort.postMessage(1); setInterval(() => {}, 1000);", { eval: true, execArgv: [] });
  await new Promise((r) => w.once('message', r));
}
console.log('ready');`;

function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) / 1024;
}

/** Starts a child with `threads` threads, waits for it to be up and settled, and returns its RSS in MB. */
async function rssWith(kind: 'bare' | ReplicaMode, threads: number): Promise<number> {
  const args =
    kind === 'bare'
      ? ['--input-type=module', '-e', BARE]
      : kind === 'cli'
        ? ['bin/threadserve.js', 'run', 'bench/memory/replica-memory.ts', '--port', '0', '--log-level', 'warn']
        : ['--import', HOOKS, 'bench/memory/replica-memory.ts', '--serve'];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, THREADSERVE_BENCH_REPLICAS: String(threads) },
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  try {
    const deadline = Date.now() + 60_000;
    while (!/^ready|serving at /m.test(out)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${kind} x${threads} did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // Replicas answer some calls first: a replica's steady state includes its warmed-up code.
    const url = /serving at (\S+)/.exec(out)?.[1];
    for (let i = 0; url && i < 20 * threads; i++) {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ i }) });
      if (r.status !== 200) throw new Error(`${kind} x${threads}: HTTP ${r.status} ${await r.text()}`);
    }
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    return rssMb(child.pid!);
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exit = once(child, 'exit');
      child.kill('SIGKILL');
      await exit;
    }
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** MB of RSS per thread past the first, median over `rounds` pairs of fresh processes. */
async function slope(kind: 'bare' | ReplicaMode, rounds: number): Promise<number> {
  const slopes: number[] = [];
  for (let i = 0; i < rounds; i++) slopes.push(((await rssWith(kind, 9)) - (await rssWith(kind, 1))) / 8);
  return median(slopes);
}

/** RSS slopes of a trivial TypeScript replica (served like `mode`) and of a bare worker. Prints nothing. */
export async function measureReplicaMemory(
  opts: { mode?: ReplicaMode; rounds?: number } = {},
): Promise<{ bareWorkerMb: number; replicaMb: number; ratio: number }> {
  const rounds = opts.rounds ?? 3;
  const bareWorkerMb = await slope('bare', rounds);
  const replicaMb = await slope(opts.mode ?? 'source', rounds);
  return { bareWorkerMb, replicaMb, ratio: replicaMb / bareWorkerMb };
}

if (isMainThread && process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  if (args[0] === '--serve') {
    const instance = await serve.run(app, { port: 0, logLevel: 'warn' });
    console.log(`serving at ${instance.url}`);
  } else {
    const mode = (args.find((a) => a === 'source' || a === 'cli') ?? 'source') as ReplicaMode;
    const rounds = Number(/^--rounds=(\d+)$/.exec(args.find((a) => a.startsWith('--rounds=')) ?? '')?.[1] ?? 3);
    console.log(JSON.stringify({ mode, ...(await measureReplicaMemory({ mode, rounds })) }));
  }
}
