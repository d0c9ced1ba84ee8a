/**
 * Closed-loop load for bench/grpc/run.ts, in a process of its own:
 *   lib/loadgen/grpc.ts '<json GrpcLoadSpec>'
 * `concurrency` callers, each sending its next request as soon as the last is answered, over
 * one of three protocols: REST with JSON tensors, REST with the binary tensor extension, or
 * gRPC ModelInfer with raw tensors (what tritonclient sends). REST goes over keep-alive
 * connections with Node's http client, gRPC over one grpc-js channel. Every answer is checked
 * (status and output size). Prints one JSON line.
 */
import { Agent, request } from 'node:http';
import { credentials, loadPackageDefinition } from '@grpc/grpc-js';
import type { Client, ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { GRPC_PROTO_PATH } from 'threadserve';
import { summarize } from '../stats.ts';
import type { LatencySummary } from '../stats.ts';

export type Protocol = 'rest-json' | 'rest-binary' | 'grpc';

export interface GrpcLoadSpec {
  protocol: Protocol;
  /** forecast: one 1x11 feature row to a country's model; tensor: 1 MiB of FP32 to "identity". */
  payload: 'forecast' | 'tensor';
  httpUrl: string;
  grpcAddress: string;
  concurrency: number;
  warmupS: number;
  durationS: number;
}

export interface GrpcLoadResult {
  requests: number;
  /** Answers over the whole run, warm-up included (what the server's CPU time was spent on). */
  allRequests: number;
  /** The load generator's own CPU µs per answer (the client's cost). */
  clientCpuUs: number;
  rps: number;
  latencyMs: LatencySummary;
  errors: number;
  firstError?: string;
}

const spec = JSON.parse(process.argv[2]!) as GrpcLoadSpec;

const ROW = Float32Array.from([1.05, 0.98, 1.02, 0.95, 1.1, 0.97, 1.01, 0.92, 0.12, 0.99, 0]);
const TENSOR = Float32Array.from({ length: 256 * 1024 }, (_, i) => Math.sin(i));
const x = spec.payload === 'forecast' ? ROW : TENSOR;
const model = spec.payload === 'forecast' ? 'AD' : 'identity';
const input = spec.payload === 'forecast' ? { name: 'features', datatype: 'FP32', shape: [1, 11] } : { name: 'x', datatype: 'FP32', shape: [x.length] };
const bytes = Buffer.from(x.buffer, x.byteOffset, x.byteLength);
const expectBytes = spec.payload === 'forecast' ? 4 : bytes.length;

type Send = () => Promise<void>;

function restSender(binary: boolean): Send {
  const agent = new Agent({ keepAlive: true, maxSockets: spec.concurrency });
  const url = new URL(`/v2/models/${model}/infer`, spec.httpUrl);
  let body: Buffer;
  const headers: Record<string, string> = {};
  if (binary) {
    const header = Buffer.from(
      JSON.stringify({ inputs: [{ ...input, parameters: { binary_data_size: bytes.length } }], parameters: { binary_data_output: true } }),
    );
    body = Buffer.concat([header, bytes]);
    headers['content-type'] = 'application/octet-stream';
    headers['inference-header-content-length'] = String(header.length);
  } else {
    body = Buffer.from(JSON.stringify({ inputs: [{ ...input, data: Array.from(x) }] }));
    headers['content-type'] = 'application/json';
  }
  headers['content-length'] = String(body.length);
  return () =>
    new Promise<void>((resolve, reject) => {
      const req = request(url, { method: 'POST', agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const answer = Buffer.concat(chunks);
          if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${answer.toString().slice(0, 200)}`));
          if (binary) {
            const n = Number(res.headers['inference-header-content-length']);
            if (answer.length - n !== expectBytes) return reject(new Error(`binary output of ${answer.length - n} bytes`));
          } else {
            const out = JSON.parse(answer.toString()) as { outputs: Array<{ data: number[] }> };
            if (out.outputs[0]!.data.length * 4 !== expectBytes) return reject(new Error('short JSON output'));
          }
          resolve();
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
}

function grpcSender(): Send {
  const pkg = loadPackageDefinition(loadSync(GRPC_PROTO_PATH, { keepCase: true, longs: String, defaults: true, arrays: true })) as any;
  // gRPC's C-core clients (Python, C++) grow their flow-control windows by themselves; grpc-js
  // keeps HTTP/2's 64 KiB unless told, which would throttle every 1 MiB answer.
  const options = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1, 'grpc-node.flow_control_window': 32 * 1024 * 1024 };
  const client: Client & Record<string, any> = new pkg.inference.GRPCInferenceService(spec.grpcAddress, credentials.createInsecure(), options);
  const message = { model_name: model, inputs: [input], raw_input_contents: [bytes] };
  return () =>
    new Promise<void>((resolve, reject) => {
      client.ModelInfer(message, (err: ServiceError | null, res: { raw_output_contents: Buffer[] }) => {
        if (err) return reject(err);
        if (res.raw_output_contents[0]?.length !== expectBytes) return reject(new Error('short gRPC output'));
        resolve();
      });
    });
}

const send = spec.protocol === 'grpc' ? grpcSender() : restSender(spec.protocol === 'rest-binary');
const samples: number[] = [];
let errors = 0;
let allRequests = 0;
let firstError: string | undefined;
let measuring = false;
let stop = false;

async function caller(): Promise<void> {
  while (!stop) {
    const t0 = performance.now();
    try {
      await send();
      allRequests++;
      if (measuring) samples.push(performance.now() - t0);
    } catch (err) {
      errors++;
      firstError ??= (err as Error).message;
      if (errors > 100) stop = true;
    }
  }
}

const cpu0 = process.cpuUsage();
const callers = Array.from({ length: spec.concurrency }, caller);
await new Promise((r) => setTimeout(r, spec.warmupS * 1000));
measuring = true;
const t0 = performance.now();
await new Promise((r) => setTimeout(r, spec.durationS * 1000));
measuring = false;
const elapsedS = (performance.now() - t0) / 1000;
stop = true;
await Promise.all(callers);
const used = process.cpuUsage(cpu0);
const clientCpuUs = (used.user + used.system) / allRequests;
const result: GrpcLoadResult = {
  requests: samples.length,
  allRequests,
  clientCpuUs,
  rps: samples.length / elapsedS,
  latencyMs: summarize(samples),
  errors,
  ...(firstError && { firstError }),
};
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
