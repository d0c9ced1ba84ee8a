// The README's "Writing an application" example: the blocks are the files, and the app serves.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { serve } from 'threadserve';
import type { ServeInstance } from 'threadserve';
import app from '../../examples/classify/app.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('examples/classify (the README example)', () => {
  it('is quoted in the README exactly as the files are', () => {
    const readme = readFileSync(`${root}README.md`, 'utf8');
    const blocks = [...readme.matchAll(/```ts\n(\/\/ (examples\/\S+?\.ts)[^\n]*\n[\s\S]*?)```/g)];
    const quoted = new Map(blocks.map((m) => [m[2]!, m[1]!]));
    for (const file of ['examples/classify/app.ts', 'examples/classify/main.ts']) {
      assert.ok(quoted.has(file), `the README quotes ${file}`);
      assert.equal(quoted.get(file)!.trimEnd(), readFileSync(`${root}${file}`, 'utf8').trimEnd(), `${file} differs from the README`);
    }
  });

  let s: ServeInstance;
  before(async () => {
    s = await serve.run(app, { listen: false, logLevel: 'silent' });
  });
  after(() => s.close());

  it('classifies 784 pixels and answers 400 naming the count otherwise', async () => {
    const ok = await s.http.inject({ method: 'POST', url: '/classify', payload: { pixels: Array(784).fill(128) } });
    assert.equal(ok.statusCode, 200, ok.body);
    const body = ok.json() as { label: number; requestId: string };
    assert.ok(Number.isInteger(body.label) && body.label >= 0 && body.label < 10);
    assert.equal(typeof body.requestId, 'string');
    const bad = await s.http.inject({ method: 'POST', url: '/classify', payload: { pixels: [1, 2, 3] } });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /need 784 pixels, got 3/);
  });
});
