/**
 * The text direction classifier that ships with the models (ch_ppocr_mobile_v2.0_cls): is a
 * line upright (0 degrees) or upside down (180)? Lines it calls upside down with enough
 * confidence are read turned by 180 degrees, as PaddleOCR's `use_angle_cls` does.
 *
 *   directionBatch(image, boxes)          -> classifier input [N, 3, 48, 192]
 *   [classifier model]                    -> [N, 2] softmax over (0, 180)
 *   turnUpsideDownLines(out, dims, boxes) -> boxes of upside-down lines turned in place
 */
import { cropBatch, type CropBatch, type CropOptions, type RgbImage } from './crop.ts';

export interface DirectionOptions {
  /** The classifier's input width; longer lines are squeezed into it (PaddleOCR: 3x48x192). */
  width: number;
  /** A line is turned only when the classifier says 180 with at least this probability (PaddleOCR's cls_thresh). */
  threshold: number;
}

export const DIRECTION_DEFAULTS: DirectionOptions = { width: 192, threshold: 0.9 };

/**
 * Crops for the classifier: the boxes as they are (no margin, no stretch: unlike the recogniser, the
 * classifier was trained on the detector's tight crops, and with the recogniser's margins it
 * calls long upside-down lines upright), squeezed or padded to one width.
 */
export function directionBatch(image: RgbImage, boxes: Float32Array, crop: Partial<CropOptions> = {}, options: Partial<DirectionOptions> = {}): CropBatch {
  const { width } = { ...DIRECTION_DEFAULTS, ...options };
  return cropBatch(image, boxes, boxes.length / 8, { ...crop, marginX: 0, marginY: 0, stretchX: 1, minWidth: width, maxWidth: width });
}

/**
 * Turns, in place, the boxes whose line the classifier reads as upside down: the corners
 * rotate by two places (tl,tr,br,bl -> br,bl,tl,tr), so cropping reads the line turned by 180
 * degrees and the box's first corner stays the text's top-left. Returns how many were turned.
 */
export function turnUpsideDownLines(probs: Float32Array, dims: readonly number[], boxes: Float32Array, options: Partial<DirectionOptions> = {}): number {
  const { threshold } = { ...DIRECTION_DEFAULTS, ...options };
  const count = boxes.length / 8;
  if (dims.length !== 2 || dims[0] !== count || dims[1] !== 2) {
    throw new Error(`direction classifier output dims [${dims.join(',')}] do not match ${count} boxes x 2 classes`);
  }
  let turned = 0;
  for (let i = 0; i < count; i++) {
    if (probs[2 * i + 1]! > probs[2 * i]! && probs[2 * i + 1]! >= threshold) {
      const b = boxes.subarray(i * 8, i * 8 + 8);
      const copy = Float32Array.from(b);
      b.set(copy.subarray(4, 8), 0);
      b.set(copy.subarray(0, 4), 4);
      turned++;
    }
  }
  return turned;
}
