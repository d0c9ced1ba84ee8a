/**
 * An ONNX file's version without decoding the model: walks only the top-level fields of the
 * ModelProto (protobuf) and skips the graph by its length. Decoding a whole file with
 * onnx-proto just to read this cost more than creating the session for big models.
 *
 * ModelProto fields used: 5 model_version (int64), 14 metadata_props (StringStringEntryProto:
 * 1 key, 2 value). The version is metadata_props["version"], else model_version, else "1".
 */
import { open } from 'node:fs/promises';

const decoder = new TextDecoder();

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) {
      const n = this.varint(); // read before adding: `pos += varint()` would add to the old pos
      this.pos += n;
    } else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
  bytes(): Uint8Array {
    const n = this.varint();
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

function entry(bytes: Uint8Array): [string, string] {
  const r = new Reader(bytes);
  let key = '';
  let value = '';
  while (r.pos < bytes.length) {
    const tag = r.varint();
    if (tag === (1 << 3) + 2) key = decoder.decode(r.bytes());
    else if (tag === (2 << 3) + 2) value = decoder.decode(r.bytes());
    else r.skip(tag & 7);
  }
  return [key, value];
}

/** The version rule over what the walk found. */
function versionOf(modelVersion: number, propVersion: string | undefined): string {
  if (propVersion) return propVersion;
  return modelVersion > 0 ? String(modelVersion) : '1';
}

export function onnxModelVersion(file: Uint8Array): string {
  const r = new Reader(file);
  let modelVersion = 0;
  let propVersion: string | undefined;
  while (r.pos < file.length) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 5 && wire === 0) modelVersion = r.varint();
    else if (field === 14 && wire === 2) {
      const [k, v] = entry(r.bytes());
      if (k === 'version') propVersion = v;
    } else r.skip(wire);
  }
  return versionOf(modelVersion, propVersion);
}

/** Bytes read at once: a small model whole, a big one's header and its tail after the graph. */
const WINDOW = 64 * 1024;
/** Longest varint (10 bytes) plus the tag before it. */
const MAX_TAG_AND_VARINT = 20;

/**
 * onnxModelVersion of a file on disk, reading only the top-level tags and the fields it needs,
 * never the weights: a repository that loads models all the time would otherwise read each
 * file twice and leave a weights-sized buffer per load to the GC. It reads a window of 64 KiB
 * and moves it only when a tag lies outside it (a small model: one read; a big one: the
 * header, then the fields after the graph), because every read is a round trip through
 * libuv's thread pool: a read per tag cost more CPU than creating the session.
 */
export async function onnxModelVersionOfFile(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const window = new Uint8Array(Math.min(size, WINDOW));
    let windowStart = 0;
    let windowEnd = 0;
    /** A reader over the window, moved so that `need` bytes from `pos` are in it when the file has them. */
    const readerAt = async (pos: number, need: number): Promise<Reader> => {
      if (pos < windowStart || pos + Math.min(need, size - pos) > windowEnd) {
        const { bytesRead } = await fh.read(window, 0, Math.min(window.length, size - pos), pos);
        windowStart = pos;
        windowEnd = pos + bytesRead;
      }
      return new Reader(window.subarray(pos - windowStart, windowEnd - windowStart));
    };
    let pos = 0;
    let modelVersion = 0;
    let propVersion: string | undefined;
    while (pos < size) {
      const r = await readerAt(pos, MAX_TAG_AND_VARINT);
      const tag = r.varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (wire === 2) {
        const len = r.varint();
        pos += r.pos;
        if (field === 14) {
          let bytes: Uint8Array;
          if (len <= window.length) bytes = (await readerAt(pos, len)).buf.subarray(0, len);
          else {
            bytes = new Uint8Array(len);
            bytes = bytes.subarray(0, (await fh.read(bytes, 0, len, pos)).bytesRead);
          }
          if (bytes.length < len) throw new Error('truncated metadata_props entry');
          const [k, v] = entry(bytes);
          if (k === 'version') propVersion = v;
        }
        pos += len;
      } else if (wire === 0) {
        const v = r.varint();
        if (field === 5) modelVersion = v;
        pos += r.pos;
      } else {
        r.skip(wire);
        pos += r.pos;
      }
    }
    return versionOf(modelVersion, propVersion);
  } finally {
    await fh.close();
  }
}
