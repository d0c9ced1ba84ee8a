/**
 * Summarises V8 .cpuprofile files (from `node --cpu-prof`, or `bench/run.ts --prof=DIR`):
 *   node --import ./runtime/source-hooks.mjs bench/lib/profile-summary.ts <dir or files...> [--top=N] [--incl=TEXT] [--skip=S]
 * For each profile (one per thread: the main thread and every worker thread write their own,
 * named CPU.<date>.<time>.<pid>.<threadId>.<seq>.cpuprofile), prints the busy share, the top
 * functions by self time, self time summed per source (a package, a runtime/ file, node
 * internals, GC), and the inclusive (self + callees) time of functions whose location
 * contains TEXT (default "runtime/"), which shows what a runtime entry point costs in all.
 * --skip=S leaves out each profile's first S seconds (thread start-up: module loading, tsx).
 * Times are wall-clock samples: on a busy machine they include time the thread was runnable
 * but descheduled, so compare shares, not milliseconds, across runs.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmtNum, mdTable } from './stats.ts';

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** This checkout's root, to print this project's files relative to it. */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * A file of this checkout, relative to its root: also the copies replica threads run, which
 * the runtime compiles once into a cache under the same path (`.../replicas/<root>/x.ts.mjs`).
 */
function ourPath(url: string): string | undefined {
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const at = path.indexOf(ROOT);
  return at < 0 ? undefined : path.slice(at + ROOT.length).replace(/\.ts\.mjs$/, '.ts');
}

/** Where a function's code lives, coarse enough to add up: a package, a file of ours, node. */
function source(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native/builtin)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `npm:${pkg[1]}`;
  if (url.startsWith('node:')) return url.replace(/^node:internal\/([^/]+).*$/, 'node:internal/$1');
  return ourPath(url) ?? url;
}

function shortUrl(url: string): string {
  return ourPath(url) ?? url.replace(/^.*node_modules\//, '');
}

/** A function's identity: name and where it is (tsx output is one line per module: keep the column). */
function frameKey(f: CallFrame): { fn: string; where: string } {
  const fn = f.functionName || '(anonymous)';
  const where = f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}:${f.columnNumber + 1}` : '';
  return { fn, where };
}

/** Inclusive time per function whose location contains `text`, counting recursion once. */
function inclusive(p: CpuProfile, byId: Map<number, ProfileNode>, text: string): Map<string, number> {
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const out = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const seen = new Set<string>();
    for (let id: number | undefined = p.samples[i]; id !== undefined; id = parent.get(id)) {
      const { fn, where } = frameKey(byId.get(id)!.callFrame);
      if (!where.includes(text)) continue;
      const key = `${fn}\t${where}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.set(key, (out.get(key) ?? 0) + (p.timeDeltas[i] ?? 0));
    }
  }
  return out;
}

/** Drops the samples of the profile's first `skipS` seconds (they keep their time deltas' order). */
function skipStart(p: CpuProfile, skipS: number): CpuProfile {
  if (skipS <= 0) return p;
  let t = 0;
  let first = 0;
  while (first < p.samples.length && t < skipS * 1e6) t += p.timeDeltas[first++] ?? 0;
  return { ...p, samples: p.samples.slice(first), timeDeltas: p.timeDeltas.slice(first) };
}

function summarise(file: string, top: number, incl: string, skipS: number): string {
  const p = skipStart(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, skipS);
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time between sample i-1 and sample i; charge it to sample i's frame.
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const perFn = new Map<string, { us: number; fn: string; where: string }>();
  const perSource = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    total += us;
    if (frame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    const { fn, where } = frameKey(frame);
    const key = `${fn} ${where}`;
    const e = perFn.get(key) ?? { us: 0, fn, where };
    e.us += us;
    perFn.set(key, e);
    const src = source(frame.url, fn);
    perSource.set(src, (perSource.get(src) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us: number) => `${fmtNum((100 * us) / busy, 1)}%`;
  const fns = [...perFn.values()].sort((a, b) => b.us - a.us).slice(0, top);
  const srcs = [...perSource.entries()].sort((a, b) => b[1] - a[1]).slice(0, Math.ceil(top / 2));
  const incls = [...inclusive(p, byId, incl).entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `#### ${basename(file)}`,
    `${fmtNum(total / 1e6, 2)} s profiled${skipS > 0 ? ` after the first ${skipS} s` : ''}, ${fmtNum(busy / 1e6, 2)} s busy (${fmtNum((100 * busy) / total, 0)}%); shares below are of busy time`,
    '',
    mdTable(
      ['function (self time)', 'where', 'ms', 'share'],
      fns.map((f) => [f.fn, f.where, fmtNum(f.us / 1000, 0), pct(f.us)]),
    ),
    '',
    mdTable(
      ['source (self time)', 'ms', 'share'],
      srcs.map(([s, us]) => [s, fmtNum(us / 1000, 0), pct(us)]),
    ),
    '',
    mdTable(
      [`function in ${incl} (inclusive time)`, 'where', 'ms', 'share'],
      incls.map(([k, us]) => [...(k.split('\t') as [string, string]), fmtNum(us / 1000, 0), pct(us)]),
    ),
    '',
  ].join('\n');
}

function profileFiles(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (statSync(p).isDirectory()) {
      for (const f of readdirSync(p).sort()) {
        const full = join(p, f);
        if (f.endsWith('.cpuprofile')) out.push(full);
        else if (statSync(full).isDirectory()) out.push(...profileFiles([full]));
      }
    } else out.push(p);
  }
  return out;
}

const argv = process.argv.slice(2);
const topArg = argv.find((a) => a.startsWith('--top='));
const top = topArg ? Number(topArg.slice(6)) : 20;
const incl = argv.find((a) => a.startsWith('--incl='))?.slice(7) ?? 'runtime/';
const skipS = Number(argv.find((a) => a.startsWith('--skip='))?.slice(7) ?? 0);
const files = profileFiles(argv.filter((a) => !a.startsWith('--')));
if (files.length === 0) {
  console.error('usage: lib/profile-summary.ts <dir or .cpuprofile files...> [--top=N]');
  process.exitCode = 1;
}
for (const f of files) console.log(summarise(f, top, incl, skipS));
