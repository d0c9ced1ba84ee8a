/**
 * One measured case of bench:multiplex: a server child (multiplex/server.ts) loaded by the
 * closed-loop V2 load generator, with its CPU, RSS and /metrics counters read around the
 * measured run; or the same server driving itself with handle calls. And what each model
 * costs in onnxruntime alone (multiplex/ortcost.ts), for scale.
 */
import { SERVING_ALLOCATOR_ENV, runJson, startServer } from '../lib/proc.ts';
import type { Server } from '../lib/proc.ts';
import { cpuSeconds, procStatus, sampleRss } from '../lib/procfs.ts';
import type { LoadResult, LoadSpec } from '../lib/loadgen/v2-zipf.ts';
import { fmtNum, fmtRatio, mdTable } from '../lib/stats.ts';
import { args, CLIENTS1, loadavg, mib, note, ZIPF_S } from './args.ts';
import type { OrtCost } from './ortcost.ts';
import type { Window } from './profile.ts';
import type { HandleResult, ServerConfig } from './server.ts';

/** What a server child prints once serve.run resolved (or, in handle mode, once it finished). */
interface ServerReady {
  url?: string;
  /** serve.run alone: planning, every replica thread started and initialised, listener up. */
  serveRunMs: number;
  [key: string]: unknown;
}

/**
 * Starts `bench/multiplex/server.ts <json config>` and waits for READY (at most `timeoutS`:
 * one replica per country takes a while to start).
 */
export function startServerChild(config: unknown, profDir?: string, timeoutS = 180): Promise<Server<ServerReady>> {
  return startServer<ServerReady>('multiplex/server.ts', [JSON.stringify(config)], { profDir, timeoutS, env: args.allocatorEnv ? SERVING_ALLOCATOR_ENV : {} });
}

/** Counters and histogram sums from the server's /metrics, keyed `name{labels}`. */
async function readMetrics(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+?(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

export interface HttpCase<X = undefined> {
  load: LoadResult;
  /** Server process CPU (all threads) per measured request, µs. */
  cpuUsPerReq: number;
  metrics: { before: Map<string, number>; after: Map<string, number> };
  rss: { idleMb: number; peakMb: number; endMb: number; hwmMb: number };
  startupMs: number;
  serveRunMs: number;
  extra: X;
}

/** The measured span of the last httpCase, for cutting CPU profiles down to it. */
export let lastWindow: Window | undefined;

export function resetWindow(): void {
  lastWindow = undefined;
}

function loadSpec(url: string, ids: string[], clients: number, durationS: number, flag: boolean): LoadSpec {
  return { url, concurrency: clients, warmupS: 0, durationS, ids, zipfS: ZIPF_S, flag, seed: 7 };
}

/**
 * Start a server, warm it up (a load-generator run of its own, so counters and CPU cover the
 * measured run only), measure one closed-loop run, let `after` look at the server, stop it.
 */
export async function httpCase<X = undefined>(
  config: ServerConfig,
  ids: string[],
  clients: number,
  opts: { flag?: boolean; profDir?: string; after?: (url: string) => Promise<X> } = {},
): Promise<HttpCase<X>> {
  // One replica thread per country starts in about a CPU-second each here; allow for a busy machine.
  const timeoutS = config.kind === 'naive' ? 120 + 6 * config.count : 180;
  const server = await startServerChild(config, opts.profDir, timeoutS);
  try {
    const url = server.ready.url!;
    const idleMb = procStatus(server.pid).rssMb;
    if (args.warmupS > 0) await runJson<LoadResult>('lib/loadgen/v2-zipf.ts', [JSON.stringify(loadSpec(url, ids, clients, args.warmupS, false))]);
    const before = await readMetrics(url);
    const cpu0 = cpuSeconds(server.pid);
    const sampler = sampleRss(server.pid);
    const load = await runJson<LoadResult>('lib/loadgen/v2-zipf.ts', [JSON.stringify(loadSpec(url, ids, clients, args.durationS, opts.flag ?? false))]);
    lastWindow = load.window;
    const rss = sampler.stop();
    const cpu1 = cpuSeconds(server.pid);
    const after = await readMetrics(url);
    const extra = (opts.after ? await opts.after(url) : undefined) as X;
    if (load.errors || load.non2xx) note(`${config.kind}: ${load.errors} errors, ${load.non2xx} non-2xx: ${load.firstError ?? ''}`);
    return {
      load,
      cpuUsPerReq: ((cpu1 - cpu0) * 1e6) / Math.max(1, load.requests),
      metrics: { before, after },
      rss: { idleMb, peakMb: rss.maxMb, endMb: rss.lastMb, hwmMb: procStatus(server.pid).hwmMb },
      startupMs: server.startupMs,
      serveRunMs: server.ready.serveRunMs,
      extra,
    };
  } finally {
    await server.stop();
  }
}

export async function handleCase(config: ServerConfig & { kind: 'single' }, profDir?: string): Promise<HandleResult> {
  const server = await startServerChild({ ...config, handleLoad: { concurrency: CLIENTS1, warmupS: args.warmupS, durationS: args.durationS } }, profDir);
  const code = await server.exited;
  const line = server.lines.find((l) => l.startsWith('RESULT '));
  if (code !== 0 || !line) throw new Error(`handle case exited with ${code} and no result`);
  const result = JSON.parse(line.slice(7)) as HandleResult;
  lastWindow = result.window;
  return result;
}

/** Sum of a counter over label sets that contain every `label="value"` given. */
function counter(m: Map<string, number>, name: string, ...labels: string[]): number {
  let sum = 0;
  for (const [k, v] of m) if (k.startsWith(`${name}{`) && labels.every((l) => k.includes(l))) sum += v;
  return sum;
}
export function counterDelta(c: HttpCase<unknown>, name: string, ...labels: string[]): number {
  return counter(c.metrics.after, name, ...labels) - counter(c.metrics.before, name, ...labels);
}

// ---------------------------------------------------------------- model costs

export interface ModelInfo {
  label: string;
  path: string;
  /** Weight bytes (0: the tiny model, ~1 KiB). */
  bytes: number;
}

export async function modelCosts(models: ModelInfo[]): Promise<OrtCost[]> {
  note(`onnxruntime costs of ${models.length} models (load ${loadavg()})`);
  return runJson<OrtCost[]>('multiplex/ortcost.ts', [JSON.stringify({ models: models.map(({ label, path }) => ({ label, path })), batches: [1, 32] })]);
}

export function formatCosts(costs: OrtCost[], models: ModelInfo[]): string {
  const labels = [...new Set(costs.map((c) => c.label))];
  return mdTable(
    ['model', 'weights', 'µs/row at batch 1', 'µs/row at batch 32', 'row cost ratio', 'load ms (create + 1 run + release)'],
    labels.map((label) => {
      const b1 = costs.find((c) => c.label === label && c.batch === 1)!;
      const b32 = costs.find((c) => c.label === label && c.batch === 32)!;
      const bytes = models.find((m) => m.label === label)?.bytes ?? 0;
      return [
        label,
        bytes ? mib(bytes) : '~1 KiB',
        fmtNum(b1.usPerRow, 1),
        fmtNum(b32.usPerRow, 1),
        fmtRatio(b1.usPerRow / b32.usPerRow),
        fmtNum(b1.loadMs, 2),
      ];
    }),
  );
}
