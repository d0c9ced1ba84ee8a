// The dashboard in a real browser: headless Chromium (Debian's `chromium`, driven by
// playwright-core) opens /-/dashboard of the forecast example (a separated, multiplexed,
// batching application), finds its deployments and replicas, watches the counters and the
// charts move while requests arrive, finds no console errors, and saves a screenshot.
// Skips, saying so, where no Chromium is installed (.ci/run installs it).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { serve } from 'threadserve';
import type { ServeInstance } from 'threadserve';
import { generateModels } from '../../examples/forecast/generate-models.ts';

/** The little of the DOM the functions run in the page use (the project's tsconfig has no DOM types). */
declare const document: { querySelector(selector: string): { dataset: Record<string, string | undefined>; textContent: string | null } | null };

function findChromium(): string | undefined {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of ['chromium', 'chromium-browser', 'google-chrome']) if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

const executablePath = findChromium();
const skip = executablePath ? false : 'no Chromium found: apt-get install chromium (as .ci/run does), or set CHROMIUM_PATH';
const history = [120, 130, 125, 140, 150, 145, 160, 155];
const COUNTRIES = ['AD', 'AE', 'AF', 'AG', 'AI', 'AL', 'AM', 'AO', 'AQ', 'AR', 'AS', 'AT'];

describe('the dashboard in headless Chromium', { skip, timeout: 180_000 }, () => {
  let models: string;
  let s: ServeInstance;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  before(async () => {
    models = await mkdtemp(join(tmpdir(), 'ts-dashboard-models-'));
    await generateModels(models, COUNTRIES.length);
    process.env.FORECAST_MODELS = models;
    const { default: app } = await import('../../examples/forecast/app.ts');
    s = await serve.run(app, { port: 0, logLevel: 'silent' });
    browser = await chromium.launch({ executablePath: executablePath!, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(err.message));
  });
  after(async () => {
    await browser?.close();
    await s?.close();
    delete process.env.FORECAST_MODELS;
    await rm(models, { recursive: true, force: true });
  });

  const figure = async (key: string, scope = 'body') => (await page.locator(`${scope} [data-figure="${key}"] .value`).first().textContent()) ?? '';

  it('shows the application graph, every deployment and its replicas, live', async () => {
    await page.goto(`${s.url}/-/dashboard`);
    await page.locator('#connection[data-state="live"]').waitFor({ timeout: 30_000 });
    for (const name of ['Forecast', 'ForecastPre', 'CountryModels', 'ForecastPost']) {
      await page.locator(`#graph g[data-deployment="${name}"]`).waitFor();
    }
    assert.match((await page.locator('#graph').textContent()) ?? '', /POST \/forecast.*separated into 4 deployments/s);
    assert.equal(await page.locator('article[data-deployment="CountryModels"] tr[data-replica]').count(), 2);
    assert.equal(await page.locator('article[data-deployment="Forecast"] tr[data-replica]').count(), 1);
    assert.match((await page.locator('article[data-deployment="CountryModels"] tr[data-replica]').first().textContent()) ?? '', /running.*cpu/);
    assert.equal(await figure('http-requests'), '0');
  });

  it('moves the counters and the charts while requests arrive', async () => {
    const rpsChart = page.locator('#chart-rps canvas');
    const before = await rpsChart.screenshot();
    let sent = 0;
    let stop = false;
    // Eight clients in a loop: the same country at once batches, many countries make the
    // replicas load and evict models; one request in ten is malformed (a 400).
    const client = async (k: number) => {
      while (!stop) {
        const n = sent++;
        const country = COUNTRIES[(n + k) % COUNTRIES.length]!;
        const body = n % 10 === 9 ? { country, history: [1] } : { country, history };
        const res = await fetch(`${s.url}/forecast`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        await res.arrayBuffer();
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, (_, k) => client(k)));
    try {
      await page.waitForFunction(
        () => {
          const latest = JSON.parse(document.querySelector('#chart-rps')?.dataset.latest ?? '[]') as number[];
          return latest[0]! > 0 && document.querySelector('#chart-hits') !== null && document.querySelector('#chart-batch') !== null;
        },
        undefined,
        { timeout: 60_000 },
      );
    } finally {
      stop = true;
      await load;
    }
    // Wait for the sample after the last request, then read the page.
    await page.waitForFunction((n) => Number(document.querySelector('[data-figure="http-requests"] .value')?.textContent?.replace(/,/g, '')) >= n, sent, {
      timeout: 30_000,
    });
    assert.ok(Number((await figure('http-4xx')).split(' ')[0]) > 0, 'the malformed requests are counted as 4xx');
    const models = page.locator('article[data-deployment="CountryModels"] td.models');
    assert.match((await models.first().textContent()) ?? '', /^[A-Z]{2}(, [A-Z]{2})*$/, 'each replica lists the models it holds');
    assert.match(await figure('hit-rate', 'article[data-deployment="CountryModels"]'), /%/);
    assert.match(await figure('batch', 'article[data-deployment="CountryModels"]'), /\d/);
    assert.ok(Number((await figure('calls', 'article[data-deployment="ForecastPre"]')).replace(/,/g, '')) > 0);
    const latency = JSON.parse((await page.locator('#chart-latency').getAttribute('data-samples')) ?? '0') as number;
    assert.ok(latency > 0, 'the latency chart has samples');
    assert.notDeepEqual(await rpsChart.screenshot(), before, 'the requests/s chart was redrawn with the traffic');

    const dir = await mkdtemp(join(tmpdir(), 'ts-dashboard-shot-'));
    const path = join(dir, 'dashboard.png');
    await page.screenshot({ path, fullPage: true });
    console.log(`dashboard screenshot: ${path}`);
    assert.deepEqual(consoleErrors, [], 'the page logged no errors');
  });
});
