/**
 * bench:ocr's serving image set: 8 PNGs of known text, rendered once into the bench's
 * temporary folder, each read by the raw pipeline for the reference answer (ocr/images.ts
 * reads the manifest back in every child).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { createRawOcr } from '../../deployments/ocr/raw.ts';
import { renderText } from '../../test/fixtures/render-text.ts';
import type { Manifest } from './images.ts';

/** 2-3 lines each, rendered 640 px wide at 36 px (152 or 206 px high). */
const TEXTS: string[][] = [
  ['Invoice #2024-07', 'Total due: 1,250.00 EUR', 'Thank you'],
  ['Hello World 123', 'threadserve OCR bench'],
  ['Order 55821 shipped', 'Tracking: ZX-4471-K9', 'Arrives Monday'],
  ['Meeting at 10:30', 'Room B2, second floor'],
  ['Temperature 21.5 C', 'Humidity 40 percent', 'Wind 12 km/h'],
  ['Pay to the order of', 'Ada Lovelace'],
  ['Batch 7 of 12', 'Quality check passed', 'Inspector: J. Smith'],
  ['Open 9am to 5pm', 'Closed on Sundays'],
];

export async function prepareImages(dir: string): Promise<{ manifestPath: string; manifest: Manifest }> {
  // One libvips thread, as in the servers' threads (sharp's default on glibc).
  sharp.concurrency(1);
  const ocr = await createRawOcr({ intraOpNumThreads: 1 });
  const manifest: Manifest = { images: [] };
  try {
    for (const [i, lines] of TEXTS.entries()) {
      const png = await renderText(lines, { width: 640, size: 36, gap: 1.5 });
      const file = `image-${i}.png`;
      writeFileSync(join(dir, file), png);
      const { lines: read } = await ocr.run(new Uint8Array(png));
      manifest.images.push({ file, rendered: lines, expected: read.map((l) => l.text) });
    }
  } finally {
    await ocr.close();
  }
  const manifestPath = join(dir, 'manifest.json');
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
  return { manifestPath, manifest };
}
