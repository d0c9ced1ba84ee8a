/**
 * bench:ocr's accuracy part: threadserve's pipeline against a peer that runs the very same
 * PP-OCRv4 models (@gutenye/ocr-node, a devDependency used only here), on the large evaluation
 * set rendered with real fonts (test/fixtures/ocr-eval-set.ts). Each reader runs in its own
 * process (ocr/accuracy-case.ts), one image at a time; both are scored by the same code
 * (test/fixtures/ocr-score.ts): CER per image and mean, spaces dropped between words
 * (merged words) and spaces added inside words, counted apart.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeEvalSet, SETS } from '../../test/fixtures/ocr-eval-set.ts';
import { scoreImage, type TextScore } from '../../test/fixtures/ocr-score.ts';
import type { AccuracyCaseResult } from './accuracy-case.ts';
import type { Manifest } from './images.ts';
import { runJson } from '../lib/proc.ts';
import { fmtNum, mdTable } from '../lib/stats.ts';

/** One reader over the whole set, in a process of its own, so neither reader's threads or memory colour the other's. */
function runCase(reader: 'threadserve' | 'peer', dir: string, rounds: number): Promise<AccuracyCaseResult> {
  return runJson<AccuracyCaseResult>('ocr/accuracy-case.ts', [reader, dir, String(rounds)]);
}

interface Summary {
  meanCer: number;
  merged: number;
  split: number;
  exact: number;
  imagesPerS: number;
}

function summarise(r: AccuracyCaseResult, scores: TextScore[]): Summary {
  return {
    meanCer: scores.reduce((s, x) => s + x.cer, 0) / scores.length,
    merged: scores.reduce((s, x) => s + x.mergedSpaces, 0),
    split: scores.reduce((s, x) => s + x.splitWords, 0),
    exact: scores.filter((x) => x.distance === 0).length,
    imagesPerS: r.imagesPerS,
  };
}

export interface AccuracyReport {
  markdown: string;
  threadserve: Summary;
  peer: Summary;
  /** A manifest of the set for lib/loadgen/ocr.ts, with threadserve's answers as the expected lines. */
  manifestPath: string;
}

/** Render the large set into `dir`, read it with both, and report. */
export async function accuracyBench(dir: string, rounds: number): Promise<AccuracyReport> {
  const set = await writeEvalSet(dir, SETS.large.count, SETS.large.seed);
  const ours = await runCase('threadserve', dir, rounds);
  const peer = await runCase('peer', dir, rounds);
  const score = (r: AccuracyCaseResult) => set.images.map((img) => scoreImage(img.lines, r.answers[img.file] ?? []));
  const oursScores = score(ours),
    peerScores = score(peer);
  const a = summarise(ours, oursScores),
    b = summarise(peer, peerScores);

  const manifest: Manifest = {
    images: set.images.map((img) => ({ file: img.file, rendered: img.lines, expected: (ours.answers[img.file] ?? []).map((l) => l.text) })),
  };
  const manifestPath = join(dir, 'manifest.json');
  writeFileSync(manifestPath, JSON.stringify(manifest));

  const perImage = set.images.map((img, i) => [
    img.file,
    img.font,
    String(img.size),
    String(img.quality),
    `${img.rotateDeg}/${img.skewDeg}`,
    img.dark ? 'dark' : 'light',
    fmtNum(oursScores[i]!.cer, 3),
    String(oursScores[i]!.mergedSpaces),
    fmtNum(peerScores[i]!.cer, 3),
    String(peerScores[i]!.mergedSpaces),
  ]);
  const row = (name: string, s: Summary) => [
    name,
    fmtNum(s.meanCer, 4),
    `${s.exact} / ${set.images.length}`,
    String(s.merged),
    String(s.split),
    fmtNum(s.imagesPerS, 2),
  ];
  const markdown = [
    `Accuracy on ${set.images.length} rendered JPEGs (${set.generator}), one image at a time in each reader's own process:`,
    '',
    mdTable(
      ['reader', 'mean CER', 'exact images', 'merged words (space dropped)', 'split words (space added)', 'sequential images/s'],
      [row('threadserve (createRawOcr, 1 intra-op thread)', a), row('@gutenye/ocr-node (its defaults)', b)],
    ),
    '',
    `- mean CER threadserve / peer: **${fmtNum(a.meanCer / b.meanCer, 2)}x** (target <= 1x: ${a.meanCer <= b.meanCer ? 'met' : 'missed'})`,
    '',
    '<details><summary>CER per image</summary>',
    '',
    mdTable(['image', 'font', 'px', 'JPEG q', 'rotate/skew deg', 'background', 'threadserve CER', 'merged', 'peer CER', 'merged'], perImage),
    '',
    '</details>',
  ].join('\n');
  return { markdown, threadserve: a, peer: b, manifestPath };
}
