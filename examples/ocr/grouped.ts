// Grouped OCR: one class holds both models and runs every step. Each replica loads its own
// copy of the detector and the recogniser, so N replicas hold N copies.
import { deployment } from 'threadserve';
import { OnnxModel } from 'threadserve/onnx';
import { MODEL_PATHS, decode, directionInput, findLines, preProcess, readWithinBudget, recognitionInput, resolveOcrOptions, turnLines } from 'threadserve/ocr';
import type { ModelOutput, OcrOptions, OcrResult } from 'threadserve/ocr';
import { IMAGE_TYPES, imageBytes, ocrRequestSchema } from './request.ts';
import type { OcrRequest } from './request.ts';

export interface OcrHandlerOptions extends Partial<OcrOptions> {
  /** Intra-op threads of each of the two sessions; default: cores / replicas in the process. */
  intraOpNumThreads?: number;
}

export class OcrHandler {
  private readonly det: OnnxModel;
  private readonly rec: OnnxModel;
  /** The direction classifier, held only with `classifyDirection: true`. */
  private readonly cls: OnnxModel | undefined;

  constructor(private readonly options: OcrHandlerOptions = {}) {
    resolveOcrOptions(options); // bad options fail the replica's start, naming the option
    const threads = options.intraOpNumThreads === undefined ? {} : { intraOpNumThreads: options.intraOpNumThreads };
    this.det = new OnnxModel({ path: MODEL_PATHS.det, name: 'det', ...threads });
    this.rec = new OnnxModel({ path: MODEL_PATHS.rec, name: 'rec', ...threads });
    if (options.classifyDirection) this.cls = new OnnxModel({ path: MODEL_PATHS.cls, name: 'cls', ...threads });
  }

  async init() {
    await Promise.all([this.det.init(), this.rec.init(), this.cls?.init()]);
  }

  /** One image, admitted against the memory budget as a whole (decode included) until it is read. */
  async infer(bytes: Uint8Array): Promise<OcrResult> {
    return readWithinBudget(bytes, this.options, () => this.run(bytes));
  }

  private async run(bytes: Uint8Array): Promise<OcrResult> {
    const run = async (model: OnnxModel, data: Float32Array, dims: number[]): Promise<ModelOutput> => {
      const out = Object.values(await model.predict({ x: { data, dims } }))[0]!;
      return { data: out.data as Float32Array, dims: out.dims };
    };
    const { input, dims, state } = await preProcess(bytes, { ...this.options, decodeBytesPerPixel: 0 });
    const prob = await run(this.det, input, dims);
    const boxes = findLines(prob.data, prob.dims, state, this.options);
    if (this.cls && boxes.length > 0) {
      const cls = directionInput(state, boxes, this.options);
      turnLines(await run(this.cls, cls.batch, cls.dims), boxes, this.options);
    }
    const rec = recognitionInput(state, boxes, this.options);
    const outputs: ModelOutput[] = [];
    for (const b of rec.batches) outputs.push(await run(this.rec, b.batch, b.dims));
    return decode(outputs, rec.order, rec.boxes, this.options);
  }

  call(body: OcrRequest) {
    return this.infer(imageBytes(body));
  }

  async shutdown() {
    await Promise.all([this.det.shutdown(), this.rec.shutdown(), this.cls?.shutdown()]);
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
