/** bench:ocr's tables: the best round per case, every round, and the targets with their verdicts. */
import { fmtNum, fmtPct, fmtRatio, mdTable, verdict } from '../lib/stats.ts';
import type { Target } from '../lib/stats.ts';
import type { Args, CaseKey } from './cases.ts';
import type { Manifest } from './images.ts';
import type { CaseResult } from './measure.ts';

const mb = (mib: number) => fmtNum(mib, 0);

/** Every round of every case that ran, and the round each case is reported by. */
export type Rounds = Map<CaseKey, CaseResult[]>;

/** The round with the most images/s: the one other work on the machine disturbed least. */
export function best(rounds: Rounds, key: CaseKey): CaseResult | undefined {
  return rounds.get(key)?.reduce((a, b) => (b.load.imagesPerS > a.load.imagesPerS ? b : a));
}

const cpuPerImage = (r: CaseResult) => r.cpuMs / r.load.images;

/** Cores other processes kept busy during a round's window (beyond the measured process and the load generator). */
function otherCores(r: CaseResult, args: Args): number {
  return (r.machineMs - r.cpuMs - r.load.clientCpuMs) / (args.durationS * 1000);
}

/** Past this, other work on the 2-core machine took enough CPU to distort a round. */
export const DISTURBED_CORES = 0.25;

export function resultsTable(rounds: Rounds, args: Args): string {
  const rows: string[][] = [];
  for (const [key, all] of rounds) {
    const r = best(rounds, key)!;
    const ref = r.case.rawRef ? best(rounds, r.case.rawRef) : undefined;
    const wrong = all.reduce((n, x) => n + x.load.mismatches + x.load.non2xx + x.load.errors, 0);
    const answers = all.reduce((n, x) => n + x.load.answers + x.load.non2xx + x.load.errors, 0);
    rows.push([
      r.case.label,
      r.case.copies,
      r.case.modelThreads,
      String(r.case.jsThreads),
      `${fmtNum(r.load.imagesPerS, 2)}${otherCores(r, args) > DISTURBED_CORES ? ' (!)' : ''}`,
      ref ? `${fmtPct(r.load.imagesPerS / ref.load.imagesPerS)} of ${ref.case.key}` : '',
      fmtNum(r.load.latencyMs.p50, 0),
      fmtNum(r.load.latencyMs.p99, 0),
      fmtNum(cpuPerImage(r), 0),
      r.case.served ? mb(r.idleRssMb) : '',
      mb(r.peakRssMb),
      `${wrong} / ${answers}`,
    ]);
  }
  return mdTable(
    [
      'case',
      'model copies',
      'model threads',
      'JS threads',
      'images/s',
      'vs raw',
      'p50 ms',
      'p99 ms',
      'CPU ms/image',
      'RSS idle MB',
      'RSS peak MB',
      'wrong / answers',
    ],
    rows,
  );
}

export function detailsTable(rounds: Rounds, args: Args): string {
  const windowMs = args.durationS * 1000;
  const rows: string[][] = [];
  for (const all of rounds.values()) {
    all.forEach((r, i) => {
      rows.push([
        r.case.label,
        String(i + 1),
        fmtNum(r.load.imagesPerS, 2),
        String(r.load.images),
        fmtNum(cpuPerImage(r), 0),
        r.case.served ? fmtNum(r.mainMs / r.load.images, 1) : '',
        fmtNum(r.cpuMs / windowMs, 2),
        fmtNum(otherCores(r, args), 2),
        String(r.osThreads),
        mb(r.hwmMb),
        r.case.served ? fmtNum(r.load.clientCpuMs / r.load.images, 1) : '',
        r.load.firstProblem ?? '',
      ]);
    });
  }
  return mdTable(
    [
      'case',
      'round',
      'images/s',
      'images in window',
      'CPU ms/image',
      'main thread CPU ms/image',
      'process CPU (cores)',
      'other processes CPU (cores)',
      'OS threads',
      'VmHWM MB',
      'loadgen CPU ms/image',
      'first problem',
    ],
    rows,
  );
}

interface CaseTarget extends Target {
  cases: CaseKey[];
}

