/** `threadserve/image`: image decoding with a pixel limit checked before decoding, and tensor helpers. */
export { DEFAULT_FORMATS, decodeImage } from './decode.ts';
export type { DecodedImage, DecodeOptions } from './decode.ts';
export { PADDLE_DET_NORM, PADDLE_REC_NORM, channelAffine, planDetSize, resizeRgb, toChw } from './tensor.ts';
export type { DetSize, Normalization } from './tensor.ts';
