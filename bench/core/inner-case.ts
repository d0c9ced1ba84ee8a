/**
 * Part 1, the in-thread cases, one per process: `core/inner-case.ts channel|replica`. Both measure
 * pipelined calls made from one worker thread to another, with bench/lib/call-loops.ts's loop and
 * INFLIGHT calls in flight, and print one JSON line (a CoreCaseResult without `seq`):
 *  - channel: a plain worker posts to a plain echoing worker over a MessageChannel port (raw);
 *  - replica: a replica's handle calls to another deployment's replica (Noop).
 * The loop runs inside the calling thread; this process's main thread only starts and reads it.
 */
import { once } from 'node:events';
import { MessageChannel, Worker } from 'node:worker_threads';
import { bind, serve } from 'threadserve';
import { INFLIGHT } from '../lib/call-loops.ts';
import type { Pipelined } from '../lib/call-loops.ts';
import type { CoreCaseResult } from './case.ts';
import type { PipelinedCallerInstance } from './deployments.ts';
import { Noop, PipelinedCaller } from './deployments.ts';

/** (d) Worker A -> worker B over a MessageChannel; B echoes. */
async function channel(): Promise<Pipelined> {
  const { port1, port2 } = new MessageChannel();
  const echo = new Worker(new URL('./baseline-worker.mjs', import.meta.url), {
    workerData: { role: 'echo-port', port: port2 },
    transferList: [port2],
  });
  await once(echo, 'online');
  // Workers inherit this process's execArgv, which registers tsx (bench/lib/proc.ts starts it so).
  const caller = new Worker(new URL('./channel-caller.ts', import.meta.url), {
    workerData: { port: port1 },
    transferList: [port1],
  });
  try {
    return await new Promise<Pipelined>((resolve, reject) => {
      caller.once('message', resolve);
      caller.once('error', reject);
      caller.once('exit', (code) => reject(new Error(`channel caller exited with code ${code} before reporting`)));
    });
  } finally {
    await Promise.all([caller.terminate(), echo.terminate()]);
  }
}

/** (e) PipelinedCaller's replica runs the loop through its handle to Noop's replica. */
async function replica(): Promise<Pipelined> {
  const instance = await serve.run(bind(PipelinedCaller, bind(Noop)), { listen: false, logLevel: 'silent' });
  try {
    return await instance.handle<PipelinedCallerInstance>('PipelinedCaller').pipelined();
  } finally {
    await instance.close();
  }
}

const CASES: Record<string, () => Promise<Pipelined>> = { channel, replica };

const name = process.argv[2] ?? '';
const run = CASES[name];
if (!run) throw new Error(`usage: core/inner-case.ts ${Object.keys(CASES).join('|')}`);
const { perS: pipelinedPerS, cpuUsPerCall } = await run();
if (!(pipelinedPerS > 0)) throw new Error(`inner-case ${name}: measured ${pipelinedPerS} calls/s`);
const result: CoreCaseResult = { name, pipelinedPerS, cpuUsPerCall, inflight: INFLIGHT };
process.stdout.write(`${JSON.stringify(result)}\n`);
