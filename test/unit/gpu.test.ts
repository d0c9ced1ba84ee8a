import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { assignGpus, probeNvidiaGpus, visibleGpus } from '../../runtime/main/gpu.ts';

const noProbe = () => {
  throw new Error('probe must not run');
};

describe('visibleGpus', () => {
  test('THREADSERVE_GPUS overrides CUDA_VISIBLE_DEVICES and the probe', () => {
    assert.deepEqual(visibleGpus({ THREADSERVE_GPUS: '0,1', CUDA_VISIBLE_DEVICES: '3' }, noProbe), [0, 1]);
    assert.deepEqual(visibleGpus({ THREADSERVE_GPUS: ' 2 , 5 ' }, noProbe), [2, 5]);
  });

  test('THREADSERVE_GPUS "" means no GPUs', () => {
    assert.deepEqual(
      visibleGpus({ THREADSERVE_GPUS: '', CUDA_VISIBLE_DEVICES: '0,1' }, () => 4),
      [],
    );
  });

  test('THREADSERVE_GPUS rejects what is not a list of distinct ids', () => {
    assert.throws(() => visibleGpus({ THREADSERVE_GPUS: 'a,b' }), /THREADSERVE_GPUS must be a comma-separated list of device ids/);
    assert.throws(() => visibleGpus({ THREADSERVE_GPUS: '0,-1' }), /THREADSERVE_GPUS must be/);
    assert.throws(() => visibleGpus({ THREADSERVE_GPUS: '1,1' }), /lists device 1 twice/);
  });

  test('CUDA_VISIBLE_DEVICES gives ordinals, since CUDA renumbers visible devices from 0', () => {
    assert.deepEqual(visibleGpus({ CUDA_VISIBLE_DEVICES: '2,3' }, noProbe), [0, 1]);
    assert.deepEqual(visibleGpus({ CUDA_VISIBLE_DEVICES: '0' }, noProbe), [0]);
    assert.deepEqual(visibleGpus({ CUDA_VISIBLE_DEVICES: 'GPU-8a3b1c2d-1111-2222-3333-444455556666,MIG-GPU-8a3b/1/0' }, noProbe), [0, 1]);
  });

  test('CUDA_VISIBLE_DEVICES "" or "-1" means none', () => {
    assert.deepEqual(
      visibleGpus({ CUDA_VISIBLE_DEVICES: '' }, () => 2),
      [],
    );
    assert.deepEqual(
      visibleGpus({ CUDA_VISIBLE_DEVICES: '-1' }, () => 2),
      [],
    );
  });

  test('CUDA_VISIBLE_DEVICES ends at the first invalid entry and counts repeats once', () => {
    assert.deepEqual(visibleGpus({ CUDA_VISIBLE_DEVICES: '0,-1,1' }, noProbe), [0]);
    assert.deepEqual(visibleGpus({ CUDA_VISIBLE_DEVICES: '1,x,2' }, noProbe), [0]);
    assert.deepEqual(visibleGpus({ CUDA_VISIBLE_DEVICES: '1,1' }, noProbe), [0]);
  });

  test('no variables: the probe counts devices; none found is []', () => {
    assert.deepEqual(
      visibleGpus({}, () => 3),
      [0, 1, 2],
    );
    assert.deepEqual(
      visibleGpus({}, () => 0),
      [],
    );
  });

  test('the default probe counts /proc/driver/nvidia/gpus entries (none on a machine without the driver)', () => {
    const n = probeNvidiaGpus();
    assert.deepEqual(
      visibleGpus({}),
      Array.from({ length: n }, (_, i) => i),
    );
    if (!existsSync('/proc/driver/nvidia')) assert.equal(n, 0);
  });
});

