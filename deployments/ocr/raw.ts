/**
 * The simplest correct OCR: detection and recognition back to back on the calling thread,
 * two onnxruntime-node sessions, no serving, no batching across requests. It is the "raw
 * limit" baseline a served deployment is measured against, and the reference its answers
 * must match.
 */
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { assertCharsetMatches, loadCharset, type Charset } from './ctc.ts';
import { decode, MODEL_PATHS, postDetect, preProcess, type OcrOptions, type OcrResult } from './steps.ts';

export interface RawOcrOptions extends Partial<OcrOptions> {
  /** Threads each session may use inside one operator (onnxruntime intra-op pool). */
  intraOpNumThreads?: number;
  detModelPath?: string;
  recModelPath?: string;
  keysPath?: string;
}

/** Milliseconds spent in each step of one run. */
export interface StepTimings {
  pre: number;
  detect: number;
  post: number;
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
  const { intraOpNumThreads = 1, detModelPath, recModelPath, keysPath, ...ocrOpts } = options;
  const sessionOptions: InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    intraOpNumThreads,
    interOpNumThreads: 1, // these graphs are one long chain: a second inter-op thread idles
    graphOptimizationLevel: 'all',
  };
  const det = await InferenceSession.create(detModelPath ?? MODEL_PATHS.det, sessionOptions);
  let rec: InferenceSession;
  try {
    rec = await InferenceSession.create(recModelPath ?? MODEL_PATHS.rec, sessionOptions);
  } catch (err) {
    await det.release();
    throw err;
  }
  const charset: Charset = loadCharset(keysPath ?? MODEL_PATHS.keys);
  let checked = false;

  const inFlight = new Set<Promise<unknown>>();
  let closed = false;

  async function runTimed(imageBytes: Uint8Array): Promise<OcrResult & { timings: StepTimings }> {
    const t: StepTimings = { pre: 0, detect: 0, post: 0, recognise: 0, ctc: 0 };
    let t0 = performance.now();
    const lap = (k: keyof StepTimings) => {
      const now = performance.now();
      t[k] = now - t0;
      t0 = now;
    };
    const pre = await preProcess(imageBytes, ocrOpts);
    lap('pre');
    const detOut = await det.run({ [det.inputNames[0]!]: new Tensor('float32', pre.input, pre.dims) });
    const prob = detOut[det.outputNames[0]!]!;
    lap('detect');
    const recIn = postDetect(prob.data as Float32Array, prob.dims, pre.state, ocrOpts);
    prob.dispose();
    lap('post');
    if (recIn.dims[0] === 0) return { lines: [], timings: t };
    const recOut = await rec.run({ [rec.inputNames[0]!]: new Tensor('float32', recIn.batch, recIn.dims) });
    const probs = recOut[rec.outputNames[0]!]!;
    lap('recognise');
    if (!checked) {
      // A key file that does not fit the model would decode to plausible garbage: fail loudly.
      assertCharsetMatches(charset, probs.dims[2]!);
      checked = true;
    }
    const result = decode(probs.data as Float32Array, probs.dims, recIn.boxes, ocrOpts, charset);
    probs.dispose();
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
      await Promise.all([det.release(), rec.release()]);
    },
  };
}
