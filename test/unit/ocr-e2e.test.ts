// End to end on the real PP-OCRv4 models: text rendered with sharp from SVG must read back.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { createRawOcr, type RawOcr } from '../../deployments/ocr/raw.ts';
import { preProcess, resolveOcrOptions } from '../../deployments/ocr/steps.ts';
import type { OcrOptions } from '../../deployments/ocr/steps.ts';
import { ownsWholeBuffer } from 'threadserve';

interface Render {
  lines: string[];
  width: number;
  height: number;
  size: number;
  x?: number;
  gap?: number;
}

/** Black DejaVu Sans text on white, one <text> per line, as a PNG. */
async function render({ lines, width, height, size, x = 20, gap = 1.5 }: Render): Promise<Uint8Array> {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const texts = lines
    .map((l, i) => `<text x="${x}" y="${size * 1.2 + i * size * gap}" font-family="DejaVu Sans" font-size="${size}" fill="#000">${esc(l)}</text>`)
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#fff"/>${texts}</svg>`;
  return new Uint8Array(await sharp(Buffer.from(svg)).png().toBuffer());
}

let ocr: RawOcr;
before(async () => {
  ocr = await createRawOcr({ intraOpNumThreads: 1 });
});
after(async () => {
  await ocr.close();
});

test('one line: "Hello World 123"', async () => {
  const png = await render({ lines: ['Hello World 123'], width: 640, height: 120, size: 40 });
  const { lines } = await ocr.run(png);
  assert.deepEqual(
    lines.map((l) => l.text),
    ['Hello World 123'],
  );
  const [line] = lines;
  assert.ok(line!.score > 0.9, `score ${line!.score}`);
  // The box surrounds the glyphs: starts near x=20, spans the baseline at y=48.
  const [[x0, y0], , [x2, y2]] = line!.box;
  assert.ok(x0 >= 5 && x0 <= 30 && x2 > 300 && x2 < 360, `box x ${x0}..${x2}`);
  assert.ok(y0 < 20 && y2 > 48 && y2 < 70, `box y ${y0}..${y2}`);
});

test('two lines come back top to bottom', async () => {
  const png = await render({ lines: ['The quick brown fox', 'jumps over 42 lazy dogs'], width: 640, height: 160, size: 40 });
  const { lines } = await ocr.run(png);
  assert.deepEqual(
    lines.map((l) => l.text),
    ['The quick brown fox', 'jumps over 42 lazy dogs'],
  );
  assert.ok(lines[0]!.box[0][1] < lines[1]!.box[0][1]);
});

test('three lines in a 640x200 image (the benchmark image)', async () => {
  const png = await render({ lines: ['Invoice #2024-07', 'Total due: 1,250.00 EUR', 'Thank you'], width: 640, height: 200, size: 36, gap: 1.6 });
  const { lines } = await ocr.run(png);
  assert.deepEqual(
    lines.map((l) => l.text),
    ['Invoice #2024-07', 'Total due: 1,250.00 EUR', 'Thank you'],
  );
});

test('a large image is shrunk for detection and boxes map back to original pixels', async () => {
  const png = await render({ lines: ['Hello World 123'], width: 1920, height: 400, size: 120, x: 300 });
  const { lines } = await ocr.run(png);
  assert.deepEqual(
    lines.map((l) => l.text),
    ['Hello World 123'],
  );
  const [[x0], , [x2, y2]] = lines[0]!.box;
  assert.ok(x0 > 270 && x0 < 330 && x2 > 1200 && x2 < 1330 && y2 > 144 && y2 < 200, `box ${JSON.stringify(lines[0]!.box)}`);
});

test('a blank image has no lines', async () => {
  const png = new Uint8Array(
    await sharp({ create: { width: 320, height: 96, channels: 3, background: '#fff' } })
      .png()
      .toBuffer(),
  );
  assert.deepEqual(await ocr.run(png), { lines: [] });
});

test('step outputs are transferable typed arrays', async () => {
  const png = await render({ lines: ['abc'], width: 200, height: 64, size: 30 });
  const pre = await preProcess(png);
  assert.deepEqual(pre.dims, [1, 3, 64, 224]);
  assert.ok(ownsWholeBuffer(pre.input) && ownsWholeBuffer(pre.state.image.data), 'each step output has a buffer of its own');
  const list = [pre.input.buffer as ArrayBuffer, pre.state.image.data.buffer as ArrayBuffer];
  const moved = structuredClone(pre, { transfer: list });
  assert.equal(pre.input.length, 0, 'the sender lost its buffer: it moved, not copied');
  assert.equal(moved.input.length, 3 * 64 * 224);
  assert.equal(moved.state.image.data.length, 200 * 64 * 3);
});

test('close waits for runs in flight and refuses new ones', async () => {
  const other = await createRawOcr({ intraOpNumThreads: 1 });
  const png = await render({ lines: ['Hello'], width: 200, height: 64, size: 30 });
  const running = other.run(png);
  await other.close();
  assert.deepEqual(
    (await running).lines.map((l) => l.text),
    ['Hello'],
  );
  await assert.rejects(other.run(png), /closed/);
});

test('options merge key by key: overriding one setting keeps the others', () => {
  const o = resolveOcrOptions({ db: { thresh: 0.4 }, crop: { minWidth: 0 }, direction: { threshold: 0.8 } });
  assert.deepEqual(o.db, { thresh: 0.4 });
  assert.deepEqual(o.crop, { minWidth: 0 });
  assert.deepEqual(o.direction, { threshold: 0.8 });
  assert.equal(o.classifyDirection, false);
  assert.equal(o.maxPixels, 16_000_000);
});

test('bad options fail with OptionsError naming each wrong option', () => {
  const bad = (opts: unknown, pattern: RegExp) =>
    assert.throws(
      () => resolveOcrOptions(opts as Partial<OcrOptions>),
      (e: Error & { code?: string }) => e.code === 'INVALID_OPTIONS' && pattern.test(e.message),
    );
  bad({ dropScore: 2 }, /OCR options: dropScore: .*1/);
  bad({ db: { thresh: 'high' } }, /db\.thresh/);
  bad({ crop: { marginY: -1 } }, /crop\.marginY/);
  bad({ crop: { marginz: 0.2 } }, /crop.*marginz/);
  bad({ bucketRatio: 0.5 }, /bucketRatio/);
  bad({ maxBatchColumns: 0 }, /maxBatchColumns/);
  bad({ classifyDirection: 'yes' }, /classifyDirection/);
  assert.equal(resolveOcrOptions({ bucketRatio: Infinity }).bucketRatio, Infinity);
  assert.equal(resolveOcrOptions({ maxBatchColumns: Infinity }).maxBatchColumns, Infinity);
});
