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
  if (propVersion) return propVersion;
  return modelVersion > 0 ? String(modelVersion) : '1';
}

/** Reads a varint at `pos` of an open file: [value, bytes used]. */
async function fileVarint(fh: import('node:fs/promises').FileHandle, pos: number, scratch: Uint8Array): Promise<[number, number]> {
  const { bytesRead } = await fh.read(scratch, 0, scratch.length, pos);
  const r = new Reader(scratch.subarray(0, bytesRead));
  const v = r.varint();
  return [v, r.pos];
}

/**
 * onnxModelVersion of a file on disk, reading only the top-level tags and the fields it needs
 * (a few hundred bytes), never the weights: a repository that loads models all the time
 * would otherwise read each file twice and leave a weights-sized buffer per load to the GC.
 */
export async function onnxModelVersionOfFile(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const scratch = new Uint8Array(20);
    let pos = 0;
    let modelVersion = 0;
    let propVersion: string | undefined;
    while (pos < size) {
      const [tag, n] = await fileVarint(fh, pos, scratch);
      pos += n;
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (wire === 0) {
        const [v, m] = await fileVarint(fh, pos, scratch);
        pos += m;
        if (field === 5) modelVersion = v;
      } else if (wire === 2) {
        const [len, m] = await fileVarint(fh, pos, scratch);
        pos += m;
        if (field === 14) {
          const bytes = new Uint8Array(len);
          await fh.read(bytes, 0, len, pos);
          const [k, v] = entry(bytes);
          if (k === 'version') propVersion = v;
        }
        pos += len;
      } else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else throw new Error(`unsupported protobuf wire type ${wire}`);
    }
    if (propVersion) return propVersion;
    return modelVersion > 0 ? String(modelVersion) : '1';
  } finally {
    await fh.close();
  }
}
