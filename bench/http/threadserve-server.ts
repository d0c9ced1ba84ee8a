/**
 * Part 2b-2d: threadserve serving one of bench/core/deployments.ts's apps at route "/":
 *   threadserve.ts onehop     HTTP -> EchoIngress (call(body) returns body)
 *   threadserve.ts onehop observed   the same with the access log, HTTP metrics and tracing on
 *   threadserve.ts twohop     HTTP -> TwoHopIngress -> A
 *   threadserve.ts pipeline   HTTP -> PipelineIngress -> A -> B -> C
 * Runs alone in its process (replica threads are its workers); prints `LISTENING <url>` and
 * drains on SIGTERM/SIGINT, so the main thread and every replica thread write their CPU
 * profiles when run with --cpu-prof (replica threads inherit the flag).
 */
import { serve } from 'threadserve';
import { apps } from '../core/deployments.ts';
import { serveUntilSignal } from '../lib/serve-until-signal.ts';

const which = process.argv[2] as keyof typeof apps;
if (!(which in apps)) throw new Error(`usage: threadserve.ts ${Object.keys(apps).join('|')}`);

// 'observed': an access log line per request (JSON on stdout, which the bench reads as a log
// shipper would), HTTP metrics, and tracing with no SDK registered. Otherwise all of it is off.
const observed = process.argv[3] === 'observed';
const instance = await serve.run(apps[which](), {
  host: '127.0.0.1',
  port: 0,
  route: '/',
  logLevel: observed ? 'info' : 'silent',
  logFormat: 'json',
  accessLog: observed,
  httpMetrics: observed,
});
serveUntilSignal(`LISTENING ${instance.url}`, () => instance.close());
