/**
 * The process's logger: pino, human-readable (pino-pretty) when stdout is a terminal and one
 * JSON object per line otherwise, so a log collector never sees a line it cannot parse and a
 * person at a terminal never reads JSON.
 */
import { destination, pino } from 'pino';
import type { Logger } from 'pino';
import pretty from 'pino-pretty';

export type LogFormat = 'auto' | 'json' | 'pretty';
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Whether `format` means pretty output here ('auto': only when stdout is a terminal). */
export function isPretty(format: LogFormat): boolean {
  return format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
}

export function createLogger(level: LogLevel, format: LogFormat): Logger {
  if (isPretty(format)) {
    // In-process and synchronous: a terminal reads a few lines a second, and a transport
    // would cost a thread of its own.
    const stream = pretty({ colorize: process.stdout.isTTY === true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
    return pino({ level }, stream);
  }
  // Asynchronous writes: lines logged while a write is under way go out together in the next
  // one, instead of one write(2) per line on the thread that serves every request. pino flushes
  // what is left when the process exits.
  return pino({ level }, destination({ dest: 1, sync: false }));
}
