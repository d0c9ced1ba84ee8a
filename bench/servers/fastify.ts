/**
 * Part 2a, the baseline server: bare fastify 5, POST / echoes its JSON body. Fastify's
 * defaults, no logger (threadserve's ingress also logs nothing per request). Runs alone in its
 * process; prints `LISTENING <url>`, closes cleanly on SIGTERM/SIGINT so a CPU profile
 * (--cpu-prof) gets written.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.post('/', async (req) => req.body);

const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`LISTENING ${address}\n`);

let closing = false;
const shutdown = async () => {
  if (closing) return;
  closing = true;
  await app.close();
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
