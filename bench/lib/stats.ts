/**
 * Numbers and tables for the bench: percentiles over raw samples, number formatting, markdown
 * tables, and the "target met / missed" verdicts. No I/O here.
 */

export interface LatencySummary {
  /** Sample count. */
  n: number;
  p50: number;
  p99: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** p50, p99 and mean of samples given in any order (in whatever unit they are in). */
export function summarize(samples: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: sorted.length ? sum / sorted.length : Number.NaN,
  };
}

/** 12345.6 -> "12,346". */
export function fmtInt(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  return Math.round(x).toLocaleString('en-US');
}

/** Fixed decimals, "n/a" for NaN. */
export function fmtNum(x: number, digits = 1): string {
  return Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
}

export function fmtRatio(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}x` : 'n/a';
}

export function fmtPct(x: number): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(0)}%` : 'n/a';
}

/** A markdown table; numeric-looking columns are right-aligned. */
export function mdTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = headers.map((_, i) => i > 0 && rows.every((r) => /^[-\d.,xk%n/a ]*$/.test(r[i] ?? '')));
  const cell = (s: string, i: number) => (numeric[i] ? s.padStart(widths[i]!) : s.padEnd(widths[i]!));
  const line = (r: string[]) => `| ${r.map((s, i) => cell(s ?? '', i)).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

export interface Target {
  name: string;
  /** The measured ratio. */
  value: number;
  /** The bound the ratio must meet. */
  target: number;
  /** 'max': value <= target is good; 'min': value >= target is good. */
  kind: 'max' | 'min';
  /** How to print value and target. */
  format: (x: number) => string;
}

export function verdict(t: Target): string {
  if (!Number.isFinite(t.value)) return 'not measured';
  const met = t.kind === 'max' ? t.value <= t.target : t.value >= t.target;
  if (met) return 'met';
  // How far off, as a factor of the target (e.g. 1.8x measured vs 1.5x target -> 20% over).
  const off = t.kind === 'max' ? t.value / t.target - 1 : 1 - t.value / t.target;
  return `MISSED by ${(off * 100).toFixed(0)}%`;
}

/** Rows of "ratio | measured | target | verdict". */
export function targetsTable(targets: Target[]): string {
  return mdTable(
    ['ratio', 'measured', 'target', 'verdict'],
    targets.map((t) => [t.name, t.format(t.value), `${t.kind === 'max' ? '<=' : '>='} ${t.format(t.target)}`, verdict(t)]),
  );
}
