// OnnxModel's optimizedModelDir: the first load saves onnxruntime's optimised copy, later loads
// reuse it with the same answers, and every way the cache can fail still loads the model.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OnnxModel } from '../../deployments/onnx/onnx-model.ts';
import { OnnxRepository } from '../../deployments/onnx/repository.ts';
import { buildForecastModel } from '../../examples/forecast/model-builder.ts';

const ROW = { features: { data: Float32Array.from([1.05, 0.98, 1.02, 0.95, 1.1, 0.97, 1.01, 0.92, 0.12, 0.99, 0]), dims: [1, 11] } };

async function forecast(options: ConstructorParameters<typeof OnnxModel>[0]): Promise<{ value: number; copy: string }> {
  const model = new OnnxModel({ intraOpNumThreads: 1, ...options });
  await model.init();
  try {
    const out = await model.predict(ROW);
    const data = Object.values(out)[0]!.data as Float32Array;
    return { value: data[0]!, copy: model.optimizedCopy };
  } finally {
    await model.shutdown();
  }
}

describe('optimised model copies', () => {
  let root: string;
  let modelFile: string;
  let dir: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'onnx-optimized-'));
    modelFile = join(root, 'DE.onnx');
    writeFileSync(modelFile, buildForecastModel({ country: 'DE', version: '1' }));
    dir = join(root, 'copies');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('saves a copy on the first load and reuses it after, with the same answer as no cache', async () => {
    const plain = await forecast({ path: modelFile });
    assert.equal(plain.copy, 'off');
    const first = await forecast({ path: modelFile, optimizedModelDir: dir });
    assert.equal(first.copy, 'saved');
    assert.equal(readdirSync(dir).filter((f) => f.endsWith('.onnx')).length, 1);
    assert.equal(readdirSync(dir).filter((f) => f.endsWith('.tmp')).length, 0);
    const second = await forecast({ path: modelFile, optimizedModelDir: dir });
    assert.equal(second.copy, 'reused');
    assert.equal(first.value, plain.value);
    assert.equal(second.value, plain.value);
  });

  it('makes a new copy when the model file changes', async () => {
    writeFileSync(modelFile, buildForecastModel({ country: 'DE', version: '2', seed: 99 }));
    utimesSync(modelFile, new Date(), new Date(Date.now() + 5000));
    const plain = await forecast({ path: modelFile });
    const changed = await forecast({ path: modelFile, optimizedModelDir: dir });
    assert.equal(changed.copy, 'saved');
    assert.equal(changed.value, plain.value);
    assert.equal(readdirSync(dir).filter((f) => f.endsWith('.onnx')).length, 2);
  });

  it('replaces a damaged copy instead of failing the load', async () => {
    const copies = () => readdirSync(dir).filter((f) => f.endsWith('.onnx'));
    await forecast({ path: modelFile, optimizedModelDir: dir });
    for (const f of copies()) writeFileSync(join(dir, f), 'not a model');
    const plain = await forecast({ path: modelFile });
    const repaired = await forecast({ path: modelFile, optimizedModelDir: dir });
    assert.equal(repaired.copy, 'saved');
    assert.equal(repaired.value, plain.value);
    assert.equal((await forecast({ path: modelFile, optimizedModelDir: dir })).copy, 'reused');
  });

  it('loads without a copy, warning once, when the directory cannot be used', async () => {
    const notADir = join(root, 'a-file');
    writeFileSync(notADir, 'x');
    const warnings: string[] = [];
    const logger = { warn: (m: string) => warnings.push(m) };
    const plain = await forecast({ path: modelFile });
    for (let i = 0; i < 2; i++) {
      const r = await forecast({ path: modelFile, optimizedModelDir: join(notADir, 'copies'), logger });
      assert.equal(r.copy, 'unavailable');
      assert.equal(r.value, plain.value);
    }
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /model "DE": loading without an optimised copy: the optimised-model directory cannot be used: .*a-file/);
  });

  it('is off when graph optimisation is off, and a model that does not load still fails with its own error', async () => {
    assert.equal((await forecast({ path: modelFile, optimizedModelDir: dir, graphOptimizationLevel: 'disabled' })).copy, 'off');
    const broken = join(root, 'broken.onnx');
    writeFileSync(broken, 'not an onnx file');
    const model = new OnnxModel({ path: broken, optimizedModelDir: dir, logger: { warn: () => undefined } });
    await assert.rejects(model.init(), /model "broken": cannot load .*broken\.onnx/);
    assert.equal(readdirSync(dir).filter((f) => f.startsWith('broken')).length, 0);
  });

  it('rejects a bad directory option, naming it', () => {
    assert.throws(() => new OnnxModel({ path: modelFile, optimizedModelDir: '' }), /optimizedModelDir: expected a directory path, got ""/);
    assert.throws(() => new OnnxModel({ path: modelFile, optimizedModelDir: 7 as unknown as string }), /optimizedModelDir: expected a directory path, got 7/);
    assert.throws(
      () => new OnnxRepository({ repository: root, optimizedModelDir: true as unknown as string }),
      /OnnxRepository: optimizedModelDir: expected a directory path or false, got true/,
    );
    assert.doesNotThrow(() => new OnnxRepository({ repository: root, optimizedModelDir: false }));
  });
});
