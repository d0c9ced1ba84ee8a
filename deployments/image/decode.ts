/**
 * Image bytes -> raw RGB pixels (HWC, 8 bits), on sharp/libvips.
 *
 * Request bodies are untrusted, so the order of checks matters:
 *  1. reject empty input before touching sharp;
 *  2. read only the header (`metadata()`), which costs no pixel decoding, and refuse images
 *     whose declared width x height exceeds `maxPixels` (413): a few KB of PNG or JPEG can
 *     declare gigapixels, and decoding it first is exactly the decompression bomb we stop;
 *  3. decode with `limitInputPixels` set as a second line of defence (formats whose header
 *     sharp reads differently from the decoder, multi-page files);
 *  4. map every sharp failure to a 400 with a message naming the problem, never a 500.
 * Between 2 and 3, the decode's memory is admitted against the process's memory budget
 * (`admitMemory`): a request that would pass it waits, then answers 503, instead of decoding.
 */
import sharp, { type Metadata } from 'sharp';
import { HttpError, admitMemory, ownsWholeBuffer } from 'threadserve';
import type { MemoryLease } from 'threadserve';

export interface DecodedImage {
  /** RGB, row-major, 3 bytes per pixel; owns its buffer (offset 0), so it can be transferred. */
  data: Uint8Array;
  width: number;
  height: number;
}

export interface DecodeOptions {
  /** Largest width*height accepted, checked from the header before decoding. */
  maxPixels: number;
  /**
   * Container formats accepted (sharp's names). Raster formats only by default: SVG and PDF
   * are programs more than pictures (external references, unbounded render cost), and
   * nothing an OCR client sends needs them.
   */
  formats?: readonly string[];
  /**
   * Bytes per pixel admitted against the memory budget while decoding (default 4: the RGB output
   * and libvips's working rows, measured at ~3.3 per pixel on 16 MP PNGs); 0 admits nothing.
   */
  memoryBytesPerPixel?: number;
}

export interface ImageHeader {
  width: number;
  height: number;
  format: string;
}

export const DECODE_BYTES_PER_PIXEL = 4;

export const DEFAULT_FORMATS: readonly string[] = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'heif'];

// Text on a transparent PNG is usually dark-on-nothing: flattening onto white keeps it
// readable, where dropping the alpha channel would leave black text on black.
const FLATTEN_BACKGROUND = { r: 255, g: 255, b: 255 };

/**
 * Reads the header only (no pixels are decoded): 400 for empty or unreadable input, 415 for a
 * format not in `formats`, 413 when width x height is over `maxPixels`.
 */
export async function readImageHeader(bytes: Uint8Array, options: DecodeOptions): Promise<ImageHeader> {
  const { maxPixels } = options;
  const formats = options.formats ?? DEFAULT_FORMATS;
  if (!Number.isFinite(maxPixels) || maxPixels <= 0) {
    throw new RangeError(`maxPixels must be a positive number, got ${maxPixels}`);
  }
  if (!(bytes instanceof Uint8Array)) {
    throw new HttpError(400, 'image body must be binary data');
  }
  if (bytes.byteLength === 0) {
    throw new HttpError(400, 'image body is empty');
  }

  // sharp reads a Uint8Array view as-is (no copy); it never writes to the input.
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new HttpError(400, `not a readable image: ${describe(err)}`);
  }
  if (meta.format === undefined || !formats.includes(meta.format)) {
    throw new HttpError(415, `unsupported image format '${meta.format ?? 'unknown'}' (accepted: ${formats.join(', ')})`);
  }
  const width = meta.width ?? 0;
  // For multi-page files (GIF, TIFF) `height` can be all pages stacked; we decode page 0 only.
  const height = meta.pageHeight ?? meta.height ?? 0;
  if (!(width > 0 && height > 0)) {
    throw new HttpError(400, `image header declares no size (${width}x${height})`);
  }
  if (width * height > maxPixels) {
    throw new HttpError(413, `image is ${width}x${height} = ${width * height} pixels, over the limit of ${maxPixels}`);
  }
  return { width, height, format: meta.format };
}

/**
 * Reads an image's header and admits `bytesPerPixel` x its pixels against the process's memory
 * budget, before anything is decoded. Hold the lease for as long as the request keeps pixels
 * (or tensors made from them), and release it in a `finally`.
 */
export async function admitImage(bytes: Uint8Array, options: DecodeOptions & { bytesPerPixel: number }): Promise<ImageHeader & { lease: MemoryLease }> {
  const header = await readImageHeader(bytes, options);
  const lease = await admitMemory(header.width * header.height * options.bytesPerPixel, `a ${header.width}x${header.height} image`);
  return { ...header, lease };
}

export async function decodeImage(bytes: Uint8Array, options: DecodeOptions): Promise<DecodedImage> {
  const { maxPixels } = options;
  const perPixel = options.memoryBytesPerPixel ?? DECODE_BYTES_PER_PIXEL;
  const { width, height } = await readImageHeader(bytes, options);
  const lease = perPixel > 0 ? await admitMemory(width * height * perPixel, `decoding a ${width}x${height} image`) : undefined;
  try {
    return await decodePixels(bytes, maxPixels);
  } finally {
    lease?.release();
  }
}

async function decodePixels(bytes: Uint8Array, maxPixels: number): Promise<DecodedImage> {
  try {
    const { data, info } = await sharp(bytes, {
      limitInputPixels: maxPixels,
      failOn: 'error', // truncated or corrupt data is an error, not a half-grey picture
      pages: 1,
    })
      .autoOrient() // honour EXIF orientation: phone photos are often stored sideways
      .flatten({ background: FLATTEN_BACKGROUND })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) {
      throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
    }
    // Re-check after orientation: dimensions may swap but the pixel count must still fit.
    if (info.width * info.height > maxPixels) {
      throw new HttpError(413, `decoded image is ${info.width}x${info.height}, over the limit of ${maxPixels} pixels`);
    }
    return { data: ownedView(data), width: info.width, height: info.height };
  } catch (err) {
    if (err instanceof HttpError) throw err;
    const message = describe(err);
    if (/pixel limit/i.test(message)) {
      throw new HttpError(413, `image exceeds the limit of ${maxPixels} pixels`);
    }
    throw new HttpError(400, `corrupt or truncated image: ${message}`);
  }
}

/** A plain Uint8Array over the same memory; copies only if the Buffer is a pool slice. */
function ownedView(buf: Buffer): Uint8Array {
  if (ownsWholeBuffer(buf)) return new Uint8Array(buf.buffer, 0, buf.byteLength);
  return new Uint8Array(buf); // copy: a pooled slice cannot be transferred on its own
}

function describe(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  // libvips messages span lines and repeat the loader name; the first line says enough.
  return text.split('\n')[0]!.trim();
}
