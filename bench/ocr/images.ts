/**
 * The OCR bench's image set: rendered once by bench/ocr/run.ts into a temporary folder with a
 * manifest (each PNG and the raw pipeline's answer for it), then read by every child process,
 * so every case runs on the same bytes and is checked against the same answers.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface ManifestEntry {
  /** File name inside the manifest's folder. */
  file: string;
  /** The text that was rendered, one entry per line. */
  rendered: string[];
  /** The raw pipeline's (createRawOcr, 1 intra-op thread) lines for this image: the reference. */
  expected: string[];
}

export interface Manifest {
  images: ManifestEntry[];
}

export interface BenchImage {
  bytes: Uint8Array;
  /** Content type, from the file name. */
  type: 'image/png' | 'image/jpeg';
  expected: string[];
}

export function loadImages(manifestPath: string): BenchImage[] {
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
  const dir = dirname(manifestPath);
  return manifest.images.map((e) => ({
    bytes: new Uint8Array(readFileSync(join(dir, e.file))),
    type: /\.jpe?g$/i.test(e.file) ? 'image/jpeg' : 'image/png',
    expected: e.expected,
  }));
}

/** The lines' texts of an OCR answer, or undefined when it is not one. */
export function textsOf(answer: unknown): string[] | undefined {
  const lines = (answer as { lines?: unknown } | null)?.lines;
  if (!Array.isArray(lines)) return undefined;
  const out: string[] = [];
  for (const l of lines) {
    const t = (l as { text?: unknown } | null)?.text;
    if (typeof t !== 'string') return undefined;
    out.push(t);
  }
  return out;
}

export function sameTexts(got: readonly string[] | undefined, expected: readonly string[]): boolean {
  return got !== undefined && got.length === expected.length && got.every((t, i) => t === expected[i]);
}

/** Wall-clock milliseconds comparable between threads (performance.now() is per thread). */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}
