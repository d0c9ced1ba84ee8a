import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { ISO_COUNTRY_CODES, countryIds } from '../../examples/forecast/countries.ts';
import {
  FeatureError,
  buildFeatureBatch,
  buildFeatures,
  calendarFeatures,
  historyProblem,
  isoWeek,
  toForecast,
  validateHistory,
} from '../../examples/forecast/features.ts';
import { generateModels, type ForecastManifest } from '../../examples/forecast/generate-models.ts';
import { buildForecastModel, featureCount, forecastModelParams, readModelMetadata } from '../../examples/forecast/model-builder.ts';

const COUNT = 5;
const F = featureCount(8);
/** Monday 2 June 2025: ISO week 23, no default holiday. */
const DATE = new Date(Date.UTC(2025, 5, 2));
const HISTORIES = [
  [100, 110, 95, 105, 120, 115, 108, 112],
  [5, 5, 5, 5, 5, 5, 5, 5],
  [0, 0, 3, 10, 30, 60, 90, 150],
  [1000, 800, 1200, 900, 1100, 950, 1050, 1000],
];
const SESSION_OPTIONS: InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'] };

let dirA = '';
let dirB = '';
let manifestA: ForecastManifest;
let manifestB: ForecastManifest;

async function runBatch(file: string, histories: number[][]): Promise<{ raw: Float32Array; dims: readonly number[]; forecast: number[] }> {
  const session = await InferenceSession.create(file, SESSION_OPTIONS);
  try {
    const batch = buildFeatureBatch(histories, DATE);
    const out = await session.run({ features: new Tensor('float32', batch.data, batch.dims) });
    const tensor = out.forecast!;
    const raw = tensor.data as Float32Array;
    return { raw, dims: tensor.dims, forecast: toForecast(raw, batch.scales) };
  } finally {
    await session.release();
  }
}

before(async () => {
  dirA = await mkdtemp(join(tmpdir(), 'forecast-a-'));
  dirB = await mkdtemp(join(tmpdir(), 'forecast-b-'));
  manifestA = await generateModels(dirA, COUNT);
  manifestB = await generateModels(dirB, COUNT);
});

after(async () => {
  await rm(dirA, { recursive: true, force: true });
  await rm(dirB, { recursive: true, force: true });
});

describe('generated forecast models', () => {
  test('the manifest lists one file per country with its sha256 and size', async () => {
    assert.deepEqual(
      manifestA.models.map((m) => m.id),
      countryIds(COUNT),
    );
    assert.deepEqual(JSON.parse(await readFile(join(dirA, 'manifest.json'), 'utf8')), manifestA);
    assert.deepEqual(manifestA.input.shape, ['N', F]);
    for (const m of manifestA.models) {
      const bytes = await readFile(join(dirA, m.file));
      assert.equal(m.file, `${m.id}.onnx`);
      assert.equal(m.version, '1');
      assert.equal(bytes.length, m.bytes);
      assert.equal(createHash('sha256').update(bytes).digest('hex'), m.sha256);
      assert.ok(m.bytes < 4096, `${m.id} is ${m.bytes} bytes`);
    }
  });

  test('two generations are byte-identical', async () => {
    assert.deepEqual(manifestB, manifestA);
    for (const m of manifestA.models) {
      assert.ok((await readFile(join(dirA, m.file))).equals(await readFile(join(dirB, m.file))), m.file);
    }
  });

  test('metadata_props carry country, version and the feature layout', async () => {
    for (const m of manifestA.models) {
      const meta = readModelMetadata(await readFile(join(dirA, m.file)));
      assert.equal(meta.country, m.id);
      assert.equal(meta.version, '1');
      assert.equal(meta.weeks, '8');
      assert.equal(meta.feature_count, String(F));
      assert.match(meta.features!, /week_sin, week_cos, holiday/);
    }
  });

  test('each model loads with a dynamic batch input [N, F] and output [N, 1]', async () => {
    for (const m of manifestA.models) {
      const session = await InferenceSession.create(join(dirA, m.file), SESSION_OPTIONS);
      try {
        assert.deepEqual(session.inputNames, ['features']);
        assert.deepEqual(session.outputNames, ['forecast']);
        const input = session.inputMetadata[0]!;
        const output = session.outputMetadata[0]!;
        assert.ok(input.isTensor && output.isTensor);
        assert.equal(input.type, 'float32');
        assert.equal(output.type, 'float32');
        assert.deepEqual(input.shape, ['N', F]);
        assert.deepEqual(output.shape, ['N', 1]);
      } finally {
        await session.release();
      }
    }
  });

  test('a batch of 4 gives 4 finite, plausible forecasts, the same from both generations', async () => {
    for (const m of manifestA.models) {
      const a = await runBatch(join(dirA, m.file), HISTORIES);
      const b = await runBatch(join(dirB, m.file), HISTORIES);
      assert.deepEqual(a.dims, [4, 1]);
      assert.ok(a.raw.every(Number.isFinite), `${m.id}: ${a.raw}`);
      assert.deepEqual(Array.from(b.raw), Array.from(a.raw));
      // Flat history of 5 a week: growth 0.8..1.25 and a seasonal factor keep it near 5.
      assert.ok(a.forecast[1]! > 2 && a.forecast[1]! < 10, `${m.id}: ${a.forecast[1]}`);
      // Rows are independent: the same row alone gives the same answer.
      const alone = await runBatch(join(dirA, m.file), [HISTORIES[3]!]);
      assert.ok(Math.abs(alone.raw[0]! - a.raw[3]!) < 1e-5);
    }
  });

  test('countries answer differently', async () => {
    const outputs = await Promise.all(manifestA.models.map((m) => runBatch(join(dirA, m.file), HISTORIES)));
    for (let i = 0; i < outputs.length; i++) {
      for (let j = i + 1; j < outputs.length; j++) {
        const diff = Math.max(...outputs[i]!.raw.map((v, k) => Math.abs(v - outputs[j]!.raw[k]!)));
        assert.ok(diff > 1e-3, `${manifestA.models[i]!.id} and ${manifestA.models[j]!.id} differ by only ${diff}`);
      }
    }
  });

  test('batches of 1 and 32 run', async () => {
    const file = join(dirA, manifestA.models[0]!.file);
    const many = Array.from({ length: 32 }, (_, i) => HISTORIES[i % HISTORIES.length]!);
    assert.deepEqual((await runBatch(file, many.slice(0, 1))).dims, [1, 1]);
    const out = await runBatch(file, many);
    assert.deepEqual(out.dims, [32, 1]);
    assert.ok(out.raw.every(Number.isFinite));
  });
});

