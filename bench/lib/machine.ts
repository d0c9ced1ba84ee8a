/**
 * The machine a bench ran on, for the head of its report: the same figures matter whatever is
 * measured (a result means little without the cores, the Node version, the load around it and
 * the code that ran).
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';

/** The 1, 5 and 15 minute load averages, e.g. "0.52 0.61 0.70". */
export function loadavg(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** Which runtime was measured: the commit, and whether runtime/ differs from it. */
function revision(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = git('status', '--porcelain', '--', 'runtime') !== '';
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' (runtime/ modified)' : ''}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

/** Markdown bullet lines: CPU, cores, Node, OS, memory, the load average now, the commit. */
export function machine(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  return [
    `- CPU: ${model}, ${cpus.length} logical cores (os.availableParallelism ${os.availableParallelism()})`,
    `- Node ${process.version} on ${os.type()} ${os.release()} (${os.arch()}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    `- load average at start: ${loadavg()}; threadserve at ${revision()}`,
  ].join('\n');
}
