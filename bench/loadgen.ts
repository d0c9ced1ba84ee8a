/**
 * Part 2's load generator, in a process of its own (never the server's event loop):
 *   loadgen.ts <url> <connections> <warmupS> <durationS> <json body>
 * Runs autocannon programmatically, POSTing the body: an optional warm-up run (warmupS > 0),
 * then the measured run. (bench/http.ts warms up with a separate invocation instead, so it can
 * read the server's CPU time between the two.)
 * autocannon's own latency histogram has 1 ms resolution, too coarse for sub-millisecond
 * answers, so latencies are taken from its per-response event (a float in ms) instead.
 * Prints one JSON line.
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { summarize } from './stats.ts';
import type { LatencySummary } from './stats.ts';

interface AutocannonResult {
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { average: number; total: number };
}
interface Tracker {
  on(event: 'response', fn: (client: unknown, status: number, bytes: number, ms: number) => void): void;
}
type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null, res: AutocannonResult) => void) => Tracker;

// autocannon is CommonJS without type declarations.
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export interface LoadResult {
  connections: number;
  durationS: number;
  /** 2xx answers in the measured run, and per second. */
  requests: number;
  rps: number;
  /** Latency of 2xx answers, in ms. */
  latencyMs: LatencySummary;
  /** Anything but a clean 2xx. */
  non2xx: number;
  errors: number;
  timeouts: number;
  /** autocannon's own figure (mean of its per-second samples), as a cross-check. */
  autocannonAvgRps: number;
}

function run(url: string, connections: number, durationS: number, body: string, record: number[] | undefined) {
  return new Promise<{ res: AutocannonResult; elapsedS: number; ok: number }>((resolve, reject) => {
    let ok = 0;
    const t0 = performance.now();
    const tracker = autocannon(
      {
        url,
        connections,
        duration: durationS,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      },
      (err, res) => (err ? reject(err) : resolve({ res, elapsedS: (performance.now() - t0) / 1000, ok })),
    );
    tracker.on('response', (_client, status, _bytes, ms) => {
      if (status < 200 || status >= 300) return;
      ok++;
      record?.push(ms);
    });
  });
}

async function main(): Promise<void> {
  const [url, connArg, warmArg, durArg, body] = process.argv.slice(2);
  if (!url || !body) throw new Error('usage: loadgen.ts <url> <connections> <warmupS> <durationS> <json body>');
  const connections = Number(connArg);
  const durationS = Number(durArg);
  if (Number(warmArg) > 0) await run(url, connections, Number(warmArg), body, undefined);
  const latencies: number[] = [];
  const { res, elapsedS, ok } = await run(url, connections, durationS, body, latencies);
  const result: LoadResult = {
    connections,
    durationS,
    requests: ok,
    rps: ok / elapsedS,
    latencyMs: summarize(latencies),
    non2xx: res.non2xx,
    errors: res.errors,
    timeouts: res.timeouts,
    autocannonAvgRps: res.requests.average,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
