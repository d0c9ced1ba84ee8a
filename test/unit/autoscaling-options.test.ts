import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveDeploymentOptions } from '../../runtime/shared/options.ts';

describe('autoscalingConfig options', () => {
  it("has Ray Serve's defaults, and starts at initialReplicas or minReplicas", () => {
    const o = resolveDeploymentOptions('Model', { autoscalingConfig: { maxReplicas: 4 } });
    assert.deepEqual(o.autoscalingConfig, {
      minReplicas: 1,
      maxReplicas: 4,
      targetOngoingRequests: 2,
      upscaleDelayS: 30,
      downscaleDelayS: 600,
      upscalingFactor: 1,
      downscalingFactor: 1,
      metricsIntervalS: 10,
      lookBackPeriodS: 30,
    });
    assert.equal(o.numReplicas, 1);
    assert.equal(resolveDeploymentOptions('M', { autoscalingConfig: { minReplicas: 2, maxReplicas: 5, initialReplicas: 3 } }).numReplicas, 3);
    assert.ok(Object.isFrozen(o.autoscalingConfig));
    assert.equal(resolveDeploymentOptions('M', { numReplicas: 3 }).autoscalingConfig, undefined);
  });

  it("numReplicas 'auto' means 1 to 100 replicas at a target of 2, overridable", () => {
    const auto = resolveDeploymentOptions('M', { numReplicas: 'auto' }).autoscalingConfig!;
    assert.deepEqual([auto.minReplicas, auto.maxReplicas, auto.targetOngoingRequests], [1, 100, 2]);
    const tuned = resolveDeploymentOptions('M', { numReplicas: 'auto', autoscalingConfig: { maxReplicas: 8, upscaleDelayS: 1 } }).autoscalingConfig!;
    assert.deepEqual([tuned.minReplicas, tuned.maxReplicas, tuned.upscaleDelayS], [1, 8, 1]);
  });

  it('names the deployment and the option in each error', () => {
    const cases: Array<[unknown, string]> = [
      [{ numReplicas: 'many' }, 'deployment "Pre": numReplicas must be a positive integer or "auto", got "many"'],
      [
        { numReplicas: 2, autoscalingConfig: {} },
        'deployment "Pre": numReplicas 2 cannot be set with autoscalingConfig; use numReplicas: "auto" or autoscalingConfig.initialReplicas',
      ],
      [{ autoscalingConfig: { minReplicas: -1 } }, 'deployment "Pre": autoscalingConfig.minReplicas must be a non-negative integer, got -1'],
      [{ autoscalingConfig: { minReplicas: 3, maxReplicas: 2 } }, 'deployment "Pre": autoscalingConfig.maxReplicas must be at least minReplicas (3), got 2'],
      [
        { autoscalingConfig: { maxReplicas: 4, initialReplicas: 5 } },
        'deployment "Pre": autoscalingConfig.initialReplicas must be between minReplicas (1) and maxReplicas (4), got 5',
      ],
      [{ autoscalingConfig: { upscaleDelayS: -1 } }, 'deployment "Pre": autoscalingConfig.upscaleDelayS must be a non-negative number of seconds, got -1'],
      [{ autoscalingConfig: { targetOngoingRequests: 0 } }, 'deployment "Pre": autoscalingConfig.targetOngoingRequests must be a positive number, got 0'],
      [
        { autoscalingConfig: { metricsIntervalS: 'often' } },
        'deployment "Pre": autoscalingConfig.metricsIntervalS must be a positive number of seconds, got "often"',
      ],
      [{ autoscalingConfig: { min_replicas: 1 } }, 'deployment "Pre": unknown option in autoscalingConfig "min_replicas"'],
      [{ autoscalingConfig: 5 }, 'deployment "Pre": autoscalingConfig must be an object of autoscaling options, got 5'],
    ];
    for (const [input, message] of cases) {
      assert.throws(() => resolveDeploymentOptions('Pre', input), { code: 'INVALID_OPTIONS', message });
    }
  });
});
