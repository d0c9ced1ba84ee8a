/** bench:multiplex part 1: batching on vs off, one OnnxModelDeployment, over HTTP and handles. */
import { fmtInt, fmtNum, fmtRatio, mdTable } from '../lib/stats.ts';
import type { LatencySummary, Target } from '../lib/stats.ts';
import { args, BATCHING, CLIENTS1, forecastModel, loadavg, MODELS_ROOT, mlpLabel, ms, note, TINY_LABEL } from './args.ts';
import { counterDelta, handleCase, httpCase } from './measure.ts';
import type { ModelInfo } from './measure.ts';
import { mlpFile, mlpParams } from './models.ts';
import type { ServerConfig } from './server.ts';

export interface Part1Row {
  model: string;
  via: 'HTTP' | 'handle';
  replicas: number;
  batching: boolean;
  rps: number;
  latency: LatencySummary;
  cpuUsPerReq: number;
  meanBatch: number;
  errors: number;
}

export interface Part1 {
  models: ModelInfo[];
  rows: Part1Row[];
}

export async function part1Models(): Promise<ModelInfo[]> {
  const models: ModelInfo[] = [{ label: TINY_LABEL, path: await forecastModel(), bytes: 0 }];
  for (const s of args.mlps) models.push({ label: mlpLabel(s), path: await mlpFile(MODELS_ROOT, s), bytes: mlpParams(s) * 4 });
  return models;
}

export function singleConfig(path: string, replicas: number, batching: boolean): ServerConfig & { kind: 'single' } {
  // Room for a whole batch (and for every client) in each replica, batching or not.
  return { kind: 'single', path, numReplicas: replicas, maxOngoingRequests: CLIENTS1, ...(batching ? { batching: BATCHING } : {}) };
}

export async function part1(models: ModelInfo[]): Promise<Part1> {
  const rows: Part1Row[] = [];
  for (const m of models) {
    for (const replicas of [1, 2]) {
      // Handles only for the tiny model: there the HTTP layer, not the model, sets the pace.
      for (const via of m.label === TINY_LABEL ? (['HTTP', 'handle'] as const) : (['HTTP'] as const)) {
        for (const batching of [false, true]) {
          const config = singleConfig(m.path, replicas, batching);
          note(`part 1: ${m.label}, ${replicas} replica(s), ${via}, batching ${batching ? 'on' : 'off'} (load ${loadavg()})`);
          if (via === 'HTTP') {
            const c = await httpCase(config, ['M'], CLIENTS1);
            const count = counterDelta(c, 'threadserve_batch_size_count', 'deployment="M"');
            const sum = counterDelta(c, 'threadserve_batch_size_sum', 'deployment="M"');
            rows.push({
              model: m.label,
              via,
              replicas,
              batching,
              rps: c.load.rps,
              latency: c.load.latencyMs,
              cpuUsPerReq: c.cpuUsPerReq,
              meanBatch: count ? sum / count : Number.NaN,
              errors: c.load.errors + c.load.non2xx,
            });
          } else {
            const r = await handleCase(config);
            rows.push({
              model: m.label,
              via,
              replicas,
              batching,
              rps: r.rps,
              latency: r.latencyMs,
              cpuUsPerReq: r.cpuUsPerReq,
              meanBatch: Number.NaN,
              errors: r.errors,
            });
          }
        }
      }
    }
  }
  return { models, rows };
}

export function part1Ratio(p: Part1, model: string, via: string, replicas: number): number {
  const pick = (batching: boolean) => p.rows.find((r) => r.model === model && r.via === via && r.replicas === replicas && r.batching === batching);
  const off = pick(false);
  const on = pick(true);
  return on && off ? on.rps / off.rps : Number.NaN;
}

export function formatPart1(p: Part1): string {
  const out: string[] = [];
  out.push(`## 1. Batching on vs off (${CLIENTS1} closed-loop clients, one OnnxModelDeployment)`, '');
  out.push(
    `Batching: maxBatchSize ${BATCHING.maxBatchSize}, batchWaitTimeoutS ${BATCHING.batchWaitTimeoutS}; maxOngoingRequests ${CLIENTS1} per replica ` +
      '(so a replica can hold a whole batch), intraOpNumThreads 1, on and off alike. HTTP: V2 infer `/v2/models/M/infer` with JSON bodies, ' +
      `load generator in its own process; handle: ${CLIENTS1} loops calling \`predict\` from the server's main thread. ` +
      '"server CPU/req": CPU of the server process, all threads, per answered request (for HTTP without the load generator; ' +
      'for handles the callers are in it).',
    '',
  );
  out.push(
    mdTable(
      ['model', 'via', 'replicas', 'batching', 'req/s', 'p50 ms', 'p99 ms', 'server CPU/req µs', 'mean batch', 'on/off req/s'],
      p.rows.map((r) => [
        r.model,
        r.via,
        String(r.replicas),
        r.batching ? 'on' : 'off',
        fmtInt(r.rps),
        ms(r.latency.p50),
        ms(r.latency.p99),
        fmtInt(r.cpuUsPerReq),
        r.batching ? fmtNum(r.meanBatch, 1) : '',
        r.batching ? fmtRatio(part1Ratio(p, r.model, r.via, r.replicas)) : '',
      ]),
    ),
  );
  return out.join('\n');
}

export function part1Targets(p: Part1): Target[] {
  const targets: Target[] = [];
  for (const model of [...new Set(p.rows.map((r) => r.model))]) {
    for (const via of ['HTTP', 'handle']) {
      for (const replicas of [1, 2]) {
        if (!p.rows.some((r) => r.model === model && r.via === via && r.replicas === replicas)) continue;
        const info = model === TINY_LABEL ? ' (info: tiny model)' : '';
        targets.push({
          name: `batching on/off req/s, ${model}, ${via}, ${replicas} replica(s)${info}`,
          value: part1Ratio(p, model, via, replicas),
          target: 2,
          kind: 'min',
          format: fmtRatio,
        });
      }
    }
  }
  return targets;
}
