/**
 * The process's logger: pino, human-readable (pino-pretty) when stdout is a terminal and one
 * JSON object per line otherwise, so a log collector never sees a line it cannot parse and a
 * person at a terminal never reads JSON.
 */
import { destination, pino } from 'pino';
import type { Logger } from 'pino';
import pretty from 'pino-pretty';

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

const BUFFER_BYTES = 8 * 1024;
const FLUSH_MS = 200;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Whether `format` means pretty output here ('auto': only when stdout is a terminal). */
export function isPretty(format: LogFormat): boolean {
  return format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
}

const buffered = new Set<ReturnType<typeof destination>>();

function flushAll(): void {
  for (const d of buffered) {
    try {
      d.flushSync();
    } catch {
      // A closed stdout: nothing more can be written.
    }
  }
}

export function createLogger(level: LogLevel, format: LogFormat): Logger {
  if (isPretty(format)) {
    // In-process and synchronous: a terminal reads a few lines a second, and a transport
    // would cost a thread of its own.
    const stream = pretty({ colorize: process.stdout.isTTY === true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
    return pino({ level }, stream);
  }
  if (level === 'silent') return pino({ level });
  // Buffered writes: a profile of the one-hop bench put one write per access log line at
  // 13-19% of the main thread, the thread every request passes. Lines now go out in writes of
  // up to BUFFER_BYTES, at least every FLUSH_MS when traffic is light, and at exit.
  const dest = destination({ dest: 1, sync: true, minLength: BUFFER_BYTES, periodicFlush: FLUSH_MS });
  buffered.add(dest);
  if (buffered.size === 1) process.once('exit', flushAll);
  return pino({ level }, dest);
}
