// W3C traceparent parsing and formatting, as calls carry it between threads.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatTraceparent, parseTraceparent } from '../../runtime/shared/trace-context.ts';

describe('traceparent', () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const spanId = '00f067aa0ba902b7';

  it('round-trips, with the sampled flag', () => {
    assert.deepEqual(parseTraceparent(formatTraceparent(traceId, spanId, true)), { traceId, spanId, sampled: true });
    assert.deepEqual(parseTraceparent(formatTraceparent(traceId, spanId, false)), { traceId, spanId, sampled: false });
    assert.equal(parseTraceparent(`00-${traceId}-${spanId}-03`)?.sampled, true);
  });

  it('rejects what the W3C spec calls invalid', () => {
    for (const bad of [
      undefined,
      '',
      `00-${traceId}-${spanId}`,
      `ff-${traceId}-${spanId}-01`,
      `00-${'0'.repeat(32)}-${spanId}-01`,
      `00-${traceId}-${'0'.repeat(16)}-01`,
      `00-${traceId.toUpperCase()}-${spanId}-01`,
      `00-${traceId}x-${spanId}-01`,
    ]) {
      assert.equal(parseTraceparent(bad), undefined, String(bad));
    }
  });
});
