// The process-wide memory budget: decoded pixels and request tensors are admitted before they
// are allocated; over the budget, requests wait, then get 503 + Retry-After; the server's
// peak RSS stays within the budget under a flood of decompression bombs, and it keeps serving.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { serve } from 'threadserve';
import { HoldingModelD } from '../fixtures/edge.ts';
import { renderText } from '../fixtures/render-text.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const MiB = 1024 * 1024;

function infer(url: string, n: number) {
  const body = { inputs: [{ name: 'x', datatype: 'FP32', shape: [n], data: Array.from({ length: n }, (_, i) => i) }] };
  return fetch(`${url}/v2/models/holding/infer`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
}

describe('memory budget', () => {
  it('admits V2 request tensors against the budget: waits, then 503 + Retry-After; 413 for one over the whole budget', async () => {
    // 1 MiB budget; each request holds 600 KB of FP32 for 1.5 s: the second must wait and give up.
    const s = await serve.run(HoldingModelD.bind(1500), { port: 0, logLevel: 'silent', memoryBudgetMb: 1, memoryWaitS: 0.3, bodyLimit: 16 * MiB });
    try {
      const first = infer(s.url!, 150_000);
      await new Promise((r) => setTimeout(r, 300));
      const second = await infer(s.url!, 150_000);
      assert.equal(second.status, 503);
      assert.equal(second.headers.get('retry-after'), '1');
      assert.match(((await second.json()) as { error: string }).error, /memory budget/);
      assert.equal((await first).status, 200);
      const huge = await infer(s.url!, 400_000);
      assert.equal(huge.status, 413);
      assert.match(((await huge.json()) as { error: string }).error, /more than the server's whole memory budget of 1\.0 MiB/);
      // Released: the same request fits again.
      assert.equal((await infer(s.url!, 150_000)).status, 200);
    } finally {
      await s.close();
    }
  });

  it('keeps peak RSS within the budget under 48 concurrent decompression bombs, and serves afterwards', async () => {
    const budgetMb = 256;
    const child = spawn(
      process.execPath,
      [
        'bin/threadserve.js',
        'run',
        'examples/ocr/app.ts',
        '--port',
        '0',
        '--log-level',
        'warn',
        '--log-format',
        'pretty',
        '--memory-budget-mb',
        String(budgetMb),
        '--memory-wait-s',
        '2',
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      let out = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /serving at (http:\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
      });
      const mib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;
      // 49 KB of PNG declaring 4096 x 4096 pixels (within the example's pixel limit): ~50 MB decoded.
      const bomb = await sharp({ create: { width: 4096, height: 4096, channels: 3, background: '#000' } })
        .greyscale()
        .png({ compressionLevel: 9 })
        .toBuffer();
      assert.ok(bomb.length < 64 * 1024);
      // One bomb first: what one large image costs once and keeps (onnxruntime's arena sized for
      // the detector's largest input, libvips' caches) is the process's, not the flood's; the
      // budget bounds what concurrent requests add on top.
      const first = await fetch(`${url}/ocr`, { method: 'POST', body: bomb, headers: { 'content-type': 'image/png' } });
      assert.equal(first.status, 200);
      await first.arrayBuffer();
      const baseline = mib('VmHWM');
      const statuses = await Promise.all(
        Array.from({ length: 48 }, async () => {
          const r = await fetch(`${url}/ocr`, { method: 'POST', body: bomb, headers: { 'content-type': 'image/png' } });
          const body = (await r.json()) as { error?: { code: string } };
          if (r.status === 503) {
            assert.equal(body.error?.code, 'OVER_MEMORY_BUDGET');
            assert.ok(Number(r.headers.get('retry-after')) >= 1);
          }
          return r.status;
        }),
      );
      const peak = mib('VmHWM');
      const served = statuses.filter((c) => c === 200).length;
      const refused = statuses.filter((c) => c === 503).length;
      process.stdout.write(
        `# 48 bombs: ${served} served, ${refused} refused; RSS baseline ${baseline.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB (budget ${budgetMb} MiB)\n`,
      );
      assert.equal(served + refused, 48, `every bomb is answered 200 or 503: ${statuses.join(',')}`);
      assert.ok(served >= 1, 'bombs within the budget are served');
      // The budget bounds what requests allocate; allow a quarter more for allocator slack.
      assert.ok(peak - baseline <= budgetMb * 1.25, `peak RSS grew ${(peak - baseline).toFixed(0)} MiB, over the ${budgetMb} MiB budget`);
      const png = await renderText(['still serving']);
      const ok = await fetch(`${url}/ocr`, { method: 'POST', body: png, headers: { 'content-type': 'image/png' } });
      assert.equal(ok.status, 200);
      assert.deepEqual(
        ((await ok.json()) as { lines: Array<{ text: string }> }).lines.map((l) => l.text),
        ['still serving'],
      );
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });
});
