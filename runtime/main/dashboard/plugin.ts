/**
 * `GET /-/dashboard`: a live page of the running topology and its traffic. Serves the page and
 * its scripts (shipped in the package beside this module, uPlot from its own package: nothing
 * from a CDN), `GET /-/dashboard/data` (the status, the sampled history and the totals as
 * JSON) and `GET /-/dashboard/events` (Server-Sent Events: the same data, then a sample and
 * the status every second).
 *
 * The page shows the application's internals (deployment names, replica states, traffic), so
 * by default it answers loopback clients only, even when the server listens on every address;
 * serve's `dashboard: 'open'` serves everyone, `'off'` registers none of its routes.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { codedError } from '../../shared/error-codes.ts';
import type { Application } from '../application.ts';
import { statusSnapshot } from '../status-snapshot.ts';
import { VERSION } from '../version.ts';
import { EventFeed } from './event-feed.ts';
import { HttpTraffic } from './http-traffic.ts';
import { TrafficSampler } from './traffic-sampler.ts';

export const DASHBOARD_ACCESS = ['local', 'open', 'off'] as const;
export type DashboardAccess = (typeof DASHBOARD_ACCESS)[number];

const SAMPLE_INTERVAL_MS = 1000;
/** Five minutes of one-second samples. */
const HISTORY_SAMPLES = 300;

const pageDir = fileURLToPath(new URL('./page/', import.meta.url));
const uplotDir = dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.esm.js'));

function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || /^(::ffff:)?127\./.test(address);
}

async function loopbackOnly(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
  const from = req.socket.remoteAddress;
  if (!isLoopback(from)) {
    throw codedError(
      'FORBIDDEN',
      `the dashboard answers loopback clients only, not ${from ?? 'an unknown address'}; serve with dashboard: 'open' (threadserve run --dashboard open) to show it to others`,
    );
  }
}

/** Adds the dashboard's routes and its HTTP traffic hook to the ingress (before its other routes). */
export function registerDashboard(http: FastifyInstance, app: Application, access: DashboardAccess): void {
  if (access === 'off') return;
  const traffic = new HttpTraffic();
  traffic.observe(http);
  const sampler = new TrafficSampler(
    {
      registry: app.metrics.registry,
      http: traffic,
      gauges: () => app.allRunners().map((r) => ({ name: r.name, queued: r.router.queued, inFlight: r.router.inFlight })),
    },
    HISTORY_SAMPLES,
  );
  const feed = new EventFeed();
  const current = () => ({ status: statusSnapshot(app), totals: sampler.totals });
  const server = { version: VERSION, pid: process.pid, startedAt: Date.now() };
  const initial = () => JSON.stringify({ sampleIntervalS: SAMPLE_INTERVAL_MS / 1000, server, ...current(), history: sampler.history() });

  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    const sample = await sampler.sample();
    if (sample && feed.size > 0) feed.send(JSON.stringify({ sample, ...current() }));
  };
  http.addHook('onReady', async () => {
    await sampler.sample(); // the baseline the first sample is measured from
    timer = setInterval(() => void tick().catch((err: Error) => http.log.warn({ err: err.message }, 'dashboard sample failed')), SAMPLE_INTERVAL_MS);
    timer.unref();
  });
  http.addHook('preClose', async () => {
    clearInterval(timer);
    feed.closeAll();
  });

  const indexHtml = readFileSync(`${pageDir}index.html`);
  void http.register(async (scope) => {
    if (access === 'local') scope.addHook('onRequest', loopbackOnly);
    scope.get('/-/dashboard', async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(indexHtml));
    scope.get('/-/dashboard/data', async (_req, reply) => reply.type('application/json').send(initial()));
    scope.get('/-/dashboard/events', (req, reply) => {
      reply.hijack();
      feed.open(reply.raw, initial());
      req.raw.on('close', () => reply.raw.end());
    });
    await scope.register(fastifyStatic, { root: pageDir, prefix: '/-/dashboard/assets/', index: false });
    await scope.register(fastifyStatic, {
      root: uplotDir,
      prefix: '/-/dashboard/vendor/',
      index: false,
      decorateReply: false,
      allowedPath: (path) => /^\/uPlot\.(esm\.js|min\.css)$/.test(path),
    });
  });
}
