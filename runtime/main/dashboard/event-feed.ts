/**
 * The Server-Sent Events streams of open dashboard pages. A message is serialised once and
 * written to every stream; a stream goes away when its client disconnects. `closeAll()` ends
 * the streams when the server closes, since an open stream would otherwise hold `close()`
 * until the graceful timeout cut it.
 */
import type { ServerResponse } from 'node:http';

export class EventFeed {
  private readonly streams = new Set<ServerResponse>();

  get size(): number {
    return this.streams.size;
  }

  /** Starts an event stream on `res` with a first `init` event; browsers reconnect after `retryMs`. */
  open(res: ServerResponse, init: string, retryMs = 2000): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // Proxies such as nginx buffer answers unless told not to; a live feed must not wait.
      'x-accel-buffering': 'no',
    });
    res.write(`retry: ${retryMs}\nevent: init\ndata: ${init}\n\n`);
    this.streams.add(res);
    res.on('close', () => this.streams.delete(res));
  }

  /** Sends one `message` event (already JSON) to every open stream. */
  send(json: string): void {
    const frame = `data: ${json}\n\n`;
    for (const res of this.streams) res.write(frame);
  }

  closeAll(): void {
    for (const res of this.streams) res.end();
    this.streams.clear();
  }
}
