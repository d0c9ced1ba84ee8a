/**
 * Part 3: what a replica thread costs in memory against a bare worker thread, as RSS slopes
 * (MB per thread from 1 to 9 threads, median of `rounds` pairs of fresh processes), measured by
 * bench/memory/replica-memory.ts in child processes of its own.
 */
import type { measureReplicaMemory } from './replica-memory.ts';
import { fmtNum, fmtRatio, mdTable, targetsTable } from '../lib/stats.ts';
import type { Target } from '../lib/stats.ts';

export type MemoryResult = Awaited<ReturnType<typeof measureReplicaMemory>>;

export async function runMemory(opts: { rounds?: number } = {}): Promise<MemoryResult> {
  process.stderr.write('memory: replica and bare worker RSS slopes\n');
  // Imported here, not at the top: that module is also a deployment and loads threadserve,
  // which the orchestrating process does not need for the other parts.
  const { measureReplicaMemory: measure } = await import('./replica-memory.ts');
  const r = await measure({ rounds: opts.rounds });
  const sane = (mb: number) => Number.isFinite(mb) && mb > 0;
  if (!sane(r.bareWorkerMb) || !sane(r.replicaMb)) {
    throw new Error(`memory: implausible RSS slopes ${JSON.stringify(r)} (MB per thread must be > 0)`);
  }
  return r;
}

export function memoryTargets(r: MemoryResult): Target[] {
  return [{ name: 'replica RSS slope / bare worker RSS slope', value: r.replicaMb / r.bareWorkerMb, target: 2, kind: 'max', format: fmtRatio }];
}

export function formatMemory(r: MemoryResult): string {
  return [
    '### 3. Memory per thread (RSS slope, MB per extra thread)',
    '',
    mdTable(
      ['thread', 'MB per thread'],
      [
        ['bare worker thread (`new Worker`, plain JavaScript)', fmtNum(r.bareWorkerMb)],
        ['threadserve replica of a trivial class (`serve.run`, from source)', fmtNum(r.replicaMb)],
      ],
    ),
    '',
    targetsTable(memoryTargets(r)),
  ].join('\n');
}
