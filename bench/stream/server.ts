/**
 * The streaming bench's server, alone in its process: examples/stream at /generate, plus
 * /ticks, /relayed and /one (deployments.ts). Prints `LISTENING <url>`; drains on SIGTERM.
 */
import { serve } from 'threadserve';
import streamExample from '../../examples/stream/app.ts';
import { serveUntilSignal } from '../lib/serve-until-signal.ts';
import { oneApp, relayedApp, ticksApp } from './deployments.ts';

const instance = await serve.run(
  { generate: streamExample, ticks: ticksApp, relayed: relayedApp, one: oneApp },
  { host: '127.0.0.1', port: 0, grpcPort: 0, logLevel: 'silent', accessLog: false, httpMetrics: false, dashboard: 'off' },
);
serveUntilSignal(`LISTENING ${instance.url}`, () => instance.close());
