/**
 * Summaries of V8 CPU profiles (.cpuprofile, from `node --cpu-prof`) for bench/multiplex/run.ts:
 * per profile (one per thread: the server's main thread, each replica), the share of samples
 * that were idle, garbage collection, and the top functions by self time, plus a grouping of
 * self time by where the code lives (onnxruntime, fastify, the runtime's router, ...).
 *   multiplex/profile.ts <dir> [top]    prints the summary of every profile in dir
 * A window (µs of CLOCK_MONOTONIC: the profiles' own clock, and process.hrtime's) keeps only
 * the samples taken while a case was measured, leaving out startup (module loading) and warm-up.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CpuProfile, ProfileNode } from '../lib/profile-summary.ts';

export interface ProfileSummary {
  file: string;
  /** Wall time the profile covers, ms. */
  totalMs: number;
  /** Busy (not idle) share of that time. */
  busy: number;
  gc: number;
  top: Array<{ name: string; where: string; ms: number; share: number }>;
  groups: Array<{ group: string; ms: number; share: number }>;
}

/** This checkout's root, to print this project's files relative to it. */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function shortUrl(url: string): string {
  if (!url) return '';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const path = url.replace(/^file:\/\//, '');
  return path.startsWith(ROOT) ? path.slice(ROOT.length) : path;
}

/** A coarse bucket for a function's self time. */
function groupOf(node: ProfileNode): string {
  const { functionName, url } = node.callFrame;
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'gc';
  if (functionName === '(program)') return 'program (native, unattributed)';
  const u = shortUrl(url);
  if (u.startsWith('onnxruntime')) return 'onnxruntime-node (JS + native run)';
  if (u.startsWith('fastify') || u.startsWith('@fastify') || u.startsWith('find-my-way') || u.startsWith('avvio') || u.startsWith('light-my-request'))
    return 'fastify';
  if (u.startsWith('piscina')) return 'piscina';
  if (u.startsWith('msgpackr')) return 'msgpackr';
  if (u.startsWith('pino')) return 'pino';
  if (u.startsWith('prom-client')) return 'prom-client';
  if (u.startsWith('tsx') || u.startsWith('esbuild')) return 'tsx/esbuild (loading)';
  if (u.startsWith('runtime/main/v2')) return 'runtime/main/v2 (V2 codec, registry)';
  if (u.startsWith('runtime/')) return u.split('/').slice(0, 3).join('/');
  if (u.startsWith('deployments/')) return u.split('/').slice(0, 3).join('/');
  if (u.startsWith('bench/')) return u;
  if (u.startsWith('node:') || u === '' || !u.includes('/')) {
    if (/JSON|stringify|parse/.test(functionName)) return 'JSON (builtin)';
    if (/postMessage|MessagePort|receiveMessage|serialize|deserialize|structuredClone/i.test(functionName)) return 'postMessage / structured clone';
    if (/write|writev|Socket|onStreamRead|readableAddChunk|onread|HTTPParser|parserOn|_http|execute/i.test(functionName + u)) return 'node net/http';
    return `node builtins / native (${u.startsWith('node:') ? u.split('/')[0] : 'native'})`;
  }
  return u.split('/')[0]!;
}

/** A span of CLOCK_MONOTONIC in µs (process.hrtime.bigint() / 1000n). */
export interface Window {
  fromUs: number;
  toUs: number;
}

export function summarizeProfile(file: string, topN = 12, window?: Window): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const from = window ? Math.max(window.fromUs, p.startTime) : p.startTime;
  const to = window ? Math.min(window.toUs, p.endTime) : p.endTime;
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (t < from || t > to) continue;
    const dt = (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0) / 1000;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt);
  }
  const totalMs = Math.max(0, to - from) / 1000;
  let idle = 0;
  let gc = 0;
  const fn = new Map<string, { name: string; where: string; ms: number }>();
  const groups = new Map<string, number>();
  for (const [id, ms] of self) {
    const node = byId.get(id)!;
    const g = groupOf(node);
    groups.set(g, (groups.get(g) ?? 0) + ms);
    if (g === 'idle') {
      idle += ms;
      continue;
    }
    if (g === 'gc') gc += ms;
    const where = `${shortUrl(node.callFrame.url)}${node.callFrame.url ? `:${node.callFrame.lineNumber + 1}` : ''}`;
    const key = `${node.callFrame.functionName}@${where}`;
    const e = fn.get(key) ?? { name: node.callFrame.functionName || '(anonymous)', where, ms: 0 };
    e.ms += ms;
    fn.set(key, e);
  }
  const busyMs = totalMs - idle;
  const top = [...fn.values()]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, topN)
    .map((e) => ({ ...e, share: e.ms / busyMs }));
  const groupRows = [...groups.entries()]
    .filter(([g]) => g !== 'idle')
    .sort((a, b) => b[1] - a[1])
    .map(([group, ms]) => ({ group, ms, share: ms / busyMs }));
  return { file, totalMs, busy: busyMs / totalMs, gc: gc / busyMs, top, groups: groupRows };
}

export function summarizeDir(dir: string, topN = 12, window?: Window): ProfileSummary[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort()
    .map((f) => summarizeProfile(join(dir, f), topN, window))
    .filter((s) => s.totalMs > 0);
}

/** Markdown: one block per profile, busiest first. */
export function formatProfiles(summaries: ProfileSummary[], topN = 10): string {
  const out: string[] = [];
  // --cpu-prof names files CPU.<date>.<time>.<pid>.<thread id>.<seq>: thread 0 is the main thread.
  const threadName = (file: string) => {
    const tid = /\.(\d+)\.\d+\.cpuprofile$/.exec(file)?.[1];
    return tid === '0' ? 'main thread' : `thread ${tid ?? '?'}`;
  };
  for (const s of [...summaries].sort((a, b) => b.busy * b.totalMs - a.busy * a.totalMs)) {
    if (s.busy < 0.02) continue;
    out.push(
      `\n**${threadName(s.file)}** (${s.file.split('/').pop()}): ${(s.totalMs / 1000).toFixed(1)} s profiled, busy ${(s.busy * 100).toFixed(0)}%, GC ${(s.gc * 100).toFixed(0)}% of busy`,
    );
    out.push('', '| share of busy | group |', '|---:|---|');
    for (const g of s.groups.slice(0, 8)) out.push(`| ${(g.share * 100).toFixed(1)}% | ${g.group} |`);
    out.push('', '| share of busy | self ms | function | where |', '|---:|---:|---|---|');
    for (const t of s.top.slice(0, topN)) out.push(`| ${(t.share * 100).toFixed(1)}% | ${t.ms.toFixed(0)} | ${t.name} | ${t.where} |`);
  }
  return out.join('\n');
}

if (process.argv[1]?.endsWith('multiplex/profile.ts')) {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: multiplex/profile.ts <dir> [top]');
  const topN = Number(process.argv[3] ?? 12);
  console.log(formatProfiles(summarizeDir(dir, topN), topN));
}
