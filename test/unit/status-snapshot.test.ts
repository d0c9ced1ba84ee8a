// What /-/status and the dashboard report of an application, before any thread starts: the
// graph from the bound handles, and the autoscaling decisions a runner keeps.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Application, plan } from '../../runtime/main/application.ts';
import { statusSnapshot } from '../../runtime/main/status-snapshot.ts';
import { chainApp } from '../fixtures/deployments.ts';

describe('statusSnapshot', () => {
  const app = new Application(plan({ chain: chainApp }), pino({ level: 'silent' }));

  it('lists each deployment with the deployments it calls, its limits and no replicas yet', () => {
    const s = statusSnapshot(app);
    assert.deepEqual(s.applications, [{ name: 'chain', route: '/chain', ingress: 'Chain' }]);
    assert.deepEqual(
      s.deployments.map((d) => [d.name, d.calls, d.numReplicas, d.maxOngoingRequests, d.multiplexed, d.replicas.length]),
      [
        ['Chain', ['Echo', 'Slow'], 1, 5, false, 0],
        ['Echo', [], 2, 4, false, 0],
        ['Slow', [], 1, 2, false, 0],
      ],
    );
  });

  it('shows the autoscaling decisions a runner recorded, newest last, the last 20 of the 50 it keeps', () => {
    const echo = app.runner('Echo')!;
    assert.deepEqual(statusSnapshot(app).deployments[1]!.autoscalingDecisions, [], 'empty until an autoscaler records one');
    for (let i = 0; i < 60; i++) echo.recordAutoscalingDecision({ at: i, from: i, to: i + 1, reason: `step ${i}` });
    assert.equal(echo.autoscalingDecisions.length, 50);
    const shown = statusSnapshot(app).deployments[1]!.autoscalingDecisions;
    assert.deepEqual(
      shown.map((d) => d.at),
      Array.from({ length: 20 }, (_, i) => 40 + i),
    );
  });
});
