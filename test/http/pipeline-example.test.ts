// examples/pipeline: grouped and separated give the same answers over HTTP.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serve } from 'threadserve';
import { grouped, separated } from '../../examples/pipeline/app.ts';
import { SIDE } from '../../examples/pipeline/steps.ts';

const image = (f: (x: number, y: number) => number) => Array.from({ length: SIDE * SIDE }, (_, i) => f(i % SIDE, Math.floor(i / SIDE)));

describe('examples/pipeline', () => {
  it('answers the same grouped and separated, and rejects bad images with 400', async () => {
    const answers: unknown[] = [];
    for (const app of [grouped, separated]) {
      const s = await serve.run(app, { listen: false, logLevel: 'silent' });
      try {
        const out = [];
        for (const img of [image((x, y) => (x + y) * 8), image((x) => (x % 4) * 60), image(() => 0)]) {
          const r = await s.http.inject({ method: 'POST', url: '/classify', payload: { pixels: img } });
          assert.equal(r.statusCode, 200);
          const body = r.json();
          assert.ok(['circle', 'square', 'triangle', 'line'].includes(body.label));
          assert.ok(Math.abs(Object.values(body.scores as Record<string, number>).reduce((a, b) => a + b, 0) - 1) < 1e-6);
          out.push(body);
        }
        const bad = await s.http.inject({ method: 'POST', url: '/classify', payload: { pixels: [1, 2, 3] } });
        assert.equal(bad.statusCode, 400);
        assert.match(bad.json().error.message, /pixels must hold 256 values/);
        const outOfRange = await s.http.inject({ method: 'POST', url: '/classify', payload: { pixels: image(() => 300) } });
        assert.equal(outOfRange.statusCode, 400);
        assert.match(outOfRange.json().error.message, /pixels\[0\] must be 0\.\.255, got 300/);
        answers.push(out);
      } finally {
        await s.close();
      }
    }
    assert.deepEqual(answers[0], answers[1]);
  });
});