function targets(rounds: Rounds): CaseTarget[] {
  const ips = (k: CaseKey) => best(rounds, k)?.load.imagesPerS ?? Number.NaN;
  const cpu = (k: CaseKey) => {
    const r = best(rounds, k);
    return r ? cpuPerImage(r) : Number.NaN;
  };
  const peak = (k: CaseKey) => best(rounds, k)?.peakRssMb ?? Number.NaN;
  /** Separated against grouped: images/s at least, peak RSS at most, grouped's. */
  const faster = (name: string, sep: CaseKey, grouped: CaseKey): CaseTarget => ({
    name: `${name} / ${grouped === 'grouped1' ? 'grouped N=1' : 'grouped N=2'} images/s`,
    cases: [sep, grouped],
    value: ips(sep) / ips(grouped),
    target: 1,
    kind: 'min',
    format: fmtRatio,
  });
  const leaner = (name: string, sep: CaseKey): CaseTarget => ({
    name: `${name} / grouped N=2 peak RSS`,
    cases: [sep, 'grouped2'],
    value: peak(sep) / peak('grouped2'),
    target: 1,
    kind: 'max',
    format: fmtRatio,
  });
  /** Serving against the raw pipeline on as many model threads: at most 10% fewer images/s, 10% more CPU. */
  const servingCost = (n: 1 | 2): CaseTarget[] => {
    const [g, r] = n === 1 ? (['grouped1', 'raw1'] as const) : (['grouped2', 'raw2'] as const);
    const what = `grouped N=${n} / raw ${n} thread${n === 1 ? '' : 's'}`;
    return [
      { name: `serving cost: 1 - ${what} (images/s)`, cases: [g, r], value: 1 - ips(g) / ips(r), target: 0.1, kind: 'max', format: fmtPct },
      { name: `serving CPU: ${what} - 1 (CPU ms/image)`, cases: [g, r], value: cpu(g) / cpu(r) - 1, target: 0.1, kind: 'max', format: fmtPct },
    ];
  };
  const npmStart = "separated as npm start's app (pre/post in the ingress, 2 rec replicas)";
  const out: CaseTarget[] = [
    ...servingCost(1),
    ...servingCost(2),
    faster(npmStart, 'sepIngress', 'grouped2'),
    leaner(npmStart, 'sepIngress'),
    faster('separated N=1', 'sep1', 'grouped1'),
    faster('separated N=2', 'sep2', 'grouped2'),
    faster('separated N=1, 2 rec replicas', 'sep1recx2', 'grouped2'),
    faster('separated N=2, rec 2 intra-op', 'sep2rec2', 'grouped2'),
    leaner('separated N=1', 'sep1'),
    leaner('separated N=1, 2 rec replicas', 'sep1recx2'),
    leaner('separated N=2', 'sep2'),
  ];
  return out.filter((t) => Number.isFinite(t.value));
}

/** stats.ts's verdicts, plus how much other work ran during the rounds each ratio comes from. */
export function targetsReport(rounds: Rounds, args: Args): string {
  return mdTable(
    ['ratio', 'measured', 'target', 'verdict', 'other processes (cores)'],
    targets(rounds).map((t) => {
      const other = Math.max(...t.cases.map((k) => otherCores(best(rounds, k)!, args)));
      return [
        t.name,
        t.format(t.value),
        `${t.kind === 'max' ? '<=' : '>='} ${t.format(t.target)}`,
        other > DISTURBED_CORES ? `${verdict(t)}, but disturbed` : verdict(t),
        fmtNum(other, 2),
      ];
    }),
  );
}

export function accuracy(manifest: Manifest): string {
  const exact = manifest.images.filter((e) => e.rendered.join('\n') === e.expected.join('\n')).length;
  const misread = manifest.images
    .filter((e) => e.rendered.join('\n') !== e.expected.join('\n'))
    .map((e) => `  - ${e.file}: rendered ${JSON.stringify(e.rendered)}, raw read ${JSON.stringify(e.expected)}`);
  return [
    `- the raw pipeline reads ${exact}/${manifest.images.length} images exactly as rendered (served answers are checked against what it reads, not against the rendered text)`,
    ...misread,
  ].join('\n');
}
