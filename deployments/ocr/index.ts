/** `threadserve/ocr`: the PP-OCRv4 steps (pre-process, detection post-process, CTC decoding) and a raw two-model pipeline. */
export {
  MODEL_PATHS,
  OCR_BYTES_PER_PIXEL,
  OCR_DEFAULTS,
  admitOcrRequest,
  decode,
  directionInput,
  findLines,
  postDetect,
  ppocrCharset,
  preProcess,
  readWithinBudget,
  recognitionInput,
  resolveOcrOptions,
  turnLines,
} from './steps.ts';
export type { Box, DetInput, ModelOutput, OcrLine, OcrOptions, OcrResult, OcrState, RecBatch, RecInput } from './steps.ts';
export { createRawOcr } from './raw.ts';
export type { RawOcr, RawOcrOptions, StepTimings } from './raw.ts';
export { ctcGreedyDecode, loadCharset, parseCharset } from './ctc.ts';
export type { Charset, DecodedText } from './ctc.ts';
