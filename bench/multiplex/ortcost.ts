/**
 * What one row costs inside onnxruntime alone (no threads, no HTTP), for bench/multiplex/run.ts:
 *   multiplex/ortcost.ts '<json {"models": [{"label", "path"}], "batches": [1, 32]}>'
 * Same session options as the bench's deployments (1 intra-op thread, 1 inter-op thread,
 * graph optimisation "all"). Prints one JSON line: per model and batch size, µs per run and
 * per row (median of a few timed blocks, so a burst of other work on the machine counts less),
 * and what loading the model costs: InferenceSession.create from the file, first run, release
 * (median of several; this is what every cache miss of the model repository pays, on the
 * replica's thread: onnxruntime-node creates sessions synchronously).
 */
import { InferenceSession, Tensor } from 'onnxruntime-node';

interface Spec {
  models: Array<{ label: string; path: string }>;
  batches: number[];
}

export interface OrtCost {
  label: string;
  batch: number;
  usPerRun: number;
  usPerRow: number;
  /** create + first run + release, ms (same on every batch row of a model). */
  loadMs: number;
}

const spec = JSON.parse(process.argv[2] ?? '') as Spec;
const OPTIONS: InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' };

async function loadMs(path: string): Promise<number> {
  const times: number[] = [];
  const x = new Tensor('float32', new Float32Array(11), [1, 11]);
  for (let i = 0; i < 9; i++) {
    const t = performance.now();
    const s = await InferenceSession.create(path, OPTIONS);
    await s.run({ features: x });
    await s.release();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[4]!;
}

const out: OrtCost[] = [];
for (const m of spec.models) {
  const load = await loadMs(m.path);
  const session = await InferenceSession.create(m.path, OPTIONS);
  for (const n of spec.batches) {
    const x = new Tensor('float32', new Float32Array(11 * n).fill(1), [n, 11]);
    const warm = performance.now();
    let runs = 0;
    while (performance.now() - warm < 150) {
      await session.run({ features: x });
      runs++;
    }
    // Blocks of ~60 ms; the median block is the figure.
    const perBlock = Math.max(1, Math.round((runs * 60) / 150));
    const blocks: number[] = [];
    for (let b = 0; b < 7; b++) {
      const t = performance.now();
      for (let i = 0; i < perBlock; i++) await session.run({ features: x });
      blocks.push((performance.now() - t) / perBlock);
    }
    blocks.sort((a, b) => a - b);
    const ms = blocks[3]!;
    out.push({ label: m.label, batch: n, usPerRun: ms * 1000, usPerRow: (ms * 1000) / n, loadMs: load });
  }
  await session.release();
}
process.stdout.write(`${JSON.stringify(out)}\n`);
