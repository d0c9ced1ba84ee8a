/**
 * Child processes and process memory for bench/multiplex.ts: a server child that reports how
 * long serve.run took, an RSS sampler over /proc/<pid>/status, and a /metrics reader.
 * (bench/proc.ts's startServer only hands back the URL; these servers also report startup.)
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HOOKS = fileURLToPath(new URL('../runtime/source-hooks.mjs', import.meta.url));

/** What a server child prints once serve.run resolved (or, in handle mode, once it finished). */
export interface ServerReady {
  url?: string;
  /** serve.run alone: planning, every replica thread started and initialised, listener up. */
  serveRunMs: number;
}

export interface ServerChild {
  pid: number;
  /** Spawn to READY line: process start, imports, serve.run. */
  startupMs: number;
  ready: ServerReady;
  /** Lines the child printed after READY (handle-mode results). */
  lines: string[];
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Server children still running: killed if this process exits first (a failed case, Ctrl-C). */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/**
 * Spawns `node --import hooks [--cpu-prof] bench/multiplex-server.ts <json config>` and waits for
 * READY (at most `timeoutS`: one replica per country takes a while to start).
 */
export async function startServerChild(config: unknown, profDir?: string, timeoutS = 180): Promise<ServerChild> {
  const flags = ['--import', HOOKS];
  if (profDir) flags.push('--cpu-prof', `--cpu-prof-dir=${profDir}`);
  const t0 = performance.now();
  const child: ChildProcess = spawn(
    process.execPath,
    [...flags, fileURLToPath(new URL('./multiplex-server.ts', import.meta.url)), JSON.stringify(config)],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_ENV: 'production' } },
  );
  live.add(child);
  const exited = once(child, 'exit').then(([code]) => {
    live.delete(child);
    return code as number | null;
  });
  const lines: string[] = [];
  const rl = createInterface({ input: child.stdout! });
  const ready = await new Promise<ServerReady>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server child not ready within ${timeoutS} s`));
    }, timeoutS * 1000);
    rl.on('line', (line) => {
      if (line.startsWith('READY ')) {
        clearTimeout(timer);
        resolve(JSON.parse(line.slice(6)) as ServerReady);
      } else lines.push(line);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server child exited with code ${code} before READY`));
    });
  });
  const startupMs = performance.now() - t0;
  return {
    pid: child.pid!,
    startupMs,
    ready,
    lines,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** VmRSS and VmHWM (peak RSS since start) of a process, in MiB; NaN when /proc is missing. */
export function readRss(pid: number): { rssMb: number; hwmMb: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
  } catch {
    return { rssMb: Number.NaN, hwmMb: Number.NaN };
  }
}

/** Samples VmRSS every `everyMs` until stopped; max and last in MiB. */
export function sampleRss(pid: number, everyMs = 100) {
  let max = Number.NaN;
  let last = Number.NaN;
  let n = 0;
  const tick = () => {
    const { rssMb } = readRss(pid);
    if (Number.isFinite(rssMb)) {
      last = rssMb;
      max = Number.isFinite(max) ? Math.max(max, rssMb) : rssMb;
      n++;
    }
  };
  tick();
  const timer = setInterval(tick, everyMs);
  return {
    stop(): { maxMb: number; lastMb: number; samples: number } {
      clearInterval(timer);
      tick();
      return { maxMb: max, lastMb: last, samples: n };
    },
  };
}

/** Counters and histogram sums from the server's /metrics, keyed `name{labels}`. */
export async function readMetrics(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+?(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** b - a for one metric key (0 when absent). */
export function metricDelta(a: Map<string, number>, b: Map<string, number>, key: string): number {
  return (b.get(key) ?? 0) - (a.get(key) ?? 0);
}
