/**
 * Where the package's .proto of the Open Inference Protocol's gRPC service is (beside this
 * module, from source and in dist/ alike). Apart from proto.ts so that the public entry can
 * export the path without loading gRPC into replica threads.
 */
import { fileURLToPath } from 'node:url';

/** `grpc_predict_v2.proto`: load it with @grpc/proto-loader (or give it to grpcurl) to make a client. */
export const GRPC_PROTO_PATH = fileURLToPath(new URL('./grpc_predict_v2.proto', import.meta.url));
