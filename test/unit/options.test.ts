import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { resolveDeploymentOptions } from '../../runtime/shared/options.ts';

describe('deployment options', () => {
  it('fills Ray Serve defaults and freezes the result', () => {
    const o = resolveDeploymentOptions('Model', {});
    assert.equal(o.name, 'Model');
    assert.equal(o.numReplicas, 1);
    assert.equal(o.maxOngoingRequests, 5);
    assert.equal(o.maxQueuedRequests, -1);
    assert.equal(o.healthCheckPeriodS, 10);
    assert.equal(o.healthCheckTimeoutS, 30);
    assert.equal(o.gracefulShutdownTimeoutS, 20);
    assert.ok(Object.isFrozen(o));
  });

  it('names the deployment, the option and the value in each error', () => {
    const cases: Array<[unknown, string]> = [
      [{ numReplicas: 0 }, 'deployment "Pre": numReplicas must be a positive integer or "auto", got 0'],
      [{ maxOngoingRequests: 'many' }, 'deployment "Pre": maxOngoingRequests must be an integer from 1 to 65535, got "many"'],
      [{ maxOngoingRequests: 70000 }, 'deployment "Pre": maxOngoingRequests must be an integer from 1 to 65535, got 70000'],
      [{ maxQueuedRequests: -2 }, 'deployment "Pre": maxQueuedRequests must be -1 (no limit) or a non-negative integer, got -2'],
      [{ route: 'classify' }, 'deployment "Pre": route must be a path starting with "/", got "classify"'],
      [{ healthCheckPeriodS: 0 }, 'deployment "Pre": healthCheckPeriodS must be a positive number of seconds, got 0'],
      [{ resourceLimits: { maxOldGenerationSizeMb: -5 } }, 'deployment "Pre": resourceLimits.maxOldGenerationSizeMb must be a positive integer, got -5'],
      [{ requestSchema: { type: 'object' } }, 'deployment "Pre": requestSchema must be a zod schema, got {"type":"object"}'],
      [{ numReplica: 2 }, 'deployment "Pre": unknown option "numReplica"'],
    ];
    for (const [input, message] of cases) {
      assert.throws(() => resolveDeploymentOptions('Pre', input), { code: 'INVALID_OPTIONS', message });
    }
  });

  it('accepts a zod requestSchema and a custom name', () => {
    const o = resolveDeploymentOptions('Pre', { name: 'pre-v2', requestSchema: z.object({}) });
    assert.equal(o.name, 'pre-v2');
  });
});
