import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { InferenceSession } from 'onnxruntime-node';
import { DATATYPE_TABLE, HttpError, v2FromOnnx } from 'threadserve';
import { V2_DATATYPES, checkInputs, toOrtType, v2Datatype } from '../../deployments/onnx/tensor-check.ts';
import { floatToHalf, halfToFloat } from '../../runtime/shared/float16.ts';

// The shape onnxruntime-node 1.30 reports for PP-OCRv4 recognition's input (symbolic dims are strings).
const rec: InferenceSession.ValueMetadata[] = [
  { name: 'x', isTensor: true, type: 'float32', shape: ['p2o.DynamicDimension.0', 3, 48, 'p2o.DynamicDimension.1'] },
];
const two: InferenceSession.ValueMetadata[] = [
  { name: 'ids', isTensor: true, type: 'int64', shape: ['batch', 'seq'] },
  { name: 'mask', isTensor: true, type: 'bool', shape: ['batch', 'seq'] },
];

/** Asserts an HttpError 400 with exactly this message. */
function rejects400(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof HttpError, `expected HttpError, got ${String(err)}`);
    assert.equal(err.statusCode, 400);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

describe('datatype table', () => {
  test('every V2 datatype maps to an onnxruntime type and back', () => {
    for (const v2 of V2_DATATYPES) {
      const ort = DATATYPE_TABLE[v2].onnx;
      assert.equal(v2FromOnnx(ort), v2);
      assert.equal(toOrtType(v2), ort);
      assert.equal(toOrtType(ort), ort);
      assert.equal(v2Datatype(ort), v2);
    }
    assert.equal(DATATYPE_TABLE.FP16.onnx, 'float16');
    assert.equal(DATATYPE_TABLE.BYTES.onnx, 'string');
    assert.equal(DATATYPE_TABLE.FP16.array, Uint16Array);
    assert.equal(DATATYPE_TABLE.BOOL.array, Uint8Array);
    assert.equal(DATATYPE_TABLE.INT64.array, BigInt64Array);
    assert.equal(DATATYPE_TABLE.BYTES.array, undefined);
  });

  test('onnxruntime types V2 cannot name', () => {
    assert.equal(v2FromOnnx('int4'), undefined);
    assert.equal(v2Datatype('uint4'), 'UINT4');
    assert.equal(toOrtType('FLOAT'), undefined);
  });

  test('float16 bits round-trip and round to nearest even', () => {
    assert.equal(floatToHalf(1), 0x3c00);
    assert.equal(floatToHalf(-2), 0xc000);
    assert.equal(floatToHalf(65504), 0x7bff);
    assert.equal(floatToHalf(70000), 0x7c00);
    assert.equal(floatToHalf(2 ** -24), 0x0001);
    assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00); // a tie rounds to even
    assert.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02);
    assert.ok(Number.isNaN(halfToFloat(floatToHalf(NaN))));
    for (const v of [0, 0.5, 0.1, -3.25, 1000, 2 ** -20, 65504]) {
      assert.ok(Math.abs(halfToFloat(floatToHalf(v)) - v) <= Math.abs(v) * 2 ** -11 + 2 ** -25, `round trip of ${v}`);
    }
  });
});

