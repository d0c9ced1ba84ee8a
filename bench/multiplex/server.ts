/**
 * One server for bench/multiplex/run.ts, alone in its process so its RSS is its own:
 *   multiplex/server.ts '<json ServerConfig>'
 * Prints `READY {"url", "serveRunMs"}` once serve.run resolved, and drains on SIGTERM (so
 * --cpu-prof profiles get written, replica threads included).
 *
 * Kinds:
 *   single  one OnnxModelDeployment "M" (V2: /v2/models/M/infer), optional batching
 *   repo    the multiplexed repository "CountryModels" (V2: /v2/models/<country>/infer)
 *   naive   one OnnxModelDeployment per country, named by its id (V2: /v2/models/<country>/infer)
 * With `handleLoad` it does not listen: after READY it drives the deployment itself with
 * closed-loop handle calls from the main thread, prints `RESULT {json}` and exits.
 */
import { join } from 'node:path';
import { serve } from 'threadserve';
import type { BoundDeployment } from 'threadserve';
import { OnnxModelDeployment } from '../../deployments/onnx/deployment.ts';
import { OnnxRepositoryDeployment } from '../../deployments/onnx/repository.ts';
import type { OnnxModel } from '../../deployments/onnx/deployment.ts';
import { countryIds } from '../../examples/forecast/countries.ts';
import { FlaggedModelDeployment, FlaggedRepositoryDeployment } from './deployments.ts';
import { summarize } from '../lib/stats.ts';

export interface BatchingConfig {
  maxBatchSize: number;
  batchWaitTimeoutS: number;
}

export interface HandleLoad {
  concurrency: number;
  warmupS: number;
  durationS: number;
}

export type ServerConfig =
  | {
      kind: 'single';
      path: string;
      numReplicas: number;
      maxOngoingRequests: number;
      batching?: BatchingConfig;
      handleLoad?: HandleLoad;
      /** Answer the repository's extra `cache_hit` output too (the part 2 baseline). */
      flag?: boolean;
    }
  | {
      kind: 'repo';
      repository: string;
      numReplicas: number;
      maxOngoingRequests: number;
      maxNumModelsPerReplica: number;
      /** The unmodified OnnxRepositoryDeployment (no cache_hit output), to price the flag. */
      plain?: boolean;
    }
  | { kind: 'naive'; repository: string; count: number; maxOngoingRequests: number };

export interface HandleResult {
  requests: number;
  rps: number;
  latencyMs: ReturnType<typeof summarize>;
  errors: number;
  /** CPU of the whole process (main thread, replicas, onnxruntime) per measured request, µs. */
  cpuUsPerReq: number;
  /** The measured span, µs of CLOCK_MONOTONIC (the clock of V8 CPU profiles). */
  window: { fromUs: number; toUs: number };
}

/** One request's input: a fresh row each call (a handle call moves its buffer to the replica). */
const ROW = [1.05, 0.98, 1.02, 0.95, 1.1, 0.97, 1.01, 0.92, 0.12, 0.99, 0];

function buildApps(c: ServerConfig): BoundDeployment | Record<string, BoundDeployment> {
  switch (c.kind) {
    case 'single':
      return (c.flag ? FlaggedModelDeployment : OnnxModelDeployment)
        .options({ name: 'M', numReplicas: c.numReplicas, maxOngoingRequests: c.maxOngoingRequests })
        .bind({
          path: c.path,
          intraOpNumThreads: 1,
          ...(c.batching ? { batching: c.batching } : {}),
        });
    case 'repo':
      return (c.plain ? OnnxRepositoryDeployment : FlaggedRepositoryDeployment)
        .options({ name: 'CountryModels', numReplicas: c.numReplicas, maxOngoingRequests: c.maxOngoingRequests })
        .bind({
          repository: c.repository,
          maxNumModelsPerReplica: c.maxNumModelsPerReplica,
          intraOpNumThreads: 1,
        });
    case 'naive': {
      const apps: Record<string, BoundDeployment> = {};
      for (const id of countryIds(c.count)) {
        apps[id] = OnnxModelDeployment.options({ name: id, numReplicas: 1, maxOngoingRequests: c.maxOngoingRequests }).bind({
          path: join(c.repository, `${id}.onnx`),
          intraOpNumThreads: 1,
        });
      }
      return apps;
    }
  }
}

async function handleLoad(instance: Awaited<ReturnType<typeof serve.run>>, load: HandleLoad): Promise<HandleResult> {
  const model = instance.handle<OnnxModel>('M');
  const call = () => model.predict({ features: { data: Float32Array.from(ROW), dims: [1, 11] } });
  const latencies: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const monotonic0 = Number(process.hrtime.bigint() / 1000n);
  const measureFrom = t0 + load.warmupS * 1000;
  const end = measureFrom + load.durationS * 1000;
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  const cpuTimer = setTimeout(() => (cpuAtStart = process.cpuUsage()), load.warmupS * 1000);
  const loop = async () => {
    for (;;) {
      const start = performance.now();
      if (start >= end) return;
      try {
        await call();
        const done = performance.now();
        if (start >= measureFrom && done <= end) latencies.push(done - start);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: load.concurrency }, loop));
  clearTimeout(cpuTimer);
  const cpu = process.cpuUsage(cpuAtStart);
  return {
    requests: latencies.length,
    rps: latencies.length / load.durationS,
    latencyMs: summarize(latencies),
    errors,
    cpuUsPerReq: (cpu.user + cpu.system) / latencies.length,
    window: { fromUs: monotonic0 + load.warmupS * 1e6, toUs: monotonic0 + (load.warmupS + load.durationS) * 1e6 },
  };
}

const config = JSON.parse(process.argv[2] ?? '') as ServerConfig;
const listen = !(config.kind === 'single' && config.handleLoad);
const t0 = performance.now();
const instance = await serve.run(buildApps(config), { host: '127.0.0.1', port: 0, listen, logLevel: 'warn' });
process.stdout.write(`READY ${JSON.stringify({ url: instance.url, serveRunMs: performance.now() - t0 })}\n`);

let closing = false;
const shutdown = async (code: number) => {
  if (closing) return;
  closing = true;
  await instance.close();
  process.exit(code);
};
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));

if (config.kind === 'single' && config.handleLoad) {
  const result = await handleLoad(instance, config.handleLoad);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  await shutdown(0);
}
