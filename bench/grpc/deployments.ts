/**
 * The identity model deployment of bench/grpc/run.ts, in a module of its own: replica threads
 * import the module that defines a deployment, and the server's module starts a server.
 */
import { deployment } from 'threadserve';

interface Tensor {
  data: Float32Array;
  dims: number[];
  datatype: string;
}

export class Identity {
  metadata() {
    return { name: 'identity', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [-1] }] };
  }
  predict(inputs: Record<string, Tensor>) {
    const x = inputs.x!;
    return { y: { data: x.data, dims: x.dims, datatype: 'FP32' } };
  }
}

export const IdentityD = deployment(Identity, { name: 'identity', numReplicas: 1, maxOngoingRequests: 16 });
