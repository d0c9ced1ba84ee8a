/**
 * The soak battery's faults, each a burst of hostile traffic with the answers it must get.
 * Every request is recorded as `ok` (the expected answer, documented errors included) or `lost`
 * (no answer, a reset, or an answer the catalogue does not document for that fault).
 */
import { connect } from 'node:net';
import sharp from 'sharp';

export interface Outcome {
  /** `ok:<status>`, `ok:<code>` or `lost:<why>`. */
  kind: string;
  ms: number;
  /** Steady-load requests count towards the per-minute p99. */
  steady: boolean;
}

export type Record = (o: Outcome) => void;

async function expectStatus(url: string, init: RequestInit, allowed: number[], name: string, record: Record): Promise<void> {
  const started = performance.now();
  try {
    const r = await fetch(url, init);
    const text = await r.text();
    let code = '';
    try {
      code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? '';
    } catch {
      // a 200 with a body of its own
    }
    const ok = allowed.includes(r.status) && (r.status < 400 || code !== '');
    record({ kind: ok ? `ok:${code || r.status}` : `lost:${name} ${r.status} ${text.slice(0, 80)}`, ms: performance.now() - started, steady: false });
  } catch (err) {
    record({ kind: `lost:${name} ${(err as Error).cause ?? (err as Error).message}`, ms: performance.now() - started, steady: false });
  }
}

/** Crashes the crasher's replica: the call answers REPLICA_DIED, the replica is replaced. */
export function crash(url: string, record: Record): Promise<void> {
  return expectStatus(`${url}/crash`, { method: 'POST', body: '{"crash":true}', headers: { 'content-type': 'application/json' } }, [503], 'crash', record);
}

/** Clients that send headers and half a body, then nothing: each must get 408 CLIENT_TIMEOUT. */
export async function slowFlood(url: string, clients: number, record: Record): Promise<void> {
  const { hostname, port } = new URL(url);
  await Promise.all(
    Array.from(
      { length: clients },
      () =>
        new Promise<void>((resolve) => {
          const started = performance.now();
          let got = '';
          const s = connect({ host: hostname, port: Number(port) }, () => {
            s.write('POST /forecast HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{"country":');
          });
          s.on('data', (d) => (got += d.toString()));
          s.on('error', () => undefined);
          s.on('close', () => {
            const ok = / 408 /.test(got.split('\r\n')[0] ?? '') && got.includes('CLIENT_TIMEOUT');
            record({ kind: ok ? 'ok:CLIENT_TIMEOUT' : `lost:slow client ${JSON.stringify(got.slice(0, 60))}`, ms: performance.now() - started, steady: false });
            resolve();
          });
          setTimeout(() => s.destroy(), 30_000).unref();
        }),
    ),
  );
}

/** 60 MB bodies: 413, read by the client (no EPIPE). */
export async function oversized(url: string, count: number, record: Record): Promise<void> {
  const big = new Uint8Array(60 * 1024 * 1024);
  for (let i = 0; i < count; i++) {
    await expectStatus(`${url}/ocr`, { method: 'POST', body: big, headers: { 'content-type': 'image/png' } }, [413], 'oversized', record);
  }
}

let bomb: Buffer | undefined;

/** Malformed multipart, a bad URL, huge headers, non-finite numbers, and decompression bombs. */
export async function malformed(url: string, record: Record): Promise<void> {
  bomb ??= await sharp({ create: { width: 4096, height: 4096, channels: 3, background: '#000' } })
    .greyscale()
    .png({ compressionLevel: 9 })
    .toBuffer();
  const post = (path: string, body: string | Uint8Array, type: string, allowed: number[], name: string) =>
    expectStatus(`${url}${path}`, { method: 'POST', body, headers: { 'content-type': type } }, allowed, name, record);
  await Promise.all([
    post('/ocr', 'abc', 'multipart/form-data', [400], 'no boundary'),
    post('/ocr', '--b\r\ncontent-disposition: form-data; name="image"; filename="a"\r\n\r\nabc', 'multipart/form-data; boundary=b', [400], 'unterminated'),
    post('/ocr', 'abc', `multipart/form-data; boundary=${'a'.repeat(2000)}`, [400], 'long boundary'),
    post('/forecast/%zz', '{}', 'application/json', [400], 'bad url'),
    post('/forecast', `{"country":"AD","history":[${new Array(8).fill('1e308').join(',')}]}`, 'application/json', [400], 'overflow'),
    post('/forecast', '{"country":"AD","history":[1,1,1,1,1,1,1,1e999]}', 'application/json', [400], 'infinity'),
    expectStatus(
      `${url}/forecast`,
      { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', 'x-big': 'a'.repeat(20_000) } },
      [431],
      'huge headers',
      record,
    ),
    ...Array.from({ length: 8 }, () => post('/ocr', bomb!, 'image/png', [200, 503], 'bomb')),
  ]);
}
