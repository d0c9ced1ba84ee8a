/**
 * The server for bench/grpc/run.ts, alone in its process:
 *   grpc/server.ts <forecast model dir>
 * Serves the forecast example's model repository (per-country models, multiplexed, batching,
 * as examples/forecast/app.ts binds it) and "identity", a model deployment that answers its
 * FP32 input unchanged (for the 1 MB tensor). Prints `LISTENING <http url>,<grpc address>`.
 */
import { serve } from 'threadserve';
import { OnnxRepositoryDeployment } from 'threadserve/onnx';
import { IdentityD } from './deployments.ts';

const models = OnnxRepositoryDeployment.options({ name: 'CountryModels', numReplicas: 2, maxOngoingRequests: 32 }).bind({
  repository: process.argv[2]!,
  maxNumModelsPerReplica: 8,
  batching: { maxBatchSize: 16, batchWaitTimeoutS: 0.002 },
  intraOpNumThreads: 1,
});

const s = await serve.run(
  { models, identity: IdentityD.bind() },
  { port: 0, logLevel: 'warn', bodyLimit: 16 * 1024 * 1024, grpcMaxMessageBytes: 16 * 1024 * 1024 },
);
process.stdout.write(`LISTENING ${s.url},${s.grpcAddress}\n`);
process.on('SIGTERM', () => void s.close().then(() => process.exit(0)));
