/**
 * Part 4 (`npm run bench -- transport`): the shared-memory ring (bench/transport/shared-ring.ts) against
 * a MessageChannel, between two plain worker threads in one process, carrying the runtime's
 * call and answer shapes. Each case runs in a fresh process (bench/transport/case.ts), in
 * interleaved rounds; the table keeps each case's best round, metric by metric. CPU is the
 * whole process's (both threads, and V8's helpers) per round trip.
 */
import { runJson } from '../lib/proc.ts';
import { fmtInt, fmtNum, mdTable } from '../lib/stats.ts';
import type { TransportKind, TransportRun } from './worker.ts';

const CASES: Array<{ kind: TransportKind; label: string }> = [
  { kind: 'port', label: 'MessageChannel, one postMessage per message' },
  { kind: 'batched', label: "MessageChannel, one postMessage per turn (the runtime's PortWriter)" },
  { kind: 'ring', label: 'SharedArrayBuffer ring, msgpackr, one frame per message' },
  { kind: 'ring-batched', label: 'SharedArrayBuffer ring, msgpackr, one frame per turn' },
];

export const TRANSPORT_ROUNDS = 3;

export type TransportResults = Partial<Record<TransportKind, TransportRun[]>>;

export async function runTransport(opts: { rounds?: number } = {}): Promise<TransportResults> {
  const results: TransportResults = {};
  const rounds = opts.rounds ?? TRANSPORT_ROUNDS;
  for (let round = 1; round <= rounds; round++) {
    for (const c of CASES) {
      process.stderr.write(`transport round ${round}/${rounds}: ${c.kind}\n`);
      (results[c.kind] ??= []).push(await runJson<TransportRun>('transport/case.ts', [c.kind]));
    }
  }
  return results;
}

export function formatTransport(r: TransportResults): string {
  const rows = CASES.filter((c) => r[c.kind]?.length).map((c) => {
    const runs = r[c.kind]!;
    const min = (f: (x: TransportRun) => number) => Math.min(...runs.map(f));
    return [
      c.label,
      fmtNum(min((x) => x.seq.p50)),
      fmtNum(min((x) => x.seq.p99)),
      fmtNum(min((x) => x.seqCpuUs)),
      fmtInt(Math.max(...runs.map((x) => x.pipelinedPerS))),
      fmtNum(
        min((x) => x.pipeCpuUs),
        2,
      ),
      runs.map((x) => `${fmtNum(x.seq.p50, 0)}/${fmtNum(x.pipeCpuUs, 1)}`).join(' '),
    ];
  });
  const n = Math.max(0, ...Object.values(r).map((x) => x.length));
  return [
    `### 4. Transport between two threads (call + answer of the HTTP bench's body; best of ${n} rounds)`,
    '',
    mdTable(
      [
        'transport',
        'seq p50 µs',
        'seq p99 µs',
        'seq CPU µs/round trip',
        'pipelined round trips/s',
        'pipelined CPU µs/round trip',
        'per round: p50 / pipelined CPU',
      ],
      rows,
    ),
  ].join('\n');
}
