/** `threadserve/image`: image decoding with a pixel limit and a memory budget checked before decoding, and tensor helpers. */
export { DECODE_BYTES_PER_PIXEL, DEFAULT_FORMATS, admitImage, decodeImage, readImageHeader } from './decode.ts';
export type { DecodedImage, DecodeOptions, ImageHeader } from './decode.ts';
export { PADDLE_DET_NORM, PADDLE_REC_NORM, channelAffine, planDetSize, resizeRgb, toChw } from './tensor.ts';
export type { DetSize, Normalization } from './tensor.ts';
