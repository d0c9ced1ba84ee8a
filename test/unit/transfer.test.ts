import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collectTransferables } from '../../runtime/shared/transfer.ts';

const collect = (v: unknown) => {
  const out = new Set<ArrayBuffer>();
  collectTransferables(v, out);
  return out;
};

describe('collectTransferables', () => {
  it('finds whole-buffer typed arrays and ArrayBuffers in args, nested objects and arrays', () => {
    const a = new Float32Array(4);
    const b = new ArrayBuffer(8);
    const c = new Int32Array(2);
    const found = collect([a, { inner: { b } }, [c]]);
    assert.deepEqual([...found], [a.buffer, b, c.buffer]);
  });

  it('skips views into larger buffers, pooled Buffers, shared and empty buffers', () => {
    const big = new Float32Array(10);
    const found = collect([big.subarray(2), Buffer.from('small'), new Int32Array(new SharedArrayBuffer(8)), new Float32Array(0)]);
    assert.equal(found.size, 0);
  });

  it('does not walk class instances or long arrays of numbers', () => {
    class Box {
      data = new Float32Array(2);
    }
    assert.equal(collect(new Box()).size, 0);
    assert.equal(collect(Array(100).fill(1)).size, 0);
  });

  it('names what cannot cross threads faithfully, with its path, and collects nothing then', () => {
    class Session {
      #secret = 1;
      reveal() {
        return this.#secret;
      }
    }
    const problem = (v: unknown) => collectTransferables(v, new Set());
    assert.match(problem([1, { user: { session: new Session() } }]) ?? '', /^\[1\]\.user\.session: an instance of Session cannot cross threads faithfully/);
    assert.match(problem([() => 1]) ?? '', /^\[0\]: a function \(anonymous\) cannot be sent between threads/);
    assert.match(problem({ 'a-b': Symbol('s') }) ?? '', /^\["a-b"\]: a symbol cannot be sent between threads/);
    const ok = [new Date(), /x/, new Map([[1, 2]]), new Set([1]), new Error('e'), Object.create(null), Buffer.from('b'), 1n, null];
    assert.equal(problem(ok), undefined, 'what structured clone copies faithfully passes');
  });

  it('lists a buffer shared by two views once', () => {
    const buf = new ArrayBuffer(16);
    assert.equal(collect([new Uint8Array(buf), new Uint8Array(buf)]).size, 1);
  });
});
