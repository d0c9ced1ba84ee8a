/**
 * Finds the buffers in a value that can move to another thread instead of being copied.
 * A typed array moves only when it spans its whole ArrayBuffer: a view into a larger buffer
 * (Node's pooled small Buffers, a subarray) is copied, because moving the buffer would detach
 * memory the caller never handed over. SharedArrayBuffers are shared, never moved.
 */
const MAX_DEPTH = 4;

function visit(v: unknown, out: Set<ArrayBuffer>, depth: number): void {
  if (v === null || typeof v !== 'object') return;
  if (ArrayBuffer.isView(v)) {
    const buf = v.buffer;
    if (buf instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === buf.byteLength && buf.byteLength > 0) {
      out.add(buf);
    }
    return;
  }
  if (v instanceof ArrayBuffer) {
    if (v.byteLength > 0) out.add(v);
    return;
  }
  if (depth >= MAX_DEPTH) return;
  if (Array.isArray(v)) {
    // Arrays of numbers or strings are common and large; their first element tells.
    if (v.length === 0 || (typeof v[0] !== 'object' && v.length > 16)) return;
    for (const item of v) visit(item, out, depth + 1);
    return;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return;
  for (const key in v) visit((v as Record<string, unknown>)[key], out, depth + 1);
}

/** Collects transferable buffers from a value into `out` (shared by one batch of messages). */
export function collectTransferables(v: unknown, out: Set<ArrayBuffer>): void {
  visit(v, out, 0);
}
