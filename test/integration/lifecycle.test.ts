// Start-up, crash recovery and shutdown with real worker threads.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { OptionsError, ReplicaDiedError, bind, deployment, serve } from 'threadserve';
import type { ServeInstance } from 'threadserve';
import { Crashes, Echo } from '../fixtures/deployments.ts';
import { BrokenConstructor, Flaky, LongCall, SlowInit } from '../fixtures/lifecycle.ts';

async function waitFor(cond: () => boolean | Promise<boolean>, ms = 5000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(20);
  }
}

class Preprocess {
  run(x: number) {
    return x;
  }
}
const InvalidPre = deployment(Preprocess, { numReplicas: 0 });

describe('start-up', () => {
  it('rejects invalid options before any thread starts, naming the deployment and option', async () => {
    const t0 = performance.now();
    await assert.rejects(serve.run(InvalidPre.bind(), { listen: false, logLevel: 'silent' }), (err: unknown) => {
      assert.ok(err instanceof OptionsError);
      assert.equal(err.message, 'deployment "Preprocess": numReplicas must be a positive integer or "auto", got 0');
      return true;
    });
    assert.ok(performance.now() - t0 < 200);
    await assert.rejects(
      serve.run(deployment(Preprocess, { maxOngoingRequests: 1.5, bogus: true } as never).bind(), { listen: false }),
      /deployment "Preprocess": unknown option "bogus"\ndeployment "Preprocess": maxOngoingRequests must be an integer from 1 to 65535, got 1.5|deployment "Preprocess": maxOngoingRequests must be an integer from 1 to 65535, got 1.5\ndeployment "Preprocess": unknown option "bogus"/,
    );
    await assert.rejects(serve.run(bind(Echo), { port: 70000 } as never), /serve: port must be an integer port from 0 to 65535, got 70000/);
  });

  it('finishes async init() before the replica takes calls', async () => {
    const s = await serve.run(bind(SlowInit), { listen: false, logLevel: 'silent' });
    try {
      assert.equal(await s.handle<SlowInit>('SlowInit').isReady(), true);
    } finally {
      await s.close();
    }
  });

  it('fails run() with the constructor error and the deployment name', async () => {
    await assert.rejects(serve.run(bind(BrokenConstructor), { listen: false, logLevel: 'silent' }), {
      code: 'STARTUP_FAILED',
      message: 'deployment "BrokenConstructor" failed to start: cannot load the model file',
    });
  });
});

describe('replica crashes', () => {
  async function crashWhileLoaded(s: ServeInstance, kill: () => Promise<unknown>) {
    const crashes = s.handle<Crashes>('Crashes');
    const echo = s.handle<Echo>('Echo');
    let stop = false;
    const echoFailures: unknown[] = [];
    let echoOk = 0;
    // Load on another deployment during the crash: none of it may fail.
    const load = (async () => {
      while (!stop) {
        const r = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => echo.echo(i)));
        for (const x of r) x.status === 'fulfilled' ? echoOk++ : echoFailures.push(x.reason);
      }
    })();
    const killErr = await kill().then(
      () => undefined,
      (e: unknown) => e,
    );
    // The crashed deployment keeps serving on its other replica, then gets its replacement.
    const after = await Promise.all(Array.from({ length: 10 }, () => crashes.work(1)));
    await waitFor(() => s.ready);
    stop = true;
    await load;
    return { killErr, after, echoFailures, echoOk };
  }

  for (const [what, kill] of [
    ['process.exit() in the class', (h: { exit(): Promise<void> }) => h.exit()],
    ['an uncaught exception', (h: { uncaught(): Promise<void> }) => h.uncaught()],
    ['running out of memory under resourceLimits', (h: { oom(): Promise<void> }) => h.oom()],
  ] as const) {
    it(`replaces a replica killed by ${what}; its call fails with 503, nothing else does`, async () => {
      const s = await serve.run({ c: bind(Crashes), e: bind(Echo) }, { listen: false, logLevel: 'silent' });
      try {
        const crashes = s.handle<Crashes>('Crashes');
        const r = await crashWhileLoaded(s, () => (kill as (h: unknown) => Promise<void>)(crashes));
        assert.ok(r.killErr instanceof ReplicaDiedError, `got ${String(r.killErr)}`);
        assert.equal(r.killErr.statusCode, 503);
        assert.match(r.killErr.message, /deployment "Crashes": replica Crashes#\d died/);
        assert.equal(r.after.length, 10);
        assert.deepEqual(r.echoFailures, []);
        assert.ok(r.echoOk > 0);
        const replicas = await Promise.all(Array.from({ length: 30 }, () => crashes.work(0)));
        assert.ok(replicas.includes('Crashes#2'), 'the replacement replica serves');
      } finally {
        await s.close();
      }
    });
  }

  it('fails only the calls that were running on the dead replica', async () => {
    const s = await serve.run(bind(Crashes), { listen: false, logLevel: 'silent' });
    try {
      const crashes = s.handle<Crashes>('Crashes');
      const results = await Promise.allSettled([crashes.exit(), ...Array.from({ length: 30 }, (_, i) => crashes.work(20 + (i % 5)))]);
      const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      for (const f of failed) assert.ok(f.reason instanceof ReplicaDiedError);
      // At most one replica's worth of calls (maxOngoingRequests 8) can have been on it.
      assert.ok(failed.length <= 8, `${failed.length} failed`);
      assert.ok(results.length - failed.length >= 23);
    } finally {
      await s.close();
    }
  });

  it('replaces a replica whose health check fails', async () => {
    const s = await serve.run(bind(Flaky), { listen: false, logLevel: 'silent' });
    try {
      const f = s.handle<Flaky>('Flaky');
      await f.breakHealth();
      await waitFor(async () => (await s.http.inject({ url: '/-/status' })).json().deployments[0].replicas[0]?.id === 'Flaky#1');
      assert.equal(await f.ping(), 'pong');
    } finally {
      await s.close();
    }
  });
});

describe('shutdown', () => {
  it('drains: close() waits for running calls, then stops the threads; later calls fail clearly', async () => {
    const s = await serve.run(bind(LongCall), { listen: false, logLevel: 'silent' });
    const h = s.handle<LongCall>('LongCall');
    // The call cannot end before t0 + 300 ms, however late the replica starts it: timing from
    // here keeps the check true on a loaded machine (timing from after the sleep did not).
    const t0 = performance.now();
    const running = h.hold(300);
    await sleep(20);
    await s.close();
    assert.ok(performance.now() - t0 >= 250, 'close waited for the call');
    assert.equal(await running, 'held 300ms');
    await assert.rejects(h.hold(1), { code: 'UNAVAILABLE', message: 'deployment "LongCall" is shutting down' });
  });
});