describe('model builder', () => {
  test('seed changes the weights, version only the metadata', () => {
    const base = buildForecastModel({ country: 'DE', version: '1', seed: 1 });
    assert.deepEqual(buildForecastModel({ country: 'DE', version: '1', seed: 1 }), base);
    assert.notDeepEqual(buildForecastModel({ country: 'DE', version: '1', seed: 2 }), base);
    assert.deepEqual(forecastModelParams({ country: 'DE', seed: 1 }), forecastModelParams({ country: 'DE', version: '7', seed: 1 }));
    assert.notDeepEqual(forecastModelParams({ country: 'DE' }), forecastModelParams({ country: 'FR' }));
    assert.equal(readModelMetadata(buildForecastModel({ country: 'DE', version: '2024-06' })).version, '2024-06');
  });

  test('other sizes build and load', async () => {
    const session = await InferenceSession.create(buildForecastModel({ country: 'US', weeks: 4, hidden: 2 }), SESSION_OPTIONS);
    try {
      assert.deepEqual(session.inputMetadata[0]!.isTensor && session.inputMetadata[0]!.shape, ['N', 7]);
    } finally {
      await session.release();
    }
  });

  test('rejects bad options', () => {
    assert.throws(() => buildForecastModel({ country: '' }), /country must be/);
    assert.throws(() => buildForecastModel({ country: 'DE', weeks: 0 }), /weeks must be an integer 1\.\.520, got 0/);
    assert.throws(() => buildForecastModel({ country: 'DE', hidden: 1 }), /hidden must be an integer 2\.\.4096, got 1/);
    assert.throws(() => buildForecastModel({ country: 'DE', seed: -1 }), /seed must be a uint32, got -1/);
    assert.throws(() => buildForecastModel({ country: 'DE', version: '' }), /version must be/);
  });
});

