// examples/ocr over HTTP, grouped and separated (pre/post in the ingress, or on their own replicas): rendered text reads back (upside down too, with
// the direction classifier); bad images get 4xx.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { serve } from 'threadserve';
import { grouped, groupedWithDirection, separated, separatedSteps, separatedWithDirection } from '../../examples/ocr/app.ts';
import { OcrPipeline } from '../../examples/ocr/separated.ts';
import { pngDeclaring, renderText } from '../fixtures/render-text.ts';

function multipart(field: string, data: Buffer, type: string) {
  const boundary = '----threadserve-test';
  const head = `--${boundary}\r\ncontent-disposition: form-data; name="${field}"; filename="page.png"\r\ncontent-type: ${type}\r\n\r\n`;
  const body = Buffer.concat([Buffer.from(head), data, Buffer.from(`\r\n--${boundary}--\r\n`)]);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

for (const [form, app] of [
  ['separated', separated],
  ['separated, every step on its own replicas', separatedSteps],
  ['grouped', grouped],
] as const) {
  describe(`examples/ocr (${form})`, () => {
    it('reads rendered text sent raw, as multipart and as base64 JSON', async () => {
      const s = await serve.run(app, { listen: false, logLevel: 'silent' });
      try {
        const png = await renderText(['Hello World 123', 'threadserve reads this']);
        const raw = await s.http.inject({ method: 'POST', url: '/ocr', payload: png, headers: { 'content-type': 'image/png' } });
        assert.equal(raw.statusCode, 200, raw.body);
        const lines = raw.json().lines as Array<{ text: string; score: number; box: number[][] }>;
        assert.deepEqual(
          lines.map((l) => l.text),
          ['Hello World 123', 'threadserve reads this'],
        );
        assert.ok(lines[0]!.box[0]![1]! < lines[1]!.box[0]![1]!, 'top to bottom');
        assert.ok(lines.every((l) => l.score > 0.8));

        const m = multipart('image', png, 'image/png');
        const viaForm = await s.http.inject({ method: 'POST', url: '/ocr', payload: m.body, headers: { 'content-type': m.contentType } });
        assert.equal(viaForm.statusCode, 200, viaForm.body);
        assert.deepEqual(viaForm.json(), raw.json());

        const viaJson = await s.http.inject({ method: 'POST', url: '/ocr', payload: { image: png.toString('base64') } });
        assert.equal(viaJson.statusCode, 200, viaJson.body);
        assert.deepEqual(viaJson.json(), raw.json());

        const blank = await sharp({ create: { width: 200, height: 100, channels: 3, background: '#fff' } })
          .png()
          .toBuffer();
        const none = await s.http.inject({ method: 'POST', url: '/ocr', payload: blank, headers: { 'content-type': 'image/png' } });
        assert.deepEqual(none.json(), { lines: [] });
      } finally {
        await s.close();
      }
    });

    it('answers bad images with a clear 4xx and keeps serving', async () => {
      const s = await serve.run(app, { listen: false, logLevel: 'silent' });
      try {
        const bomb = pngDeclaring(20000, 20000);
        const cases: Array<[string, Buffer | string | object, string, number, RegExp]> = [
          ['corrupt bytes', Buffer.from('definitely not an image'), 'image/png', 400, /image/i],
          ['truncated PNG', (await renderText(['cut'])).subarray(0, 60), 'image/png', 400, /image/i],
          ['empty body', Buffer.alloc(0), 'image/png', 400, /empty|image/i],
          ['too many pixels', bomb, 'image/png', 413, /pixels/i],
          ['not base64', { image: '%%%not base64%%%' }, 'application/json', 400, /base64/],
          ['no image field', { picture: 'abc' }, 'application/json', 400, /send the image as the raw body/],
          ['wrong type', 'hello', 'text/plain', 415, /text\/plain/],
        ];
        for (const [what, payload, type, status, message] of cases) {
          const r = await s.http.inject({ method: 'POST', url: '/ocr', payload: payload as string, headers: { 'content-type': type } });
          assert.equal(r.statusCode, status, `${what}: ${r.body}`);
          assert.match(r.json().error.message, message, what);
        }
        const png = await renderText(['still serving']);
        const ok = await s.http.inject({ method: 'POST', url: '/ocr', payload: png, headers: { 'content-type': 'image/png' } });
        assert.deepEqual(
          ok.json().lines.map((l: { text: string }) => l.text),
          ['still serving'],
        );
      } finally {
        await s.close();
      }
    });
  });
}

describe('examples/ocr with the direction classifier', () => {
  for (const [form, app] of [
    ['separated', separatedWithDirection],
    ['grouped', groupedWithDirection],
  ] as const) {
    it(`reads an upside-down image (${form}), and upright ones as before`, async () => {
      const s = await serve.run(app, { listen: false, logLevel: 'silent' });
      try {
        const text = ['Invoice 4471 total 318.20', 'PACK MY BOX WITH FIVE'];
        const upright = await renderText(text);
        const turned = await sharp(upright).rotate(180).png().toBuffer();
        const read = async (png: Buffer) => {
          const r = await s.http.inject({ method: 'POST', url: '/ocr', payload: png, headers: { 'content-type': 'image/png' } });
          assert.equal(r.statusCode, 200, r.body);
          return r.json().lines as Array<{ text: string; box: number[][] }>;
        };
        const lines = await read(turned);
        // Upside down, the last line of the text is the top one of the image: rows come reversed.
        assert.deepEqual(
          lines.map((l) => l.text),
          [...text].reverse(),
        );
        // The first corner of each box is the text's top-left, the image's bottom-right now.
        const [[x0, y0], , [x2, y2]] = lines[0]!.box as [[number, number], unknown, [number, number]];
        assert.ok(x0! > x2! && y0! > y2!, `box ${JSON.stringify(lines[0]!.box)}`);
        assert.deepEqual(
          (await read(upright)).map((l) => l.text),
          text,
        );
      } finally {
        await s.close();
      }
    });
  }

  it('refuses classifyDirection without a classifier bound, and a pipeline without its models (separated)', () => {
    const handle = {} as never;
    assert.throws(
      () => new OcrPipeline({ detector: handle, recognizer: handle, options: { classifyDirection: true } }),
      /classifyDirection: true needs the direction classifier bound as `classifier`/,
    );
    assert.throws(() => new OcrPipeline({ detector: handle } as never), /OcrPipeline needs \{ detector, recognizer \} bound/);
    assert.throws(() => new OcrPipeline(undefined as never), /OcrPipeline needs \{ detector, recognizer \} bound/);
  });
});
