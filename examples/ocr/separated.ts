// Separated OCR: each model is a deployment of its own, holding one copy of its weights, with
// its own replica count; the ingress runs pre- and post-process (decode, resize, line finding,
// crops, CTC decoding) in its thread, or sends them to OcrPre/OcrPost replicas when those are
// bound. With `classifyDirection: true` and a classifier bound, upside-down lines read too.
import { deployment } from 'threadserve';
import type { Handle } from 'threadserve';
import type { OnnxModel } from 'threadserve/onnx';
import { decode, directionInput, findLines, postDetect, preProcess, readWithinBudget, recognitionInput, resolveOcrOptions, turnLines } from 'threadserve/ocr';
import type { ModelOutput, OcrOptions, OcrResult, OcrState, RecBatch, RecInput } from 'threadserve/ocr';
import { IMAGE_TYPES, imageBytes, ocrRequestSchema } from './request.ts';
import type { OcrRequest } from './request.ts';

export class OcrPreprocess {
  constructor(private readonly options: Partial<OcrOptions> = {}) {
    resolveOcrOptions(options); // bad options fail the replica's start, naming the option
  }
  /** `admitted`: the caller holds a memory lease for the whole request (admitOcrRequest), decode included. */
  run(bytes: Uint8Array, admitted = false) {
    return preProcess(bytes, admitted ? { ...this.options, decodeBytesPerPixel: 0 } : this.options);
  }
}

export class OcrPostprocess {
  constructor(private readonly options: Partial<OcrOptions> = {}) {
    resolveOcrOptions(options); // bad options fail the replica's start, naming the option
  }
  crops(prob: Float32Array, dims: number[], state: OcrState) {
    return postDetect(prob, dims, state, this.options);
  }
  /**
   * With the direction classifier, the step between the models splits around it: the boxes and
   * the classifier's input (none when no text was found), and the pixels back to the caller
   * (moved, not copied), since another post replica may cut the recogniser's crops.
   */
  lines(prob: Float32Array, dims: number[], state: OcrState): { boxes: Float32Array; direction: RecBatch | undefined; state: OcrState } {
    const boxes = findLines(prob, dims, state, this.options);
    return { boxes, direction: boxes.length > 0 ? directionInput(state, boxes, this.options) : undefined, state };
  }
  /** Turns the lines the classifier read as upside down, then cuts the recogniser's crops. */
  turnedCrops(direction: ModelOutput | undefined, boxes: Float32Array, state: OcrState): RecInput {
    if (direction) turnLines(direction, boxes, this.options);
    return recognitionInput(state, boxes, this.options);
  }
  decode(outputs: ModelOutput[], order: Int32Array, boxes: Float32Array): OcrResult {
    return decode(outputs, order, boxes, this.options);
  }
}

/** What the ingress is bound with: the model deployments, and the steps that run elsewhere. */
export interface OcrPipelineParts {
  detector: Handle<OnnxModel>;
  recognizer: Handle<OnnxModel>;
  /** Pre-process replicas; without them the ingress decodes and resizes in its own thread. */
  pre?: Handle<OcrPreprocess>;
  /** Post-process replicas; without them the ingress finds the lines, cuts crops and decodes. */
  post?: Handle<OcrPostprocess>;
  /** The direction classifier (ch_ppocr_mobile_v2.0_cls), required with `classifyDirection: true`. */
  classifier?: Handle<OnnxModel>;
  options?: Partial<OcrOptions>;
}

/** A step's handle, or the step's class run in the ingress's own thread (awaited alike). */
type Step<T> = Handle<T> | T;

export class OcrPipeline {
  private readonly pre: Step<OcrPreprocess>;
  private readonly detector: Handle<OnnxModel>;
  private readonly post: Step<OcrPostprocess>;
  private readonly recognizer: Handle<OnnxModel>;
  private readonly classifier: Handle<OnnxModel> | undefined;
  private readonly options: Partial<OcrOptions>;

  constructor(parts: OcrPipelineParts) {
    if (!parts?.detector || !parts.recognizer) throw new Error('OcrPipeline needs { detector, recognizer } bound (OnnxModelDeployment handles)');
    this.options = parts.options ?? {};
    if (this.options.classifyDirection && !parts.classifier) throw new Error('classifyDirection: true needs the direction classifier bound as `classifier`');
    this.detector = parts.detector;
    this.recognizer = parts.recognizer;
    this.classifier = parts.classifier;
    this.pre = parts.pre ?? new OcrPreprocess(this.options);
    this.post = parts.post ?? new OcrPostprocess(this.options);
  }

  async call(body: OcrRequest): Promise<OcrResult> {
    const bytes = imageBytes(body);
    // The request's pixels and tensors count against the process's memory budget until it
    // answers: over the budget, requests wait here (holding only their encoded bytes).
    return readWithinBudget(bytes, this.options, () => this.run(bytes));
  }

  private async run(bytes: Uint8Array): Promise<OcrResult> {
    // Every hop moves its typed arrays (pixels, tensors) to the next thread without a copy.
    const { input, dims, state } = await this.pre.run(bytes, true);
    const prob = Object.values(await this.detector.predict({ x: { data: input, dims } }))[0]!;
    const crops = this.options.classifyDirection
      ? await this.classified(prob.data as Float32Array, prob.dims, state)
      : await this.post.crops(prob.data as Float32Array, prob.dims, state);
    // One recogniser call per batch of similar-width crops; with several recogniser replicas they run in parallel.
    const outputs = await Promise.all(
      crops.batches.map(async ({ batch, dims }) => {
        const out = Object.values(await this.recognizer.predict({ x: { data: batch, dims } }))[0]!;
        return { data: out.data as Float32Array, dims: out.dims };
      }),
    );
    return this.post.decode(outputs, crops.order, crops.boxes);
  }

  private async classified(prob: Float32Array, dims: number[], state: OcrState): Promise<RecInput> {
    const found = await this.post.lines(prob, dims, state);
    let direction: ModelOutput | undefined;
    if (found.direction) {
      const { batch, dims: clsDims } = found.direction;
      const out = Object.values(await this.classifier!.predict({ x: { data: batch, dims: clsDims } }))[0]!;
      direction = { data: out.data as Float32Array, dims: out.dims };
    }
    return this.post.turnedCrops(direction, found.boxes, found.state);
  }
}

// Pre- and post-process are a few percent of the work: by default the ingress runs them in its
// own thread (examples/ocr/app.ts), since each replica is one more thread (~20 MB with its
// heap); these deployments are for when those steps need their own scale.
export const OcrPre = deployment(OcrPreprocess, { name: 'OcrPre', numReplicas: 1, maxOngoingRequests: 2 });
export const OcrPost = deployment(OcrPostprocess, { name: 'OcrPost', numReplicas: 1, maxOngoingRequests: 2 });
export const OcrIngress = deployment(OcrPipeline, {
  name: 'Ocr',
  route: '/ocr',
  maxOngoingRequests: 32,
  requestSchema: ocrRequestSchema,
  acceptContentTypes: IMAGE_TYPES,
  bodyLimit: 16 * 1024 * 1024,
});