describe('features', () => {
  test('sales are divided by their mean, and the scale undoes it', () => {
    const history = [10, 20, 30, 40, 50, 60, 70, 80];
    const { features, scale } = buildFeatures(history, DATE);
    assert.equal(features.length, F);
    assert.equal(scale, 45);
    assert.ok(Math.abs(features[7]! - 80 / 45) < 1e-6);
    assert.deepEqual(toForecast([1.5], scale), [67.5]);
    assert.deepEqual(toForecast([1, -0.5, 2], [10, 10, 3]), [10, 0, 6]);
    assert.throws(() => toForecast([1, 2], [1]), /2 outputs but 1 scales/);
    const zeros = buildFeatures([0, 0, 0, 0, 0, 0, 0, 0], DATE);
    assert.equal(zeros.scale, 0);
    assert.ok(zeros.features.slice(0, 8).every((v) => v === 0));
  });

  test('calendar: ISO week angle and holiday flag', () => {
    assert.deepEqual(isoWeek(new Date(Date.UTC(2021, 0, 3))), { year: 2020, week: 53 });
    assert.deepEqual(isoWeek(new Date(Date.UTC(2024, 11, 30))), { year: 2025, week: 1 });
    assert.deepEqual(isoWeek(DATE), { year: 2025, week: 23 });
    const [sin, cos, holiday] = calendarFeatures(DATE);
    assert.ok(Math.abs(sin - Math.sin((2 * Math.PI * 22) / 52)) < 1e-12);
    assert.ok(Math.abs(cos - Math.cos((2 * Math.PI * 22) / 52)) < 1e-12);
    assert.equal(holiday, 0);
    assert.equal(calendarFeatures(new Date(Date.UTC(2025, 11, 22)))[2], 1); // week of 25 December
    assert.equal(calendarFeatures(new Date(Date.UTC(2025, 11, 26)))[2], 1); // 26 Dec .. 1 Jan
    assert.equal(calendarFeatures(new Date(Date.UTC(2025, 11, 15)))[2], 0);
    assert.equal(calendarFeatures(DATE, ['06-05'])[2], 1);
    assert.deepEqual(Array.from(buildFeatures(HISTORIES[0]!, DATE).features.slice(8)), Array.from(new Float32Array([sin, cos, holiday])));
  });

  test('malformed histories are rejected with the problem named', () => {
    assert.throws(() => validateHistory([1, 2, 3]), { name: 'FeatureError', message: 'history must have 8 weeks of sales, got 3' });
    assert.throws(() => buildFeatures([1, 2, 3, 4, 5, 6, 7, 8, 9], DATE), /must have 8 weeks of sales, got 9/);
    assert.throws(() => buildFeatures([1, 2, 3, NaN, 5, 6, 7, 8], DATE), /history\[3\] must be finite, got NaN/);
    assert.throws(() => buildFeatures([1, 2, 3, 4, 5, 6, 7, Infinity], DATE), /history\[7\] must be finite, got Infinity/);
    assert.throws(() => buildFeatures([1, -2, 3, 4, 5, 6, 7, 8], DATE), /history\[1\] must not be negative, got -2/);
    assert.throws(() => validateHistory([1, 2, '3', 4, 5, 6, 7, 8]), /history\[2\] must be a number, got "3"/);
    assert.throws(() => validateHistory('12345678'), /history must be an array of 8 weekly sales, got "12345678"/);
    assert.throws(() => validateHistory(null), /got null/);
    assert.equal(historyProblem([1, 2, 3, 4], 4), null);
    assert.throws(() => buildFeatures(HISTORIES[0]!, new Date('nope')), /date must be a valid Date/);
    assert.throws(() => buildFeatures(HISTORIES[0]!, DATE, { holidays: ['12/25'] }), /holidays must be 'MM-DD' strings, got "12\/25"/);
    assert.throws(() => buildFeatureBatch([HISTORIES[0]!, [1, 2]], DATE), {
      name: 'FeatureError',
      message: 'histories[1]: history must have 8 weeks of sales, got 2',
    });
    assert.throws(() => buildFeatureBatch([], DATE), FeatureError);
  });
});

describe('country ids', () => {
  test('249 real ISO 3166-1 alpha-2 codes first, then synthetic ids', () => {
    assert.equal(ISO_COUNTRY_CODES.length, 249);
    assert.equal(new Set(ISO_COUNTRY_CODES).size, 249);
    assert.ok(ISO_COUNTRY_CODES.every((c) => /^[A-Z]{2}$/.test(c)));
    const names = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' });
    assert.deepEqual(
      ISO_COUNTRY_CODES.filter((c) => !names.of(c)),
      [],
    );
    const ids = countryIds(1000);
    assert.equal(new Set(ids).size, 1000);
    assert.deepEqual(ids.slice(0, 249), ISO_COUNTRY_CODES);
    assert.equal(ids[249], 'XA001');
    assert.equal(ids[999], 'XA751');
    assert.equal(countryIds(249 + 1000)[249 + 999], 'XB001');
    assert.throws(() => countryIds(-1), RangeError);
  });
});
