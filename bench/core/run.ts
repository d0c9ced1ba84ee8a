/**
 * Part 1: a threadserve handle call against the raw ways of reaching a worker thread, called
 * from the main thread (bench/core/case.ts: sequential latency and pipelined throughput) and
 * from inside a worker thread to another (bench/core/inner-case.ts: pipelined throughput of a
 * replica's handle calls against a raw MessageChannel between two plain workers).
 * Each case runs in a fresh process, one at a time, so they never compete for the two cores or
 * share a warmed-up JIT. Cases run in interleaved rounds (a b c d e a b c d e ...): on this
 * shared 2-vCPU VM a process's round-trip latency is bimodal (about 20 µs when its two threads
 * share a vCPU, 50-75 µs when every message has to wake the other vCPU), so one process per
 * case is not enough. The tables take each case's best round; every round is shown.
 */
import type { CoreCaseResult } from './case.ts';
import { runJson } from '../lib/proc.ts';
import type { ChildOptions } from '../lib/proc.ts';
import { fmtInt, fmtNum, fmtRatio, mdTable, targetsTable } from '../lib/stats.ts';
import type { Target } from '../lib/stats.ts';

export interface CoreCase {
  key: 'postmessage' | 'piscina' | 'handle' | 'channel' | 'replica';
  label: string;
  /** case.ts: called from the process's main thread; core/inner-case.ts: from a worker thread. */
  script: 'core/case.ts' | 'core/inner-case.ts';
}

export const CORE_CASES: CoreCase[] = [
  { key: 'postmessage', label: '(a) raw worker.postMessage echo', script: 'core/case.ts' },
  { key: 'piscina', label: '(b) piscina 5 no-op task (1 thread, 1 task/worker)', script: 'core/case.ts' },
  { key: 'handle', label: '(c) threadserve handle.noop(x), 1 replica', script: 'core/case.ts' },
  { key: 'channel', label: '(d) raw MessageChannel, plain worker -> echoing worker', script: 'core/inner-case.ts' },
  { key: 'replica', label: '(e) threadserve replica -> replica handle.noop(x)', script: 'core/inner-case.ts' },
];

export const CORE_ROUNDS = 3;

/** Every round of every case that ran. */
export type CoreResults = Partial<Record<CoreCase['key'], CoreCaseResult[]>>;

export async function runCore(opts: ChildOptions & { only?: string; rounds?: number } = {}): Promise<CoreResults> {
  const results: CoreResults = {};
  const rounds = opts.rounds ?? CORE_ROUNDS;
  for (let round = 1; round <= rounds; round++) {
    for (const c of CORE_CASES) {
      if (opts.only && !opts.only.split(',').includes(c.key)) continue;
      process.stderr.write(`core round ${round}/${rounds}: ${c.key}\n`);
      const caseOpts: ChildOptions = opts.profDir ? { profDir: `${opts.profDir}/core-${c.key}` } : {};
      const r = await runJson<CoreCaseResult>(c.script, [c.key], caseOpts);
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

const NOT_RUN: Best = { p50: Number.NaN, p99: Number.NaN, mean: Number.NaN, perS: Number.NaN };

/** Best of the rounds, metric by metric (noise from other work only ever makes things worse). */
function best(rounds: CoreCaseResult[] | undefined): Best {
  if (!rounds?.length) return NOT_RUN;
  const min = (f: (r: CoreCaseResult) => number | undefined) => Math.min(...rounds.map((r) => f(r) ?? Number.NaN));
  return {
    p50: min((r) => r.seq?.p50),
    p99: min((r) => r.seq?.p99),
    mean: min((r) => r.seq?.mean),
    perS: Math.max(...rounds.map((r) => r.pipelinedPerS)),
  };
}

export function coreTargets(r: CoreResults): Target[] {
  const b = (k: CoreCase['key']) => best(r[k]);
  return [
    { name: 'handle p50 / postMessage p50', value: b('handle').p50 / b('postmessage').p50, target: 1.5, kind: 'max', format: fmtRatio },
    { name: 'handle pipelined / piscina pipelined', value: b('handle').perS / b('piscina').perS, target: 4, kind: 'min', format: fmtRatio },
    {
      name: 'replica -> replica pipelined / raw MessageChannel pipelined',
      value: b('replica').perS / b('channel').perS,
      target: 0.5,
      kind: 'min',
      format: fmtRatio,
    },
  ];
}

const perRound = (rounds: CoreCaseResult[]) => rounds.map((x) => `${fmtNum(x.pipelinedPerS / 1000, 0)}k`).join(' / ');
/** CPU per pipelined call: the lowest round (other work on the machine only adds). */
const cpuPerCall = (rounds: CoreCaseResult[]) => fmtNum(Math.min(...rounds.map((x) => x.cpuUsPerCall ?? Number.NaN)), 2);

function ran(r: CoreResults, script: CoreCase['script']): CoreCase[] {
  return CORE_CASES.filter((c) => c.script === script && r[c.key]?.length);
}

export function formatCore(r: CoreResults): string {
  const fromMain = ran(r, 'core/case.ts').map((c) => {
    const rounds = r[c.key]!;
    const b = best(rounds);
    const p50s = rounds.map((x) => fmtNum(x.seq?.p50 ?? Number.NaN, 0)).join(' / ');
    return [c.label, fmtNum(b.p50), fmtNum(b.p99), fmtNum(b.mean), fmtInt(b.perS), cpuPerCall(rounds), p50s, perRound(rounds)];
  });
  const fromWorker = ran(r, 'core/inner-case.ts').map((c) => [c.label, fmtInt(best(r[c.key]).perS), cpuPerCall(r[c.key]!), perRound(r[c.key]!)]);
  const all = Object.values(r).flat();
  const seq = all.find((x) => x.seq)?.seq;
  const nRounds = Math.max(0, ...Object.values(r).map((x) => x.length));
  const title =
    `### 1. Handle call vs raw baselines` +
    (all.length ? ` (${seq ? `sequential: ${seq.n} calls after warm-up; ` : ''}pipelined: ${all[0]!.inflight} in flight; best of ${nRounds} rounds)` : '');
  const out = [title, ''];
  if (fromMain.length) {
    const headers = ['from the main thread', 'p50 µs', 'p99 µs', 'mean µs', 'pipelined calls/s', 'CPU µs/call', 'p50 per round', 'calls/s per round'];
    out.push(mdTable(headers, fromMain), '');
  }
  if (fromWorker.length) {
    out.push(mdTable(['from a worker thread to another', 'pipelined calls/s', 'CPU µs/call', 'calls/s per round'], fromWorker), '');
  }
  out.push(targetsTable(coreTargets(r)));
  return out.join('\n');
}
