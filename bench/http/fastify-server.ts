/**
 * Part 2a, the baseline server: bare fastify 5, POST / echoes its JSON body. Fastify's
 * defaults, no logger (threadserve's ingress also logs nothing per request). Runs alone in its
 * process; prints `LISTENING <url>`, closes cleanly on SIGTERM/SIGINT so a CPU profile
 * (--cpu-prof) gets written.
 */
import Fastify from 'fastify';
import { serveUntilSignal } from '../lib/serve-until-signal.ts';

const app = Fastify({ logger: false });
app.post('/', async (req) => req.body);

const address = await app.listen({ host: '127.0.0.1', port: 0 });
serveUntilSignal(`LISTENING ${address}`, () => app.close());
