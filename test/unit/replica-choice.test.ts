import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseReplica } from '../../runtime/main/replica-choice.ts';

const seq = (...xs: number[]) => {
  let i = 0;
  return () => xs[i++ % xs.length]!;
};
const replicas = (...inFlight: number[]) => inFlight.map((n) => ({ inFlight: n }));

describe('chooseReplica (power of two choices)', () => {
  it('returns -1 with no replicas or all full', () => {
    assert.equal(chooseReplica([], 5), -1);
    assert.equal(chooseReplica(replicas(5), 5), -1);
    assert.equal(chooseReplica(replicas(5, 5, 5), 5), -1);
  });

  it('takes the less busy of two distinct samples', () => {
    // random 0.0 -> index 0; second draw 0.0 -> index 0 of the other n-1, shifted past a -> 1.
    assert.equal(chooseReplica(replicas(3, 1, 0), 5, seq(0, 0)), 1);
    assert.equal(chooseReplica(replicas(0, 4, 2), 5, seq(0.99, 0)), 0);
  });

  it('falls back to the least busy replica with room when both samples are full', () => {
    assert.equal(chooseReplica(replicas(5, 5, 3, 4), 5, seq(0, 0)), 2);
  });

  it('spreads load: over many picks with equal load every replica is chosen', () => {
    const counts = [0, 0, 0, 0];
    const rs = replicas(0, 0, 0, 0);
    for (let i = 0; i < 4000; i++) counts[chooseReplica(rs, 5)]!++;
    for (const c of counts) assert.ok(c > 700, `counts ${counts}`);
  });

  it('prefers idle replicas under skewed load', () => {
    const rs = replicas(4, 4, 4, 0);
    let idle = 0;
    for (let i = 0; i < 1000; i++) if (chooseReplica(rs, 5) === 3) idle++;
    // P(3 sampled) = 1/2 with two samples out of four.
    assert.ok(idle > 400, `idle chosen ${idle}`);
  });
});
