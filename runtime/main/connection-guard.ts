/**
 * What the ingress does with connections, beyond answering requests:
 *
 * - Lingering close. An answer sent before the body was read (413, 415, a multipart limit, a
 *   client timeout) ends the connection with `Connection: close`, because the rest of that body
 *   would otherwise be read as the next request, or never read at all (the next request on the
 *   connection hangs). Closing at once is not enough either: the client is usually still
 *   sending, and a socket closed with unread data sends a reset, which makes the client's
 *   kernel drop our answer before the client reads it (Node's fetch reports EPIPE). So, as
 *   nginx's lingering close does, the server sends its answer and its FIN, reads and discards
 *   what still comes for a bounded time and amount, then closes.
 * - Drain. At shutdown, connections with no request being served (idle keep-alive connections,
 *   clients still sending headers or a body) are closed at once; only requests whose body has
 *   arrived and that are being served are waited for. New requests get 503 UNAVAILABLE.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { codedError } from '../shared/error-codes.ts';

/**
 * How long and how much a closing connection keeps reading (nginx: lingering_time,
 * lingering_timeout). Time is what the client needs to read the answer before the close; the
 * byte bound only caps the work. With 1 MiB, a client uploading 60 MB over loopback was cut
 * within a few milliseconds and, on a loaded machine, 1 in 15 got EPIPE instead of the 413.
 */
const LINGER = Object.freeze({ ms: 1000, bytes: 64 * 1024 * 1024, pollMs: 20 });

/**
 * Ends the write side (the answer already written goes out, then FIN), discards what the client
 * still sends until it stops, `LINGER.bytes` more arrived or `LINGER.ms` passed, then destroys.
 */
export function lingerThenClose(socket: Socket, req?: IncomingMessage): void {
  if (socket.destroyed) return;
  const startBytes = socket.bytesRead;
  let timer: NodeJS.Timeout | undefined;
  const done = () => {
    clearInterval(timer);
    socket.destroy();
  };
  socket.end();
  // Whatever holds the socket paused (a body parser that stopped reading) lets go: the bytes are
  // parsed as body and dropped, or, after a parse error, read here and dropped.
  req?.resume();
  socket.on('data', () => undefined);
  socket.resume();
  // The HTTP parser reads the handle directly; after it stopped reading (a full request buffer),
  // Readable's resume() above does not restart it: restart the handle itself.
  const handle = (socket as Socket & { _handle?: { reading?: boolean; readStart?: () => number } })._handle;
  if (handle && handle.reading === false && typeof handle.readStart === 'function') {
    handle.reading = true;
    handle.readStart();
  }
  socket.once('end', done);
  socket.once('close', () => clearInterval(timer));
  req?.once('end', done);
  if (req?.complete) return done();
  const started = Date.now();
  timer = setInterval(() => {
    if (socket.bytesRead - startBytes > LINGER.bytes || Date.now() - started > LINGER.ms) done();
  }, LINGER.pollMs);
  timer.unref();
}

type DestroySoon = Socket & { destroySoon?: () => void };

export class ConnectionGuard {
  private readonly sockets = new Set<Socket>();
  /** Sockets with a request whose body has arrived and whose answer is not yet sent. */
  private readonly serving = new Map<Socket, number>();
  private draining = false;

  constructor(private readonly http: FastifyInstance) {}

  /** Adds the hooks; call before routes and plugins are registered so that every scope inherits them. */
  install(): void {
    const http = this.http;
    http.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => {
        this.sockets.delete(socket);
        this.serving.delete(socket);
      });
    });
    http.addHook('onRequest', async (req, reply) => {
      if (!this.draining) return;
      void reply.header('connection', 'close');
      throw codedError('UNAVAILABLE', 'the server is shutting down; retry on another instance');
    });
    http.addHook('preHandler', async (req) => {
      const s = req.raw.socket;
      this.serving.set(s, (this.serving.get(s) ?? 0) + 1);
    });
    http.addHook('onResponse', async (req) => {
      const s = req.raw.socket;
      const n = (this.serving.get(s) ?? 0) - 1;
      if (n > 0) this.serving.set(s, n);
      else {
        this.serving.delete(s);
        // An answer whose headers went out before shutdown began (a stream) said keep-alive:
        // the connection would idle until the grace period ends. End it now that it is done.
        if (this.draining) s.end();
      }
    });
    http.addHook('onSend', async (req, reply) => {
      // The body was not read to its end: close after this answer, lingering so the client reads it.
      if (req.raw.complete || reply.statusCode < 400) return;
      void reply.header('connection', 'close');
      const socket = req.raw.socket as DestroySoon;
      // Node ends a `Connection: close` response with socket.destroySoon(): FIN, then an
      // immediate destroy that resets a client still sending. Linger instead.
      socket.destroySoon = () => lingerThenClose(socket, req.raw);
    });
  }

  /** Shutdown begins: refuse new requests, close every connection that is not being served. */
  startDrain(): void {
    this.draining = true;
    for (const socket of this.sockets) {
      if (!this.serving.has(socket)) socket.destroy();
    }
  }
}
