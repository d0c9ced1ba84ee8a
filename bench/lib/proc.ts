/**
 * Child processes for every bench. Every measured thing runs in a process of its own: a core
 * case, a server, the load generator. So no measurement shares an event loop (or a JIT
 * warm-up, or leftover threads) with another, and a server can be profiled on its own.
 * Scripts are named by their path under bench/ ('core/case.ts', 'lib/loadgen/http.ts').
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The checkout's root: children run there, as `npm run` scripts do. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The tsx hooks that let a child run TypeScript sources. */
export const HOOKS = fileURLToPath(new URL('../../runtime/source-hooks.mjs', import.meta.url));
const BENCH = new URL('../', import.meta.url);

/**
 * The glibc settings `npm start` and the examples run with (README, "The memory allocator"):
 * benches of those apps pass them so that they measure what users run.
 */
export const SERVING_ALLOCATOR_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072',
  MALLOC_TRIM_THRESHOLD_: '131072',
};

export interface ChildOptions {
  /** Added to the child's environment. */
  env?: Readonly<Record<string, string>>;
  /** Write a V8 CPU profile of the child (and of its worker threads) into this directory. */
  profDir?: string;
}

/** Children still running: killed if this process exits first (a failed case, Ctrl-C), so no server outlives the bench. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** `node --import <tsx hooks> [--cpu-prof ...] bench/<script> ...args`, stdout piped, stderr shared. */
export function spawnBench(script: string, args: string[], opts: ChildOptions = {}): ChildProcess {
  const flags = ['--import', HOOKS];
  if (opts.profDir) flags.push('--cpu-prof', `--cpu-prof-dir=${opts.profDir}`);
  const child = spawn(process.execPath, [...flags, fileURLToPath(new URL(script, BENCH)), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_ENV: 'production', ...opts.env },
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return once(child, 'exit').then(([code]) => code as number | null);
}

/** SIGTERM, so the child closes cleanly (and writes its CPU profile); SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited(child);
  clearTimeout(timer);
}

/** Runs a bench script to completion; the last line it prints is its JSON result. */
export async function runJson<T>(script: string, args: string[], opts: ChildOptions = {}): Promise<T> {
  const child = spawnBench(script, args, opts);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await exited(child);
  if (code !== 0) throw new Error(`bench/${script} ${args.join(' ')} exited with code ${code}`);
  const last = out.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new Error(`bench/${script} ${args.join(' ')} printed no JSON result: ${JSON.stringify(out.slice(-300))}`);
  }
}

/**
 * What a server prints when it is up: `LISTENING <url>`, or `READY <json>` for servers that
 * also report how their start went (the JSON object, whose `url` is absent when the server
 * drives itself instead of listening).
 */
export interface Ready {
  url?: string;
  [key: string]: unknown;
}

/** A server that printed `LISTENING <url>`. */
export type Listening = Ready & { url: string };

export interface Server<R extends Ready = Listening> {
  pid: number;
  ready: R;
  /** Spawn to ready line: process start, imports, serve.run. */
  startupMs: number;
  /** Lines the server printed after its ready line. */
  lines: string[];
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Starts a server script and waits (at most `timeoutS`) for its ready line. */
export async function startServer<R extends Ready = Listening>(
  script: string,
  args: string[],
  opts: ChildOptions & { timeoutS?: number } = {},
): Promise<Server<R>> {
  const timeoutS = opts.timeoutS ?? 60;
  const t0 = performance.now();
  const child = spawnBench(script, args, opts);
  const done = exited(child);
  const lines: string[] = [];
  const rl = createInterface({ input: child.stdout! });
  const ready = await new Promise<R>((resolve, reject) => {
    let up = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bench/${script} was not ready within ${timeoutS} s`));
    }, timeoutS * 1000);
    rl.on('line', (line) => {
      if (up) return void lines.push(line);
      const listening = /^LISTENING (\S+)/.exec(line);
      const json = line.startsWith('READY ') ? (JSON.parse(line.slice(6)) as R) : undefined;
      if (!listening && !json) return;
      up = true;
      clearTimeout(timer);
      resolve(json ?? ({ url: listening![1]! } as R));
    });
    void done.then((code) => {
      clearTimeout(timer);
      reject(new Error(`bench/${script} ${args.join(' ')} exited with code ${code} before it was ready`));
    });
  });
  return { pid: child.pid!, ready, startupMs: performance.now() - t0, lines, exited: done, stop: () => stopChild(child) };
}
