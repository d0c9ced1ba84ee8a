/**
 * Part 2's load generator, in a process of its own (never the server's event loop):
 *   loadgen.ts <url> <connections> <warmupS> <durationS> <json body>
 * Runs autocannon programmatically, POSTing the body and expecting it back byte for byte
 * (a 2xx answer with another body counts as a mismatch): an optional warm-up run (warmupS > 0),
 * then the measured run. (bench/http/run.ts warms up with a separate invocation instead, so it can
 * read the server's CPU time between the two.)
 * autocannon's own latency histogram has 1 ms resolution, too coarse for sub-millisecond
 * answers, so latencies are taken from its per-response event (a float in ms) instead.
 * Prints one JSON line.
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { summarize } from '../stats.ts';
import type { LatencySummary } from '../stats.ts';

interface AutocannonResult {
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { average: number; total: number };
}
interface Tracker {
  on(event: 'response', fn: (client: unknown, status: number, bytes: number, ms: number) => void): void;
  /** Emitted right after 'response', for the same answer, when its body is not `expectBody`. */
  on(event: 'reqMismatch', fn: () => void): void;
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
  /** 2xx answers whose body was not the one sent: the echo went wrong. */
  wrongBodies: number;
  errors: number;
  timeouts: number;
  /** autocannon's own figure (mean of its per-second samples), as a cross-check. */
  autocannonAvgRps: number;
}

function run(url: string, connections: number, durationS: number, body: string, record: number[] | undefined) {
  return new Promise<{ res: AutocannonResult; elapsedS: number; ok: number; wrong: number }>((resolve, reject) => {
    let ok = 0;
    let wrong = 0;
    let last2xx = false;
    const t0 = performance.now();
    const tracker = autocannon(
      {
        url,
        connections,
        duration: durationS,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        expectBody: body,
      },
      (err, res) => (err ? reject(err) : resolve({ res, elapsedS: (performance.now() - t0) / 1000, ok, wrong })),
    );
    tracker.on('response', (_client, status, _bytes, ms) => {
      last2xx = status >= 200 && status < 300;
      if (!last2xx) return;
      ok++;
      record?.push(ms);
    });
    // A non-2xx answer has another body too; only a 2xx one with the wrong body is a wrong echo.
    tracker.on('reqMismatch', () => {
      if (last2xx) wrong++;
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
  const { res, elapsedS, ok, wrong } = await run(url, connections, durationS, body, latencies);
  const result: LoadResult = {
    connections,
    durationS,
    requests: ok,
    rps: ok / elapsedS,
    latencyMs: summarize(latencies),
    non2xx: res.non2xx,
    wrongBodies: wrong,
    errors: res.errors,
    timeouts: res.timeouts,
    autocannonAvgRps: res.requests.average,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
