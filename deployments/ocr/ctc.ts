/**
 * CTC greedy decoding for the PP-OCRv4 recogniser.
 *
 * The recogniser emits, for every horizontal time step, a softmax over C classes: class 0 is
 * the CTC "blank", then one class per line of ppocr_keys_v1.txt, then a space (PaddleOCR's
 * `use_space_char`). Greedy (best-path) decoding takes the most likely class per step,
 * merges runs of the same class (one character spans several steps) and removes blanks
 * (a blank between two equal classes is what lets "ll" survive the merge).
 */
import { readFileSync } from 'node:fs';

/** Class index -> text; index 0 (the blank) maps to ''. */
export type Charset = readonly string[];

/** Build the class list from the key file's text: blank, then each line, then a space. */
export function parseCharset(keysText: string): Charset {
  const lines = keysText.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  // A trailing newline yields one empty last element, which is not a class.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const empty = lines.indexOf('');
  if (empty >= 0) throw new Error(`character list has an empty entry at line ${empty + 1}`);
  return Object.freeze(['', ...lines, ' ']);
}

/** Read and parse a key file. Synchronous: done once at start-up, before serving. */
export function loadCharset(path: string): Charset {
  return parseCharset(readFileSync(path, 'utf8'));
}

/**
 * The model and the key file must agree exactly: one class more or less shifts every
 * character to its neighbour in the list, which decodes to fluent nonsense rather than
 * failing. Check against the model's output size once, before the first real result.
 */
export function assertCharsetMatches(charset: Charset, numClasses: number): void {
  if (charset.length !== numClasses) {
    throw new Error(
      `character list has ${charset.length} classes (blank + ${charset.length - 2} keys + space), ` + `but the recognition model outputs ${numClasses}`,
    );
  }
}

export interface DecodedText {
  text: string;
  /** Mean of the kept steps' max probabilities; 0 when nothing was recognised. */
  score: number;
}

/**
 * Greedy decode of `probs`, laid out [N, T, C] row-major (the model's output as is).
 * `steps[i]`, when given, limits row i to its first steps[i] time steps (e.g. to skip the
 * padding after a short crop); by default all T steps are read.
 */
export function ctcGreedyDecode(
  probs: Float32Array,
  dims: readonly [number, number, number],
  charset: Charset,
  steps?: ArrayLike<number>,
  spaceThreshold = 0,
): DecodedText[] {
  const [n, t, c] = dims;
  if (probs.length < n * t * c) throw new RangeError(`CTC input has ${probs.length} values, dims ${n}x${t}x${c} need ${n * t * c}`);
  assertCharsetMatches(charset, c);
  const out: DecodedText[] = [];
  for (let row = 0; row < n; row++) {
    const limit = Math.min(t, steps?.[row] ?? t);
    let text = '';
    let sum = 0;
    let kept = 0;
    let prev = -1;
    const space = c - 1;
    let gapSpace = 0; // the space class's best probability since the last character
    for (let s = 0; s < limit; s++) {
      // argmax over classes; ties go to the lower index, like numpy's argmax.
      const base = (row * t + s) * c;
      let best = 0;
      let bestP = probs[base]!;
      for (let k = 1; k < c; k++) {
        const p = probs[base + k]!;
        if (p > bestP) {
          bestP = p;
          best = k;
        }
      }
      if (spaceThreshold > 0 && best === 0) gapSpace = Math.max(gapSpace, probs[base + space]!);
      if (best !== 0 && best !== prev) {
        if (spaceThreshold > 0 && best !== space && kept > 0 && !text.endsWith(' ') && gapSpace >= spaceThreshold) text += ' ';
        gapSpace = 0;
        text += charset[best]!;
        sum += bestP;
        kept++;
      }
      prev = best;
    }
    out.push({ text, score: kept === 0 ? 0 : sum / kept });
  }
  return out;
}