describe('checkInputs', () => {
  const x = { data: new Float32Array(3 * 48 * 8), dims: [1, 3, 48, 8] };

  test('accepts a matching typed array as is', () => {
    const out = checkInputs({ x }, rec);
    assert.equal(out.x!.type, 'float32');
    assert.equal(out.x!.data, x.data);
    assert.deepEqual(out.x!.dims, [1, 3, 48, 8]);
  });

  test('converts JSON lists to the model type', () => {
    const out = checkInputs({ ids: { data: [1, 2, 3], dims: [1, 3] }, mask: { data: [true, false, 1], dims: [1, 3], datatype: 'BOOL' } }, two);
    assert.deepEqual(out.ids!.data, new BigInt64Array([1n, 2n, 3n]));
    assert.deepEqual(out.mask!.data, new Uint8Array([1, 0, 1]));
    const half = checkInputs({ h: { data: [1, 0.5], dims: [2], datatype: 'FP16' } }, [{ name: 'h', isTensor: true, type: 'float16', shape: [2] }]);
    assert.deepEqual(half.h!.data, new Uint16Array([0x3c00, 0x3800]));
  });

  test('unknown input name', () => {
    rejects400(() => checkInputs({ x, y: x }, rec), 'unknown input "y"; the model takes "x"');
  });

  test('missing input', () => {
    rejects400(() => checkInputs({}, rec), 'missing input "x" (float32 [p2o.DynamicDimension.0,3,48,p2o.DynamicDimension.1])');
    rejects400(() => checkInputs({ ids: { data: [1], dims: [1, 1] } }, two), /^missing input "mask"/);
  });

  test('wrong declared datatype (V2 or onnxruntime name)', () => {
    rejects400(() => checkInputs({ x: { ...x, datatype: 'INT64' } }, rec), 'input "x": expected float32, got int64');
    rejects400(() => checkInputs({ x: { ...x, datatype: 'float64' } }, rec), 'input "x": expected float32, got float64');
    rejects400(() => checkInputs({ x: { ...x, datatype: 'FLOAT' } }, rec), /^input "x": unknown datatype "FLOAT"; use one of BOOL, UINT8/);
  });

  test('wrong typed array', () => {
    rejects400(
      () => checkInputs({ x: { data: new BigInt64Array(3 * 48 * 8), dims: [1, 3, 48, 8] } }, rec),
      'input "x": expected float32, got int64 (BigInt64Array)',
    );
    rejects400(
      () => checkInputs({ x: { data: new Uint8ClampedArray(144) as unknown as Uint8Array, dims: [1, 3, 48, 1] } }, rec),
      'input "x": expected float32, got a Uint8ClampedArray',
    );
    // A Uint8Array is both uint8 and bool; a Buffer is a Uint8Array.
    const out = checkInputs({ ids: { data: new BigInt64Array(2), dims: [1, 2] }, mask: { data: Buffer.from([0, 1]), dims: [1, 2] } }, two);
    assert.equal(out.mask!.type, 'bool');
  });

  test('wrong element in a JSON list', () => {
    rejects400(() => checkInputs({ x: { data: [1, 'a'], dims: [1, 3, 48, 1] } }, rec), 'input "x": element 1 is "a", expected a number (float32)');
    rejects400(
      () => checkInputs({ ids: { data: [1.5], dims: [1, 1] }, mask: { data: [1], dims: [1, 1] } }, two),
      /^input "ids": element 0 is 1.5, expected an integer/,
    );
    rejects400(
      () => checkInputs({ ids: { data: [1], dims: [1, 1] }, mask: { data: [2], dims: [1, 1] } }, two),
      /^input "mask": element 0 is 2, expected true, false, 0 or 1/,
    );
    rejects400(
      () => checkInputs({ u: { data: [256], dims: [1] } }, [{ name: 'u', isTensor: true, type: 'uint8', shape: [1] }]),
      'input "u": element 0 is 256, expected an integer from 0 to 255 (uint8)',
    );
    rejects400(
      () => checkInputs({ s: { data: [1], dims: [1] } }, [{ name: 's', isTensor: true, type: 'string', shape: [1] }]),
      'input "s": element 0 is 1, expected a string (string)',
    );
  });

  test('wrong rank', () => {
    rejects400(
      () => checkInputs({ x: { data: new Float32Array(4), dims: [4] } }, rec),
      'input "x": expected 4 dimensions [p2o.DynamicDimension.0,3,48,p2o.DynamicDimension.1], got 1 [4]',
    );
  });

  test('wrong fixed dimension', () => {
    rejects400(
      () => checkInputs({ x: { data: new Float32Array(3 * 320 * 48), dims: [1, 3, 320, 48] } }, rec),
      'input "x": dimension 2 must be 48, got 320 (expected shape [p2o.DynamicDimension.0,3,48,p2o.DynamicDimension.1], got [1,3,320,48])',
    );
  });

  test('bad dims', () => {
    rejects400(
      () => checkInputs({ x: { data: new Float32Array(1), dims: [1, -3, 48, 1] } }, rec),
      'input "x": dims must be a list of non-negative integers, got [1,-3,48,1]',
    );
    rejects400(() => checkInputs({ x: { data: new Float32Array(1), dims: 'abc' as unknown as number[] } }, rec), /dims must be a list/);
  });

  test('data length not the product of the dims', () => {
    rejects400(() => checkInputs({ x: { data: new Float32Array(100), dims: [1, 3, 48, 8] } }, rec), 'input "x": shape [1,3,48,8] needs 1152 values, got 100');
  });

  test('data that is neither a typed array nor a list', () => {
    rejects400(
      () => checkInputs({ x: { data: 'abc' as unknown as number[], dims: [1, 3, 48, 1] } }, rec),
      'input "x": data must be a typed array or a list of values',
    );
  });

  test('shape [] (scalar or undeclared) is not rank-checked, only counted', () => {
    const meta: InferenceSession.ValueMetadata[] = [{ name: 'sr', isTensor: true, type: 'int64', shape: [] }];
    assert.deepEqual(checkInputs({ sr: { data: [16000], dims: [] } }, meta).sr!.dims, []);
    rejects400(() => checkInputs({ sr: { data: [1, 2], dims: [] } }, meta), 'input "sr": shape [] needs 1 values, got 2');
  });

  test('non-tensor inputs cannot be fed', () => {
    rejects400(() => checkInputs({ seq: { data: [1], dims: [1] } }, [{ name: 'seq', isTensor: false }]), /^input "seq": the model takes a sequence or map/);
  });
});
