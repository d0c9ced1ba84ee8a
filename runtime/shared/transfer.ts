/**
 * Finds the buffers in a value that can move to another thread instead of being copied.
 * A typed array moves only when it spans its whole ArrayBuffer: a view into a larger buffer
 * (Node's pooled small Buffers, a subarray) is copied, because moving the buffer would detach
 * memory the caller never handed over. SharedArrayBuffers are shared, never moved.
 * The same walk finds what structured clone would refuse (functions, symbols) or change
 * (class instances), to the same depth, so such a call fails at once naming the value.
 */
import { MessagePort } from 'node:worker_threads';

const MAX_DEPTH = 8;

/** What moves to the other thread instead of being copied. */
export type Movable = ArrayBuffer | MessagePort;

/**
 * Objects structured clone copies faithfully besides plain objects and arrays. Errors are
 * cloned as errors (name, message, stack). Anything else with a prototype of its own is a
 * class instance: the clone would keep its own fields and silently drop its class, methods and
 * #private fields, so the call fails with BAD_CALL instead (PortWriter.send reports it).
 */
const CLONEABLE_PROTOTYPES = new Set<unknown>([Date, RegExp, Map, Set, DataView, Boolean, Number, String, SharedArrayBuffer].map((c) => c.prototype));

/** Walks `v`, collects its movable buffers into `out`; returns what cannot cross threads faithfully, if anything. */
/**
 * Whether a typed array spans its whole (non-shared) ArrayBuffer, so that crossing threads moves
 * it instead of copying it: a view into a larger buffer (a pooled small Buffer, a subarray)
 * would take its neighbours along, so it is copied.
 */
export function ownsWholeBuffer(v: ArrayBufferView): boolean {
  const buf = v.buffer;
  return buf instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === buf.byteLength && buf.byteLength > 0;
}

function visit(v: unknown, out: Set<Movable>, depth: number): string | undefined {
  if (typeof v === 'function') return `: a function (${v.name || 'anonymous'}) cannot be sent between threads`;
  if (typeof v === 'symbol') return ': a symbol cannot be sent between threads';
  if (v === null || typeof v !== 'object') return undefined;
  if (ArrayBuffer.isView(v)) {
    if (ownsWholeBuffer(v)) out.add(v.buffer as ArrayBuffer);
    return undefined;
  }
  if (v instanceof ArrayBuffer) {
    if (v.byteLength > 0) out.add(v);
    return undefined;
  }
  // A stream's port (stream-wire.ts) moves with the answer that carries it.
  if (v instanceof MessagePort) {
    out.add(v);
    return undefined;
  }
  if (depth >= MAX_DEPTH) return undefined;
  if (Array.isArray(v)) {
    // Arrays of numbers or strings are common and large; their first element tells.
    if (v.length === 0 || (typeof v[0] !== 'object' && typeof v[0] !== 'function' && v.length > 16)) return undefined;
    for (let i = 0; i < v.length; i++) {
      const problem = visit(v[i], out, depth + 1);
      if (problem !== undefined) return `[${i}]${problem}`;
    }
    return undefined;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) {
    if (CLONEABLE_PROTOTYPES.has(proto) || v instanceof Error) return undefined;
    const name = (proto as { constructor?: { name?: string } }).constructor?.name || 'a class';
    return `: an instance of ${name} cannot cross threads faithfully (structured clone keeps its own fields but drops its class, methods and #private fields); send plain data`;
  }
  for (const key in v) {
    const problem = visit((v as Record<string, unknown>)[key], out, depth + 1);
    if (problem !== undefined) return `${/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`}${problem}`;
  }
  return undefined;
}

/**
 * Collects transferable buffers from a value into `out` (shared by one batch of messages).
 * Returns undefined when the value can be sent, else where and what the offending part is,
 * as a path from the value (`[0].user: an instance of Session ...`).
 */
export function collectTransferables(v: unknown, out: Set<Movable>): string | undefined {
  return visit(v, out, 0);
}
