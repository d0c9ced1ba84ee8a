/**
 * The simplest correct OCR: detection and recognition back to back on the calling thread,
 * two onnxruntime-node sessions, no serving, no batching across requests. It is the "raw
 * limit" baseline a served deployment is measured against, and the reference its answers
 * must match.
 */
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { assertCharsetMatches, loadCharset, type Charset } from './ctc.ts';
import {
  decode,
  directionInput,
  findLines,
  MODEL_PATHS,
  preProcess,
  recognitionInput,
  resolveOcrOptions,
  turnLines,
  type ModelOutput,
  type OcrOptions,
  type OcrResult,
} from './steps.ts';

export interface RawOcrOptions extends Partial<OcrOptions> {
  /** Threads each session may use inside one operator (onnxruntime intra-op pool). */
  intraOpNumThreads?: number;
  detModelPath?: string;
  recModelPath?: string;
  /** The direction classifier, loaded only with `classifyDirection: true`. */
  clsModelPath?: string;
  keysPath?: string;
}

/** Milliseconds spent in each step of one run. */
export interface StepTimings {
  pre: number;
  detect: number;
  post: number;
  /** The direction classifier with its crops (0 unless classifyDirection). */
  classify: number;
  recognise: number;
  ctc: number;
}

export interface RawOcr {
  run(imageBytes: Uint8Array): Promise<OcrResult>;
  /** Same as run, plus where the time went (for benchmarks). */
  runTimed(imageBytes: Uint8Array): Promise<OcrResult & { timings: StepTimings }>;
  /** Waits for runs in flight, then frees both sessions. */
  close(): Promise<void>;
}

export async function createRawOcr(options: RawOcrOptions = {}): Promise<RawOcr> {
  const { intraOpNumThreads = 1, detModelPath, recModelPath, clsModelPath, keysPath, ...ocrOpts } = options;
  const classify = resolveOcrOptions(ocrOpts).classifyDirection;
  const sessionOptions: InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    intraOpNumThreads,
    interOpNumThreads: 1, // these graphs are one long chain: a second inter-op thread idles
    graphOptimizationLevel: 'all',
  };
  const det = await InferenceSession.create(detModelPath ?? MODEL_PATHS.det, sessionOptions);
  let rec: InferenceSession;
  let cls: InferenceSession | undefined;
  try {
    rec = await InferenceSession.create(recModelPath ?? MODEL_PATHS.rec, sessionOptions);
  } catch (err) {
    await det.release();
    throw err;
  }
  if (classify) {
    try {
      cls = await InferenceSession.create(clsModelPath ?? MODEL_PATHS.cls, sessionOptions);
    } catch (err) {
      await Promise.all([det.release(), rec.release()]);
      throw err;
    }
  }
  const charset: Charset = loadCharset(keysPath ?? MODEL_PATHS.keys);
  let checked = false;

  const inFlight = new Set<Promise<unknown>>();
  let closed = false;

  async function runTimed(imageBytes: Uint8Array): Promise<OcrResult & { timings: StepTimings }> {
    const t: StepTimings = { pre: 0, detect: 0, post: 0, classify: 0, recognise: 0, ctc: 0 };
    let t0 = performance.now();
    const lap = (k: keyof StepTimings) => {
      const now = performance.now();
      t[k] += now - t0;
      t0 = now;
    };
    const run = async (session: InferenceSession, data: Float32Array, dims: readonly number[]): Promise<ModelOutput> => {
      const out = (await session.run({ [session.inputNames[0]!]: new Tensor('float32', data, dims) }))[session.outputNames[0]!]!;
      return { data: out.data as Float32Array, dims: out.dims };
    };
    const pre = await preProcess(imageBytes, ocrOpts);
    lap('pre');
    const prob = await run(det, pre.input, pre.dims);
    lap('detect');
    const boxes = findLines(prob.data, prob.dims, pre.state, ocrOpts);
    lap('post');
    if (boxes.length === 0) return { lines: [], timings: t };
    if (cls) {
      const input = directionInput(pre.state, boxes, ocrOpts);
      turnLines(await run(cls, input.batch, input.dims), boxes, ocrOpts);
      lap('classify');
    }
    const recIn = recognitionInput(pre.state, boxes, ocrOpts);
    lap('post');
    const outputs: ModelOutput[] = [];
    for (const b of recIn.batches) outputs.push(await run(rec, b.batch, b.dims));
    lap('recognise');
    if (!checked) {
      // A key file that does not fit the model would decode to plausible garbage: fail loudly.
      assertCharsetMatches(charset, outputs[0]!.dims[2]!);
      checked = true;
    }
    const result = decode(outputs, recIn.order, recIn.boxes, ocrOpts, charset);
    lap('ctc');
    return { ...result, timings: t };
  }

  // Track every run so close() never releases a session under a native run (that aborts the
  // process), and refuse new runs once closing.
  function track<T>(p: Promise<T>): Promise<T> {
    inFlight.add(p);
    const done = () => inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  return {
    runTimed(imageBytes) {
      if (closed) return Promise.reject(new Error('raw OCR is closed'));
      return track(runTimed(imageBytes));
    },
    async run(imageBytes) {
      if (closed) throw new Error('raw OCR is closed');
      const { lines } = await track(runTimed(imageBytes));
      return { lines };
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...inFlight]);
      await Promise.all([det.release(), rec.release(), cls?.release()]);
    },
  };
}
