// Replica threads run TypeScript compiled once on the main thread, without tsx in the thread;
// a module that cannot be compiled sends the application's replicas back to tsx, logged once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { HttpError, RemoteError, serve } from 'threadserve';
import { Loader, LoaderD } from '../fixtures/replica-loader.ts';
import { FallbackLoaderD } from '../fixtures/replica-loader-fallback.ts';
import type { FallbackLoader } from '../fixtures/replica-loader-fallback.ts';

const SOURCE_URL = new URL('../fixtures/replica-loader.ts', import.meta.url).href;

/** A logger whose warnings land in `lines`. */
function capture(lines: string[]) {
  return pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
}

describe('replica modules', () => {
  it('run compiled, with no tsx in the replica thread, and keep their errors', async () => {
    const warnings: string[] = [];
    const s = await serve.run(LoaderD.bind(), { listen: false, logger: capture(warnings), route: null });
    try {
      const h = s.handle<Loader>('Loader');
      const where = await h.where();
      assert.deepEqual(
        where.execArgv.filter((a) => /source-hooks|tsx/.test(a)),
        [],
      );
      assert.equal(where.tsxHooks, false);
      assert.match(where.runningFrame, /node_modules\/\.cache\/threadserve\/replicas\/.*\/test\/fixtures\/replica-loader\.ts\.mjs:\d+:\d+/);
      assert.equal(where.url, SOURCE_URL);
      await assert.rejects(h.fail('quota'), (err: unknown) => {
        assert.ok(err instanceof RemoteError);
        assert.equal(err.name, 'QuotaError');
        assert.equal(err.code, 'QUOTA_EXCEEDED');
        assert.equal(err.message, 'over quota');
        return true;
      });
      await assert.rejects(h.fail('http'), (err: unknown) => err instanceof HttpError && err.statusCode === 418 && err.name === 'HttpError');
      assert.deepEqual(warnings, []);
    } finally {
      await s.close();
    }
  });

  it('fall back to tsx when a module cannot be compiled, and say why once', async () => {
    const warnings: string[] = [];
    for (let run = 0; run < 2; run++) {
      const s = await serve.run(FallbackLoaderD.bind(), { listen: false, logger: capture(warnings), route: null });
      try {
        const where = await s.handle<FallbackLoader>('FallbackLoader').where();
        assert.ok(
          where.execArgv.some((a) => a.endsWith('source-hooks.mjs')),
          where.execArgv.join(' '),
        );
        assert.equal(where.tsxHooks, true);
        assert.match(where.runningFrame, /\/test\/fixtures\/replica-loader\.ts:\d+:\d+/);
      } finally {
        await s.close();
      }
    }
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(JSON.parse(warnings[0]!).msg, /replicas load TypeScript through tsx .*require\(\)s \.\/replica-loader\.ts/);
  });
});
