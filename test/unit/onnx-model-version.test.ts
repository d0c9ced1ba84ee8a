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
      // Fields past the first 64 KiB window: a 400 KB graph, then the version after it.
      [
        onnx.ModelProto.encode(
          onnx.ModelProto.create({
            irVersion: 8,
            graph: { name: 'g', initializer: [{ name: 'w', dataType: 1, dims: [100_000], rawData: new Uint8Array(400_000) }] },
            metadataProps: [{ key: 'version', value: 'after-the-graph' }],
          }),
        ).finish(),
        'after-the-graph',
      ],
      // A metadata entry larger than the window, before the version.
      [
        onnx.ModelProto.encode(
          onnx.ModelProto.create({
            irVersion: 8,
            metadataProps: [
              { key: 'notes', value: 'n'.repeat(100_000) },
              { key: 'version', value: 'v2' },
            ],
          }),
        ).finish(),
        'v2',
      ],
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
    // A metadata entry cut short by the end of the file.
    const whole = onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, metadataProps: [{ key: 'version', value: 'v9' }] })).finish();
    writeFileSync(bad, whole.subarray(0, whole.length - 1));
    await assert.rejects(onnxModelVersionOfFile(bad), /truncated/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
