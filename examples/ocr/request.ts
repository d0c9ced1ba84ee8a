// The three ways a client can send an image to /ocr, reduced to its bytes: the raw body with
// an image content type, a multipart form with an `image` file, or JSON { image: base64 }.
import { z } from 'zod';
import { HttpError } from 'threadserve';

export const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif', 'image/tiff', 'multipart/form-data'];

/** Validated on the main thread before any replica sees the request. */
export const ocrRequestSchema = z.union(
  [z.instanceof(Uint8Array), z.object({ image: z.string().min(1, 'image must not be empty') }), z.object({ image: z.instanceof(Uint8Array) })],
  { error: 'send the image as the raw body (image/png, image/jpeg...), as a multipart file field "image", or as JSON { "image": "<base64>" }' },
);
export type OcrRequest = z.infer<typeof ocrRequestSchema>;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export function imageBytes(body: OcrRequest): Uint8Array {
  if (body instanceof Uint8Array) return body;
  if (body.image instanceof Uint8Array) return body.image;
  const text = body.image.replace(/^data:[^;]+;base64,/, '').replace(/\s+/g, '');
  if (!BASE64.test(text)) throw new HttpError(400, 'image is not valid base64');
  return Buffer.from(text, 'base64');
}
