import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseReplica, chooseReplicaForModel } from '../../runtime/shared/replica-choice.ts';

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

describe('chooseReplicaForModel', () => {
  const withModels = (...rs: Array<[number, string[]]>) => rs.map(([inFlight, models]) => ({ inFlight, models: new Set(models) }));

  it('prefers a replica that holds the model', () => {
    for (let i = 0; i < 50; i++) {
      assert.equal(chooseReplicaForModel(withModels([0, []], [1, ['de']], [0, ['fr']]), 'de', 8), 1);
    }
  });

  it('falls back to the least busy replica when no holder has room', () => {
    assert.equal(chooseReplicaForModel(withModels([3, []], [8, ['de']], [1, []]), 'de', 8, seq(0, 0.99)), 2);
    assert.equal(chooseReplicaForModel(withModels([3, []], [2, []]), 'de', 8, seq(0, 0)), 1);
  });

  it('spreads a hot model to an idle replica when its holder is half busy', () => {
    assert.equal(chooseReplicaForModel(withModels([4, ['de']], [0, []], [2, []]), 'de', 8, seq(0)), 1);
    // Below half busy it stays on the holder.
    assert.equal(chooseReplicaForModel(withModels([3, ['de']], [0, []]), 'de', 8, seq(0)), 0);
  });

  const withLoads = (...rs: Array<[number, string[], number]>) => rs.map(([inFlight, models, loading]) => ({ inFlight, models: new Set(models), loading }));

  it('sends warm calls to holders that are not loading, whatever their in-flight counts', () => {
    for (let i = 0; i < 50; i++) {
      assert.equal(chooseReplicaForModel(withLoads([1, ['de'], 1], [3, ['de'], 0]), 'de', 8), 1);
    }
    // Every holder is loading: still a holder (a non-holder would have to load it too).
    assert.equal(chooseReplicaForModel(withLoads([1, ['de'], 1], [0, [], 0]), 'de', 8, seq(0)), 0);
  });

  it('sends cold calls to a replica that is already loading, if it has room', () => {
    for (let i = 0; i < 50; i++) {
      assert.equal(chooseReplicaForModel(withLoads([0, ['fr'], 0], [5, [], 2], [0, [], 0]), 'de', 8), 1);
    }
    // The loading replica is full: the least busy of two among the others.
    assert.equal(chooseReplicaForModel(withLoads([3, [], 0], [8, [], 1], [1, [], 0]), 'de', 8, seq(0, 0.99)), 2);
  });

  it('does not spread a hot model to an idle replica that is loading', () => {
    assert.equal(chooseReplicaForModel(withLoads([4, ['de'], 0], [0, [], 1]), 'de', 8, seq(0)), 0);
    assert.equal(chooseReplicaForModel(withLoads([4, ['de'], 0], [0, [], 0]), 'de', 8, seq(0)), 1);
  });
});
