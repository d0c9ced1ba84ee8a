/**
 * What Linux's /proc says about a measured process and the machine: CPU time, RSS, threads.
 * Unlike throughput, CPU per request hardly changes when other work on the machine takes
 * cores away, so it is the steadier figure on a shared machine. Every reader answers NaN (or
 * undefined) where there is no /proc, so the bench still runs elsewhere, without those columns.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** sysconf(_SC_CLK_TCK), the unit of /proc's CPU times: 100 on every Linux that Node supports. */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU time of the whole process (all threads), or of one of its threads, in ms. */
export function cpuMs(pid: number, tid?: number): number {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at field 3: utime is 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds (user + system, all threads) a process has used so far. */
export function cpuSeconds(pid: number): number {
  return cpuMs(pid) / 1000;
}

export interface ProcStatus {
  rssMb: number;
  /** VmHWM: peak RSS since the process started. */
  hwmMb: number;
  threads: number;
}

/** VmRSS, VmHWM (MiB) and thread count of a process; NaN fields when /proc is missing. */
export function procStatus(pid: number): ProcStatus {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
    return { rssMb: field('VmRSS') / 1024, hwmMb: field('VmHWM') / 1024, threads: field('Threads') };
  } catch {
    return { rssMb: Number.NaN, hwmMb: Number.NaN, threads: Number.NaN };
  }
}

export interface RssSamples {
  /** Largest and last VmRSS sampled, MiB. */
  maxMb: number;
  lastMb: number;
  /** Most OS threads seen at once. */
  threads: number;
  samples: number;
}

/** Samples VmRSS (and the thread count) every `everyMs` until stopped: a peak between two reads. */
export function sampleRss(pid: number, everyMs = 100): { stop(): RssSamples } {
  const out: RssSamples = { maxMb: Number.NaN, lastMb: Number.NaN, threads: 0, samples: 0 };
  const tick = () => {
    const s = procStatus(pid);
    if (!Number.isFinite(s.rssMb)) return;
    out.lastMb = s.rssMb;
    out.maxMb = Number.isFinite(out.maxMb) ? Math.max(out.maxMb, s.rssMb) : s.rssMb;
    if (Number.isFinite(s.threads)) out.threads = Math.max(out.threads, s.threads);
    out.samples++;
  };
  tick();
  const timer = setInterval(tick, everyMs);
  return {
    stop() {
      clearInterval(timer);
      tick();
      return { ...out };
    },
  };
}

/** Busy CPU time of the whole machine (all cores, every process), in ms; steal not counted. */
export function machineBusyMs(): number {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...
    const busy = cpu[0]! + cpu[1]! + cpu[2]! + cpu[5]! + cpu[6]!;
    return (busy * 1000) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/** Waits (up to maxS) until the machine has been idle for 3 one-second samples in a row; returns the seconds waited. */
export async function waitQuiet(maxS: number): Promise<number> {
  const t0 = performance.now();
  let quiet = 0;
  while (quiet < 3 && performance.now() - t0 < maxS * 1000) {
    const before = machineBusyMs();
    await new Promise((r) => setTimeout(r, 1000));
    quiet = machineBusyMs() - before < 200 ? quiet + 1 : 0;
  }
  return (performance.now() - t0) / 1000;
}