describe('assignGpus', () => {
  test('numGpus 0 gives every replica an empty list', () => {
    assert.deepEqual(assignGpus([{ deployment: 'Pre', numReplicas: 3, numGpus: 0 }], []), { Pre: [[], [], []] });
  });

  test('whole GPUs are exclusive, lowest ids first', () => {
    const a = assignGpus(
      [
        { deployment: 'Pre', numReplicas: 2, numGpus: 0 },
        { deployment: 'A', numReplicas: 2, numGpus: 1 },
        { deployment: 'B', numReplicas: 1, numGpus: 2 },
      ],
      [0, 1, 2, 3],
    );
    // First-fit decreasing: B's two-GPU replica is placed before A's single ones.
    assert.deepEqual(a, { Pre: [[], []], A: [[2], [3]], B: [[0, 1]] });
  });

  test('device ids are passed through as given', () => {
    assert.deepEqual(assignGpus([{ deployment: 'A', numReplicas: 2, numGpus: 1 }], [4, 7]), { A: [[4], [7]] });
  });

  test('0.5 puts two replicas on one device', () => {
    assert.deepEqual(assignGpus([{ deployment: 'M', numReplicas: 4, numGpus: 0.5 }], [0, 1]), { M: [[0], [0], [1], [1]] });
  });

  test('fractions pack by remaining capacity, largest first, and never share a whole device', () => {
    const a = assignGpus(
      [
        { deployment: 'Small', numReplicas: 3, numGpus: 0.25 },
        { deployment: 'Big', numReplicas: 2, numGpus: 0.5 },
        { deployment: 'Whole', numReplicas: 1, numGpus: 1 },
      ],
      [0, 1, 2],
    );
    // Whole takes 0; Big fills 1; Small fills 2 with room for one more quarter.
    assert.deepEqual(a, { Small: [[2], [2], [2]], Big: [[1], [1]], Whole: [[0]] });
  });

  test('thirds fit exactly (no float rounding trouble)', () => {
    const a = assignGpus([{ deployment: 'T', numReplicas: 6, numGpus: 1 / 3 }], [0, 1]);
    assert.deepEqual(a, { T: [[0], [0], [0], [1], [1], [1]] });
  });

  test('0.7 leaves room for a 0.3 on the same device', () => {
    const a = assignGpus(
      [
        { deployment: 'S', numReplicas: 2, numGpus: 0.3 },
        { deployment: 'L', numReplicas: 2, numGpus: 0.7 },
      ],
      [0, 1],
    );
    assert.deepEqual(a, { S: [[0], [1]], L: [[0], [1]] });
  });

  test('is deterministic', () => {
    const req = [
      { deployment: 'a', numReplicas: 3, numGpus: 0.4 },
      { deployment: 'b', numReplicas: 2, numGpus: 0.6 },
    ];
    assert.deepEqual(assignGpus(req, [0, 1, 2]), assignGpus(req, [0, 1, 2]));
  });

  test('refuses too many whole GPUs, naming the deployment', () => {
    assert.throws(() => assignGpus([{ deployment: 'Detector', numReplicas: 3, numGpus: 1 }], [0, 1]), {
      message: 'deployment "Detector" asks 3 x 1 GPU, 2 visible',
    });
  });

  test('refuses too many fractional replicas, with the capacity', () => {
    assert.throws(
      () => assignGpus([{ deployment: 'Ranker', numReplicas: 5, numGpus: 0.5 }], [0, 1]),
      (err: Error) => err.message.startsWith('deployment "Ranker" asks 5 x 0.5 GPU, 2 visible (2 GPUs of capacity'),
    );
  });

  test('refuses any GPU when none is visible, with a hint', () => {
    assert.throws(
      () => assignGpus([{ deployment: 'Model', numReplicas: 1, numGpus: 0.5 }], []),
      /^Error: deployment "Model" asks 1 x 0.5 GPU, 0 visible .*CUDA_VISIBLE_DEVICES or THREADSERVE_GPUS/,
    );
  });

  test('refuses when deployments fit alone but not together, naming who took the devices', () => {
    assert.throws(
      () =>
        assignGpus(
          [
            { deployment: 'A', numReplicas: 1, numGpus: 1 },
            { deployment: 'B', numReplicas: 2, numGpus: 1 },
          ],
          [0, 1],
        ),
      { message: 'deployment "B" asks 2 x 1 GPU, 2 visible; other deployments use 1 GPU of them: "A" (1 x 1)' },
    );
    // Whole devices go first (first-fit decreasing), so the halves find one device left.
    assert.throws(
      () =>
        assignGpus(
          [
            { deployment: 'Half', numReplicas: 3, numGpus: 0.5 },
            { deployment: 'Full', numReplicas: 2, numGpus: 1 },
          ],
          [0, 1, 2],
        ),
      {
        message: 'deployment "Half" asks 3 x 0.5 GPU, 3 visible (3 GPUs of capacity); other deployments use 2 GPUs of them: "Full" (2 x 1)',
      },
    );
  });

  test('whole devices are placed before fractions, so both fit where input order would not', () => {
    const a = assignGpus(
      [
        { deployment: 'Half', numReplicas: 2, numGpus: 0.5 },
        { deployment: 'Full', numReplicas: 2, numGpus: 1 },
      ],
      [0, 1, 2],
    );
    assert.deepEqual(a, { Half: [[2], [2]], Full: [[0], [1]] });
  });

  test('rejects non-integers above 1 and other bad values', () => {
    assert.throws(
      () => assignGpus([{ deployment: 'X', numReplicas: 1, numGpus: 1.5 }], [0, 1]),
      /deployment "X": numGpus above 1 must be a whole number of GPUs, got 1.5/,
    );
    assert.throws(() => assignGpus([{ deployment: 'X', numReplicas: 1, numGpus: -1 }], [0]), /deployment "X": numGpus must be/);
    assert.throws(() => assignGpus([{ deployment: 'X', numReplicas: 1, numGpus: NaN }], [0]), /numGpus must be/);
    assert.throws(() => assignGpus([{ deployment: 'X', numReplicas: 1.5, numGpus: 0 }], [0]), /numReplicas must be a non-negative integer/);
    assert.throws(
      () =>
        assignGpus(
          [
            { deployment: 'X', numReplicas: 1, numGpus: 0 },
            { deployment: 'X', numReplicas: 1, numGpus: 0 },
          ],
          [],
        ),
      /listed twice/,
    );
  });

  test('plural GPUs in the message for multi-GPU replicas', () => {
    assert.throws(() => assignGpus([{ deployment: 'LLM', numReplicas: 1, numGpus: 4 }], [0, 1]), {
      message: 'deployment "LLM" asks 1 x 4 GPUs, 2 visible',
    });
  });
});
