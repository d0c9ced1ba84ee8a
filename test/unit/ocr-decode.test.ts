// Image decoding: bad input must become HttpError 400/413/415, never a crash or a decoded bomb.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { HttpError } from 'threadserve';
import { decodeImage } from '../../deployments/image/decode.ts';

const LIMIT = { maxPixels: 1_000_000 };

async function rejectsWith(p: Promise<unknown>, status: number, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof HttpError, `expected HttpError, got ${String(err)}`);
    assert.equal(err.statusCode, status, err.message);
    assert.match(err.message, message);
    return true;
  });
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write(type, 4, 'latin1');
  chunk.set(data, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + data.length)), 8 + data.length);
  return chunk;
}

/**
 * A 'PNG bomb' stand-in: a valid header declaring width x height, then a few bytes of
 * compressed data for a single row. Decoding it would fail (400); a 413 shows the size was
 * refused from the header first.
 */
function pngHeaderOnly(width: number, height: number): Uint8Array {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter, no interlace
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const idat = deflateSync(Buffer.alloc(64));
  return new Uint8Array(Buffer.concat([signature, pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', new Uint8Array(0))]));
}

test('empty bytes -> 400', async () => {
  await rejectsWith(decodeImage(new Uint8Array(0), LIMIT), 400, /empty/);
});

test('random bytes -> 400 naming an unreadable image', async () => {
  const bytes = new Uint8Array(4096);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
  await rejectsWith(decodeImage(bytes, LIMIT), 400, /not a readable image/);
});

test('a header declaring 50000x50000 -> 413 from the header alone, before any pixel is decoded', async () => {
  // The file has no pixel data at all: decoding would fail with 400, so a 413 proves the size
  // check runs on metadata first.
  await rejectsWith(decodeImage(pngHeaderOnly(50_000, 50_000), LIMIT), 413, /50000x50000.*over the limit of 1000000/);
  // Control: the same kind of file within the limit is indeed undecodable.
  await rejectsWith(decodeImage(pngHeaderOnly(500, 500), LIMIT), 400, /corrupt or truncated/);
});

test('a real image one pixel over maxPixels -> 413; at the limit it decodes', async () => {
  const png = await sharp({ create: { width: 1000, height: 1000, channels: 3, background: '#fff' } })
    .png()
    .toBuffer();
  await rejectsWith(decodeImage(new Uint8Array(png), { maxPixels: 999_999 }), 413, /1000x1000/);
  const ok = await decodeImage(new Uint8Array(png), { maxPixels: 1_000_000 });
  assert.equal(ok.width * ok.height, 1_000_000);
});

test('truncated image data -> 400', async () => {
  const noisy = Buffer.alloc(64 * 64 * 3);
  for (let i = 0; i < noisy.length; i++) noisy[i] = (i * 7919) & 255;
  const png = await sharp(noisy, { raw: { width: 64, height: 64, channels: 3 } })
    .png()
    .toBuffer();
  await rejectsWith(decodeImage(new Uint8Array(png.subarray(0, png.length / 2)), LIMIT), 400, /corrupt or truncated/);
});

test('SVG is refused as unsupported (415)', async () => {
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
  await rejectsWith(decodeImage(new Uint8Array(svg), LIMIT), 415, /svg/);
});

test('decodes to tightly packed RGB: colour, greyscale and transparent inputs', async () => {
  const raw = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]); // 2x2
  const png = await sharp(raw, { raw: { width: 2, height: 2, channels: 3 } })
    .png()
    .toBuffer();
  const rgb = await decodeImage(new Uint8Array(png), LIMIT);
  assert.deepEqual([rgb.width, rgb.height], [2, 2]);
  assert.deepEqual(Array.from(rgb.data), Array.from(raw));
  assert.equal(rgb.data.byteOffset, 0);
  assert.equal(rgb.data.buffer.byteLength, 12, 'owns its buffer, so it can be transferred');

  const grey = await sharp(Buffer.from([0, 128, 255]), { raw: { width: 3, height: 1, channels: 1 } })
    .png()
    .toBuffer();
  assert.deepEqual(Array.from((await decodeImage(new Uint8Array(grey), LIMIT)).data), [0, 0, 0, 128, 128, 128, 255, 255, 255]);

  const clear = await sharp({ create: { width: 1, height: 1, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .png()
    .toBuffer();
  assert.deepEqual(Array.from((await decodeImage(new Uint8Array(clear), LIMIT)).data), [255, 255, 255], 'transparent -> white');
});
