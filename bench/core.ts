/**
 * Part 1: a threadserve handle call against the raw ways of reaching a worker thread.
 * Each case runs in a fresh process (bench/core-case.ts), one at a time, so they never compete
 * for the two cores or share a warmed-up JIT. Cases run in interleaved rounds (a b c a b c ...):
 * on this shared 2-vCPU VM a process's round-trip latency is bimodal (about 20 µs when its two
 * threads share a vCPU, 50-75 µs when every message has to wake the other vCPU), so one
 * process per case is not enough. The table takes each case's best round; every round is shown.
 */
import type { CoreCaseResult } from './core-case.ts';
import { runJson } from './proc.ts';
import type { ChildOptions } from './proc.ts';
import { fmtInt, fmtNum, fmtRatio, mdTable, targetsTable } from './stats.ts';
import type { Target } from './stats.ts';

export interface CoreCase {
  key: 'postmessage' | 'piscina' | 'handle';
  label: string;
}

export const CORE_CASES: CoreCase[] = [
  { key: 'postmessage', label: '(a) raw worker.postMessage echo' },
  { key: 'piscina', label: '(b) piscina 5 no-op task (1 thread, 1 task/worker)' },
  { key: 'handle', label: '(c) threadserve handle.noop(x), 1 replica' },
];

export const CORE_ROUNDS = 3;

/** Every round of every case that ran. */
export type CoreResults = Partial<Record<CoreCase['key'], CoreCaseResult[]>>;

export async function runCore(opts: ChildOptions & { only?: string; rounds?: number } = {}): Promise<CoreResults> {
  const results: CoreResults = {};
  const rounds = opts.rounds ?? CORE_ROUNDS;
  for (let round = 1; round <= rounds; round++) {
    for (const c of CORE_CASES) {
      if (opts.only && opts.only !== c.key) continue;
      process.stderr.write(`core round ${round}/${rounds}: ${c.key}\n`);
      const caseOpts: ChildOptions = opts.profDir ? { profDir: `${opts.profDir}/core-${c.key}` } : {};
      const r = await runJson<CoreCaseResult>('core-case.ts', [c.key], caseOpts);
      (results[c.key] ??= []).push(r);
    }
  }
  return results;
}

interface Best {
  p50: number;
  p99: number;
  mean: number;
  perS: number;
}

/** Best of the rounds, metric by metric (noise from other work only ever makes things worse). */
function best(rounds: CoreCaseResult[] | undefined): Best | undefined {
  if (!rounds?.length) return undefined;
  return {
    p50: Math.min(...rounds.map((r) => r.seq.p50)),
    p99: Math.min(...rounds.map((r) => r.seq.p99)),
    mean: Math.min(...rounds.map((r) => r.seq.mean)),
    perS: Math.max(...rounds.map((r) => r.pipelinedPerS)),
  };
}

export function coreTargets(r: CoreResults): Target[] {
  const pm = best(r.postmessage);
  const pis = best(r.piscina);
  const h = best(r.handle);
  return [
    { name: 'handle p50 / postMessage p50', value: h && pm ? h.p50 / pm.p50 : Number.NaN, target: 1.5, kind: 'max', format: fmtRatio },
    {
      name: 'handle pipelined / piscina pipelined',
      value: h && pis ? h.perS / pis.perS : Number.NaN,
      target: 4,
      kind: 'min',
      format: fmtRatio,
    },
  ];
}

export function formatCore(r: CoreResults): string {
  const rows = CORE_CASES.filter((c) => r[c.key]?.length).map((c) => {
    const rounds = r[c.key]!;
    const b = best(rounds)!;
    return [
      c.label,
      fmtNum(b.p50),
      fmtNum(b.p99),
      fmtNum(b.mean),
      fmtInt(b.perS),
      rounds.map((x) => fmtNum(x.seq.p50, 0)).join(' / '),
      rounds.map((x) => `${fmtNum(x.pipelinedPerS / 1000, 0)}k`).join(' / '),
    ];
  });
  const any = Object.values(r)[0]?.[0];
  const title =
    `### 1. Handle call vs raw baselines` +
    (any ? ` (sequential: ${any.seq.n} calls after warm-up; pipelined: ${any.inflight} in flight; best of ${Object.values(r)[0]!.length} rounds)` : '');
  return [
    title,
    '',
    mdTable(['target', 'p50 µs', 'p99 µs', 'mean µs', 'pipelined calls/s', 'p50 per round', 'calls/s per round'], rows),
    '',
    targetsTable(coreTargets(r)),
  ].join('\n');
}
