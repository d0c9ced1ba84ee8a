/**
 * `npm run bench:grpc`: the Open Inference Protocol over gRPC against REST (JSON tensors, and
 * the binary tensor extension), for the forecast example's model (one 1x11 row, a country's
 * multiplexed model) and for a 1 MiB FP32 tensor in and out (an identity model deployment).
 * One server process; each case's load comes from a process of its own; the cases run in
 * interleaved rounds and the best round of each is kept, with the server's CPU time per answer
 * (the least of the rounds: the steadier figure on a shared machine). Prints a markdown table.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateModels } from '../../examples/forecast/generate-models.ts';
import type { GrpcLoadResult, GrpcLoadSpec, Protocol } from '../lib/loadgen/grpc.ts';
import { runJson, startServer } from '../lib/proc.ts';
import { cpuSeconds } from '../lib/procfs.ts';
import { fmtInt, fmtNum, fmtRatio, mdTable } from '../lib/stats.ts';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const DURATION_S = Number(process.env.DURATION_S ?? 5);
const PROTOCOLS: Protocol[] = ['rest-json', 'rest-binary', 'grpc'];
const PAYLOADS = [
  { payload: 'forecast' as const, concurrency: 16, label: 'forecast model (1x11 FP32)' },
  { payload: 'tensor' as const, concurrency: 4, label: '1 MiB FP32 tensor in and out' },
].filter((p) => (process.env.PAYLOAD ?? p.payload) === p.payload);
const NAMES: Record<Protocol, string> = { 'rest-json': 'REST, JSON tensors', 'rest-binary': 'REST, binary extension', grpc: 'gRPC ModelInfer, raw tensors' };

const dir = await mkdtemp(join(tmpdir(), 'threadserve-bench-grpc-'));
await generateModels(dir, 4);
const server = await startServer('grpc/server.ts', [dir]);
const [httpUrl, grpcAddress] = server.ready.url.split(',') as [string, string];
const best = new Map<string, GrpcLoadResult>();
/** Server CPU µs per answer, per case: the least of the rounds. */
const cpu = new Map<string, number>();
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const p of PAYLOADS) {
      for (const protocol of PROTOCOLS) {
        const spec: GrpcLoadSpec = { protocol, payload: p.payload, httpUrl, grpcAddress, concurrency: p.concurrency, warmupS: 1, durationS: DURATION_S };
        const cpu0 = cpuSeconds(server.pid);
        const r = await runJson<GrpcLoadResult>('lib/loadgen/grpc.ts', [JSON.stringify(spec)]);
        const cpuUs = ((cpuSeconds(server.pid) - cpu0) / r.allRequests) * 1e6;
        if (r.errors > 0) throw new Error(`${protocol} ${p.payload}: ${r.errors} errors, first: ${r.firstError}`);
        const key = `${p.payload}/${protocol}`;
        process.stderr.write(
          `round ${round + 1} ${key}: ${fmtInt(r.rps)} req/s, p50 ${fmtNum(r.latencyMs.p50, 2)} ms, ${fmtInt(cpuUs)} µs server CPU/req, ${fmtInt(r.clientCpuUs)} µs client CPU/req\n`,
        );
        if (!best.has(key) || best.get(key)!.rps < r.rps) best.set(key, r);
        if (!(cpu.get(key)! <= cpuUs)) cpu.set(key, cpuUs);
      }
    }
  }
} finally {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}

const rows: string[][] = [];
for (const p of PAYLOADS) {
  const baseline = best.get(`${p.payload}/rest-binary`)!;
  for (const protocol of PROTOCOLS) {
    const r = best.get(`${p.payload}/${protocol}`)!;
    const us = cpu.get(`${p.payload}/${protocol}`)!;
    const baseUs = cpu.get(`${p.payload}/rest-binary`)!;
    rows.push([
      p.label,
      NAMES[protocol],
      String(p.concurrency),
      fmtInt(r.rps),
      fmtNum(r.latencyMs.p50, 2),
      fmtRatio(r.rps / baseline.rps),
      fmtInt(us),
      fmtRatio(us / baseUs),
    ]);
  }
}
const headers = ['payload', 'protocol', 'clients', 'req/s', 'p50 ms', 'req/s vs REST binary', 'server CPU µs/req', 'CPU vs REST binary'];
process.stdout.write(`${mdTable(headers, rows)}\n`);
