// Grouped OCR: one class holds both models and runs every step. Each replica loads its own
// copy of the detector and the recogniser, so N replicas hold N copies.
import { deployment } from 'threadserve';
import { OnnxModel } from 'threadserve/onnx';
import { MODEL_PATHS, admitOcrRequest, decode, postDetect, preProcess } from 'threadserve/ocr';
import type { OcrOptions, OcrResult } from 'threadserve/ocr';
import { IMAGE_TYPES, imageBytes, ocrRequestSchema } from './request.ts';
import type { OcrRequest } from './request.ts';

export interface OcrHandlerOptions extends Partial<OcrOptions> {
  /** Intra-op threads of each of the two sessions; default: cores / replicas in the process. */
  intraOpNumThreads?: number;
}

export class OcrHandler {
  private readonly det: OnnxModel;
  private readonly rec: OnnxModel;

  constructor(private readonly options: OcrHandlerOptions = {}) {
    const threads = options.intraOpNumThreads === undefined ? {} : { intraOpNumThreads: options.intraOpNumThreads };
    this.det = new OnnxModel({ path: MODEL_PATHS.det, name: 'det', ...threads });
    this.rec = new OnnxModel({ path: MODEL_PATHS.rec, name: 'rec', ...threads });
  }

  async init() {
    await Promise.all([this.det.init(), this.rec.init()]);
  }

  /** One image, admitted against the memory budget as a whole (decode included) until it is read. */
  async infer(bytes: Uint8Array): Promise<OcrResult> {
    const lease = await admitOcrRequest(bytes, this.options);
    try {
      return await this.run(bytes);
    } finally {
      lease.release();
    }
  }

  private async run(bytes: Uint8Array): Promise<OcrResult> {
    const { input, dims, state } = await preProcess(bytes, { ...this.options, decodeBytesPerPixel: 0 });
    const prob = Object.values(await this.det.predict({ x: { data: input, dims } }))[0]!;
    const crops = postDetect(prob.data as Float32Array, prob.dims, state, this.options);
    if (crops.dims[0] === 0) return { lines: [] };
    const rec = Object.values(await this.rec.predict({ x: { data: crops.batch, dims: crops.dims } }))[0]!;
    return decode(rec.data as Float32Array, rec.dims, crops.boxes, this.options);
  }

  call(body: OcrRequest) {
    return this.infer(imageBytes(body));
  }

  async shutdown() {
    await Promise.all([this.det.shutdown(), this.rec.shutdown()]);
  }
}

export const OcrGrouped = deployment(OcrHandler, {
  name: 'OcrGrouped',
  route: '/ocr',
  numReplicas: 2,
  maxOngoingRequests: 2,
  requestSchema: ocrRequestSchema,
  acceptContentTypes: IMAGE_TYPES,
  bodyLimit: 16 * 1024 * 1024,
});
