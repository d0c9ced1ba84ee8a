/**
 * Child processes for the bench. Every measured thing runs in a process of its own: a core
 * case, a server, the load generator. So no measurement shares an event loop (or a JIT
 * warm-up, or leftover threads) with another, and a server can be profiled on its own.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HOOKS = fileURLToPath(new URL('../runtime/source-hooks.mjs', import.meta.url));

export interface ChildOptions {
  /** Write a V8 CPU profile of the child (and of its worker threads) into this directory. */
  profDir?: string;
}

/** `node --import <tsx hooks> [--cpu-prof ...] bench/<script> ...args`. */
function nodeArgs(script: string, args: string[], opts: ChildOptions): string[] {
  const flags = ['--import', HOOKS];
  if (opts.profDir) flags.push('--cpu-prof', `--cpu-prof-dir=${opts.profDir}`);
  return [...flags, fileURLToPath(new URL(script, import.meta.url)), ...args];
}

function spawnNode(script: string, args: string[], opts: ChildOptions): ChildProcess {
  return spawn(process.execPath, nodeArgs(script, args, opts), {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return once(child, 'exit').then(([code]) => code as number | null);
}

/** Runs a bench script to completion; the last line it prints is its JSON result. */
export async function runJson<T>(script: string, args: string[], opts: ChildOptions = {}): Promise<T> {
  const child = spawnNode(script, args, opts);
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
 * CPU seconds (user + system, all threads) a process has used so far, from /proc; NaN where
 * there is no /proc. Unlike throughput, CPU per request hardly changes when other work on the
 * machine takes cores away, so it is the steadier figure on a shared machine.
 */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}
/** sysconf(_SC_CLK_TCK): 100 on every Linux that Node supports. */
const CLOCK_TICKS = 100;

export interface Server {
  url: string;
  pid: number;
  /** SIGTERM, so the server closes cleanly (and writes its CPU profile); SIGKILL after 15 s. */
  stop(): Promise<void>;
}

/** Starts a server script and waits for its `LISTENING <url>` line. */
export async function startServer(script: string, args: string[], opts: ChildOptions = {}): Promise<Server> {
  const child = spawnNode(script, args, opts);
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench/${script} did not listen within 60 s`)), 60_000);
    lines.on('line', (line) => {
      const m = /^LISTENING (\S+)/.exec(line);
      if (!m) return;
      clearTimeout(timer);
      resolve(m[1]!);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bench/${script} ${args.join(' ')} exited with code ${code} before listening`));
    });
  });
  return {
    url,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited(child);
      clearTimeout(timer);
    },
  };
}
