/**
 * bench:ocr's step costs: what batching crops by width and capping a batch's size save, and
 * what the direction classifier costs, on the evaluation set. Four raw pipelines (createRawOcr, 1
 * intra-op thread each) read every image in turn, interleaved, so other work on the machine hits
 * them alike:
 *   - the default (batches of similar width, bucketRatio 1.25, at most 960 columns a batch),
 *   - batches of similar width without the cap (maxBatchColumns Infinity, as before),
 *   - one batch padded to the widest crop (bucketRatio Infinity, as before that),
 *   - the default plus the direction classifier.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRawOcr, type RawOcr, type StepTimings } from '../../deployments/ocr/raw.ts';
import type { EvalSet } from '../../test/fixtures/ocr-eval-set.ts';
import { fmtNum, mdTable } from '../lib/stats.ts';

const VARIANTS = [
  { label: 'batches by width, at most 960 columns (default)', options: {} },
  { label: 'batches by width, no cap', options: { maxBatchColumns: Infinity } },
  { label: 'one batch, padded to the widest crop', options: { bucketRatio: Infinity, maxBatchColumns: Infinity } },
  { label: 'batches by width + direction classifier', options: { classifyDirection: true } },
] as const;

/** `limit`: read only the set's first images (every kind of text comes in each run of 4). */
export async function stepCosts(dir: string, rounds: number, limit = 64): Promise<string> {
  const set = JSON.parse(readFileSync(join(dir, 'truth.json'), 'utf8')) as EvalSet;
  const images = set.images.slice(0, limit).map((s) => new Uint8Array(readFileSync(join(dir, s.file))));
  const ocrs: RawOcr[] = [];
  try {
    for (const v of VARIANTS) ocrs.push(await createRawOcr({ intraOpNumThreads: 1, ...v.options }));
    for (const o of ocrs) await o.run(images[0]!); // warm-up
    // Per variant, the best round's sums (least disturbed by other work).
    const best = VARIANTS.map(() => ({ total: Infinity, t: { pre: 0, detect: 0, post: 0, classify: 0, recognise: 0, ctc: 0 } as StepTimings }));
    for (let r = 0; r < rounds; r++) {
      const sums = VARIANTS.map(() => ({ pre: 0, detect: 0, post: 0, classify: 0, recognise: 0, ctc: 0 }) as StepTimings);
      for (const img of images) {
        for (const [i, o] of ocrs.entries()) {
          const { timings } = await o.runTimed(img);
          for (const k of Object.keys(timings) as (keyof StepTimings)[]) sums[i]![k] += timings[k];
        }
      }
      sums.forEach((t, i) => {
        const total = Object.values(t).reduce((a, b) => a + b, 0);
        if (total < best[i]!.total) best[i] = { total, t };
      });
    }
    const n = images.length;
    const per = (x: number) => fmtNum(x / n, 1);
    const rows = VARIANTS.map((v, i) => {
      const { total, t } = best[i]!;
      return [v.label, per(t.recognise), per(t.classify), per(t.pre + t.detect + t.post + t.ctc), per(total)];
    });
    const [capped, bucketed, oneBatch, withCls] = best;
    return [
      `Step costs on the first ${n} images of the evaluation set (raw pipeline, 1 intra-op thread, interleaved, best of ${rounds} rounds), ms per image:`,
      '',
      mdTable(['pipeline', 'recognise', 'classify', 'other steps', 'total'], rows),
      '',
      `- recognition time, batches of at most 960 columns / uncapped batches by width: **${fmtNum(capped!.t.recognise / bucketed!.t.recognise, 2)}x**`,
      `- recognition time, uncapped batches by width / one padded batch: **${fmtNum(bucketed!.t.recognise / oneBatch!.t.recognise, 2)}x**`,
      `- the direction classifier adds **${fmtNum((withCls!.total - capped!.total) / n, 1)} ms** per image (**${fmtNum((withCls!.total / capped!.total - 1) * 100, 0)}%**), of which the classifier model and its crops ${per(withCls!.t.classify)} ms`,
    ].join('\n');
  } finally {
    await Promise.all(ocrs.map((o) => o.close()));
  }
}
