/**
 * One round of one bench:ocr case in processes of their own: a server (ocr/server.ts) loaded
 * by the OCR load generator, or a raw case (ocr/raw-case.ts) that loads itself. This process
 * samples the measured process's RSS and CPU time from /proc while the child measures.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { OcrLoadResult } from '../lib/loadgen/ocr.ts';
import { SERVING_ALLOCATOR_ENV, exited, spawnBench, startServer, stopChild } from '../lib/proc.ts';
import { cpuMs, machineBusyMs, procStatus, sampleRss } from '../lib/procfs.ts';
import type { Args, Case } from './cases.ts';

/**
 * Runs a measuring child (load generator or raw case) to its end. On its MEASURE-START and
 * MEASURE-END lines, reads the CPU time of `measuredPid` (the server, or the raw case itself)
 * and of the whole machine; at MEASURE-END also its VmHWM (peak RSS since it started).
 */
async function runMeasuring(
  child: ChildProcess,
  measuredPid: number,
): Promise<{ result: OcrLoadResult; cpuMs: number; mainMs: number; machineMs: number; hwmMb: number }> {
  let cpuStart = Number.NaN;
  let cpu = Number.NaN;
  let mainStart = Number.NaN;
  let mainMs = Number.NaN;
  let machineStart = Number.NaN;
  let machineMs = Number.NaN;
  let hwmMb = Number.NaN;
  let last = '';
  const lines = createInterface({ input: child.stdout! });
  const closed = once(lines, 'close');
  lines.on('line', (line) => {
    if (line === 'MEASURE-START') {
      cpuStart = cpuMs(measuredPid);
      mainStart = cpuMs(measuredPid, measuredPid);
      machineStart = machineBusyMs();
    } else if (line === 'MEASURE-END') {
      cpu = cpuMs(measuredPid) - cpuStart;
      mainMs = cpuMs(measuredPid, measuredPid) - mainStart;
      machineMs = machineBusyMs() - machineStart;
      hwmMb = procStatus(measuredPid).hwmMb;
    } else if (line.trim()) last = line;
  });
  const code = await exited(child);
  await closed;
  if (code !== 0) throw new Error(`measuring process exited with code ${code}`);
  return { result: JSON.parse(last) as OcrLoadResult, cpuMs: cpu, mainMs, machineMs, hwmMb };
}

export interface CaseResult {
  case: Case;
  load: OcrLoadResult;
  /** CPU time of the measured process during the window, all threads. */
  cpuMs: number;
  /** CPU time of the process's main thread during the window (served: fastify, routers, message passing). */
  mainMs: number;
  /** Busy CPU time of the whole machine during the window. */
  machineMs: number;
  /** Served: RSS once every replica is up, before any request (MiB). Raw: n/a. */
  idleRssMb: number;
  peakRssMb: number;
  hwmMb: number;
  osThreads: number;
}

const profDir = (c: Case, args: Args, round: number) => (args.profDir ? join(args.profDir, `${c.key}-r${round}`) : undefined);

export async function runServed(c: Case, args: Args, manifest: string, round: number): Promise<CaseResult> {
  const server = await startServer(c.script, c.args, { profDir: profDir(c, args, round), timeoutS: 120, env: SERVING_ALLOCATOR_ENV });
  try {
    const pid = server.pid;
    const idle = procStatus(pid);
    const sampler = sampleRss(pid);
    const gen = spawnBench('lib/loadgen/ocr.ts', [
      `${server.ready.url}/ocr`,
      String(c.clients ?? args.concurrency),
      String(args.warmupS),
      String(args.durationS),
      manifest,
    ]);
    const { result, cpuMs, mainMs, machineMs, hwmMb } = await runMeasuring(gen, pid);
    const rss = sampler.stop();
    return { case: c, load: result, cpuMs, mainMs, machineMs, idleRssMb: idle.rssMb, peakRssMb: rss.maxMb, hwmMb, osThreads: rss.threads };
  } finally {
    await server.stop();
  }
}

export async function runRaw(c: Case, args: Args, manifest: string, round: number): Promise<CaseResult> {
  const child = spawnBench(c.script, [...c.args, String(args.warmupS), String(args.durationS), manifest], {
    profDir: profDir(c, args, round),
    env: SERVING_ALLOCATOR_ENV,
  });
  const pid = child.pid!;
  const sampler = sampleRss(pid);
  try {
    const { result, cpuMs, mainMs, machineMs, hwmMb } = await runMeasuring(child, pid);
    const rss = sampler.stop();
    return { case: c, load: result, cpuMs, mainMs, machineMs, idleRssMb: Number.NaN, peakRssMb: rss.maxMb, hwmMb, osThreads: rss.threads };
  } finally {
    sampler.stop();
    await stopChild(child, 30_000);
  }
}
