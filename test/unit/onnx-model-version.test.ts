// Reading an ONNX file's version from its top-level fields agrees with a full onnx-proto decode.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import onnxProto from 'onnx-proto';
import { onnxModelVersion, onnxModelVersionOfFile } from '../../deployments/onnx/model-version.ts';
import { MODEL_PATHS } from '../../deployments/ocr/steps.ts';
import { buildForecastModel } from '../../examples/forecast/model-builder.ts';

it('reads metadata_props "version", model_version, or defaults to "1"', () => {
  assert.equal(onnxModelVersion(buildForecastModel({ country: 'DE', version: 'v7-beta' })), 'v7-beta');
  assert.equal(onnxModelVersion(buildForecastModel({ country: 'DE', version: '3' })), '3');
  const { onnx } = onnxProto;
  const bare = onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, modelVersion: 42 })).finish();
  assert.equal(onnxModelVersion(bare), '42');
  assert.equal(onnxModelVersion(onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8 })).finish()), '1');
  // A real 10 MB model: the graph is skipped, not decoded.
  assert.equal(onnxModelVersion(readFileSync(MODEL_PATHS.rec)), '1');
  assert.throws(() => onnxModelVersion(Uint8Array.from([0x80])), /truncated/);
});

it('reads the same version from a file on disk without reading its weights', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'onnx-version-'));
  try {
    const { onnx } = onnxProto;
    const cases: Array<[Uint8Array, string]> = [
      [buildForecastModel({ country: 'DE', version: 'v7-beta' }), 'v7-beta'],
      [onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, modelVersion: 42 })).finish(), '42'],
      [onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8 })).finish(), '1'],
    ];
    for (const [i, [bytes, want]] of cases.entries()) {
      const file = join(dir, `m${i}.onnx`);
      writeFileSync(file, bytes);
      assert.equal(await onnxModelVersionOfFile(file), want);
    }
    assert.equal(await onnxModelVersionOfFile(MODEL_PATHS.rec), '1');
    const bad = join(dir, 'bad.onnx');
    writeFileSync(bad, Uint8Array.from([0x80]));
    await assert.rejects(onnxModelVersionOfFile(bad), /truncated/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
