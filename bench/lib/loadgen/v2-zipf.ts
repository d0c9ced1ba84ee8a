/**
 * Closed-loop HTTP load for bench/multiplex/run.ts, in a process of its own:
 *   lib/loadgen/v2-zipf.ts '<json LoadSpec>'
 * `concurrency` keep-alive connections, each sending its next request as soon as the last one
 * is answered. Requests are V2 infer calls, POST <pathPrefix><id>/infer with one feature row;
 * the id is fixed, or drawn per request from a Zipf(s) distribution over `ids` (rank 1 = the
 * first id), from a seeded PRNG so both runs see the same sequence.
 *
 * A raw HTTP/1.1 client on net sockets (requests pre-built as bytes, answers framed by
 * Content-Length): on a 2-core machine that shares its cores with the server, Node's http
 * client would cost the server a good part of a core.
 *
 * With `flag`, each answer's `cache_hit` output (bench/multiplex/deployments.ts) splits the
 * latencies into warm and cold. Prints one JSON line.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { summarize } from '../stats.ts';
import { zipfSampler } from '../zipf.ts';
import type { LatencySummary } from '../stats.ts';
import { mulberry32 } from '../../../examples/forecast/model-builder.ts';

export interface LoadSpec {
  url: string;
  concurrency: number;
  warmupS: number;
  durationS: number;
  /** Model ids; a single id means every request goes to it. */
  ids: string[];
  /** Zipf exponent over `ids` (ignored for one id). */
  zipfS?: number;
  /** Parse `cache_hit` from each answer. */
  flag?: boolean;
  seed?: number;
}

export interface LoadResult {
  concurrency: number;
  durationS: number;
  requests: number;
  rps: number;
  latencyMs: LatencySummary;
  warmMs?: LatencySummary;
  coldMs?: LatencySummary;
  /** Distinct ids requested in the measured window. */
  distinctIds: number;
  non2xx: number;
  errors: number;
  firstError?: string;
  /** The measured span, µs of CLOCK_MONOTONIC (the clock of V8 CPU profiles). */
  window: { fromUs: number; toUs: number };
}

const ROW = [1.05, 0.98, 1.02, 0.95, 1.1, 0.97, 1.01, 0.92, 0.12, 0.99, 0];
const BODY = JSON.stringify({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 11], data: ROW }] });

interface Pending {
  start: number;
  index: number;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as LoadSpec;
  const u = new URL(spec.url);
  const host = u.hostname;
  const port = Number(u.port);
  const requests = spec.ids.map((id) =>
    Buffer.from(
      `POST /v2/models/${id}/infer HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(BODY)}\r\n\r\n${BODY}`,
    ),
  );
  const random = mulberry32(spec.seed ?? 42);
  const next = spec.ids.length === 1 ? () => 0 : zipfSampler(spec.ids.length, spec.zipfS ?? 1.1, random);

  const all: number[] = [];
  const warm: number[] = [];
  const cold: number[] = [];
  const seen = new Set<number>();
  let non2xx = 0;
  let errors = 0;
  let firstError: string | undefined;

  const t0 = performance.now();
  const monotonic0 = Number(process.hrtime.bigint() / 1000n);
  const measureFrom = t0 + spec.warmupS * 1000;
  const end = measureFrom + spec.durationS * 1000;

  const runConnection = (): Promise<void> =>
    new Promise((resolve) => {
      const socket: Socket = connect({ host, port });
      socket.setNoDelay(true);
      let buf: Buffer = Buffer.alloc(0);
      let pending: Pending | undefined;
      const send = () => {
        const now = performance.now();
        if (now >= end) {
          socket.end();
          resolve();
          return;
        }
        const index = next();
        pending = { start: now, index };
        socket.write(requests[index]!);
      };
      const fail = (why: string) => {
        errors++;
        firstError ??= why;
        socket.destroy();
        resolve();
      };
      socket.on('connect', send);
      socket.on('error', (err) => fail(err.message));
      socket.on('data', (chunk: Buffer) => {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        for (;;) {
          const headEnd = buf.indexOf('\r\n\r\n');
          if (headEnd < 0) return;
          const head = buf.toString('latin1', 0, headEnd);
          const lengthMatch = /\r\ncontent-length:\s*(\d+)/i.exec(head);
          if (!lengthMatch) return fail(`answer without content-length: ${head.slice(0, 120)}`);
          const total = headEnd + 4 + Number(lengthMatch[1]);
          if (buf.length < total) return;
          const status = Number(head.slice(9, 12));
          const body = buf.subarray(headEnd + 4, total);
          buf = buf.subarray(total);
          const done = performance.now();
          const p = pending!;
          pending = undefined;
          if (p.start >= measureFrom && done <= end) {
            if (status >= 200 && status < 300) {
              const ms = done - p.start;
              all.push(ms);
              seen.add(p.index);
              if (spec.flag) {
                const outputs = (JSON.parse(body.toString('utf8')) as { outputs: Array<{ name: string; data: number[] }> }).outputs;
                const hit = outputs.find((o) => o.name === 'cache_hit')?.data[0];
                (hit === 1 ? warm : cold).push(ms);
              }
            } else {
              non2xx++;
              firstError ??= `HTTP ${status}: ${body.toString('utf8').slice(0, 200)}`;
            }
          }
          send();
        }
      });
    });

  await Promise.all(Array.from({ length: spec.concurrency }, runConnection));
  const result: LoadResult = {
    concurrency: spec.concurrency,
    durationS: spec.durationS,
    requests: all.length,
    rps: all.length / spec.durationS,
    latencyMs: summarize(all),
    ...(spec.flag ? { warmMs: summarize(warm), coldMs: summarize(cold) } : {}),
    distinctIds: seen.size,
    non2xx,
    errors,
    ...(firstError ? { firstError } : {}),
    window: { fromUs: monotonic0 + spec.warmupS * 1e6, toUs: monotonic0 + (spec.warmupS + spec.durationS) * 1e6 },
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
