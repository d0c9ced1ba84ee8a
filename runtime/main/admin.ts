/**
 * The admin API, on a listener of its own (Ray Serve's dashboard port, 8265, by default) so
 * that it never shares a port, a body limit or a route table with user traffic:
 *   GET /api/status        the status snapshot (admin-status.ts)
 *   PUT /api/deploy        { file, text }: a config file to apply live (redeploy.ts)
 * It binds 127.0.0.1 by default. Bound anywhere else it requires a token, sent as
 * `Authorization: Bearer <token>` (any request to a server started with a token must carry it).
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import { OptionsError } from '../shared/errors.ts';
import type { Application } from './application.ts';
import type { Deployer } from './redeploy.ts';
import { adminStatus } from './admin-status.ts';

export interface AdminOptions {
  host: string;
  port: number;
  token: string | undefined;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

const deployBody = z.strictObject({
  file: z.string({ error: 'must be the config file name' }).min(1),
  text: z.string({ error: 'must be the config file text' }),
});

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(/^Bearer (.+)$/.exec(header ?? '')?.[1] ?? '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** Refuses an admin API reachable from other machines without a token (checked before anything starts). */
export function checkAdminOptions(opts: { host: string; token: string | undefined }): void {
  if (!LOOPBACK.test(opts.host) && !opts.token) {
    throw new OptionsError(`admin API: binding ${opts.host} (not loopback) requires a token: --admin-token or THREADSERVE_ADMIN_TOKEN`);
  }
}

/** Starts the admin listener; returns it and its URL. */
export async function startAdmin(app: Application, deployer: Deployer, opts: AdminOptions, log: Logger): Promise<{ http: FastifyInstance; url: string }> {
  checkAdminOptions(opts);
  const http = Fastify({ bodyLimit: 4 * 1024 * 1024 });
  if (opts.token) {
    const token = opts.token;
    http.addHook('onRequest', async (req, reply) => {
      if (!tokenMatches(req.headers.authorization, token)) {
        return reply.status(401).send({ error: { code: 'UNAUTHORIZED', message: 'the admin API needs "Authorization: Bearer <token>"' } });
      }
    });
  }
  http.get('/api/status', async () => adminStatus(app));
  // One deploy at a time: two overlapping rolls would fight over the same replicas.
  let deploying: Promise<unknown> = Promise.resolve();
  http.put('/api/deploy', async (req, reply) => {
    const body = deployBody.safeParse(req.body);
    if (!body.success)
      return reply.status(400).send({ error: { code: 'INVALID_OPTIONS', message: `deploy: send {"file", "text"}: ${body.error.issues[0]?.message}` } });
    const run = deploying.then(() => deployer.deploy(body.data.file, body.data.text));
    deploying = run.catch(() => undefined);
    try {
      return await run;
    } catch (err) {
      const bad = err instanceof OptionsError;
      if (!bad) log.error({ err }, 'deploy failed');
      return reply.status(bad ? 400 : 500).send({ error: { code: bad ? 'INVALID_OPTIONS' : 'DEPLOY_FAILED', message: (err as Error).message } });
    }
  });
  await http.listen({ host: opts.host, port: opts.port });
  const addr = http.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  return { http, url: `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}` };
}
