// The config file reader: Ray Serve's shape and snake_case names, errors naming file, line and field.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadServeConfig } from '../../runtime/main/config-file.ts';

const good = `
max_replica_threads: 6
http_options:
  host: 0.0.0.0
  port: 9000
  request_timeout_s: 5
logging_config:
  log_level: WARN
applications:
  - name: ocr
    route_prefix: /ocr
    import_path: ./app.ts:ocrApp
    args: { model: small }
    deployments:
      - name: Det
        num_replicas: auto
        max_ongoing_requests: 3
        user_config: { threshold: 0.4 }
        autoscaling_config:
          min_replicas: 1
          max_replicas: 4
          upscale_delay_s: 5
          initial_replicas: null
        ray_actor_options: { num_gpus: 0.5 }
      - name: Rec
        num_replicas: 2
        graceful_shutdown_timeout_s: 60
  - import_path: ./other.ts
    route_prefix: null
`;

describe('config file', () => {
  it("maps Ray Serve's snake_case fields onto the code's options", () => {
    const c = loadServeConfig('serve.yaml', good);
    assert.deepEqual([c.host, c.port, c.requestTimeoutS, c.logLevel, c.maxReplicaThreads], ['0.0.0.0', 9000, 5, 'warn', 6]);
    const [ocr, other] = c.applications;
    assert.deepEqual([ocr!.name, ocr!.routePrefix, ocr!.importPath, ocr!.exportName, ocr!.args], ['ocr', '/ocr', './app.ts', 'ocrApp', { model: 'small' }]);
    assert.deepEqual(ocr!.deployments, [
      {
        name: 'Det',
        options: {
          numReplicas: 'auto',
          maxOngoingRequests: 3,
          userConfig: { threshold: 0.4 },
          autoscalingConfig: { minReplicas: 1, maxReplicas: 4, upscaleDelayS: 5 },
          numGpus: 0.5,
        },
      },
      { name: 'Rec', options: { numReplicas: 2, gracefulShutdownTimeoutS: 60 } },
    ]);
    assert.deepEqual([other!.name, other!.routePrefix, other!.exportName], ['default', null, 'default']);
  });

  it('names the file, line, column and field of each problem', () => {
    const bad = (text: string) => () => loadServeConfig('conf/serve.yaml', text);
    const app = (deployment: string) => `applications:\n  - import_path: ./app.ts\n    deployments:\n      - name: M\n${deployment}`;
    const cases: Array<[string, string]> = [
      [
        app('        max_ongoing_requests: many\n'),
        'conf/serve.yaml:5:31: applications[0].deployments[0].max_ongoing_requests must be an integer from 1 to 65535, got "many"',
      ],
      [app('        num_replica: 2\n'), 'conf/serve.yaml:5:9: applications[0].deployments[0].num_replica is not a field here'],
      [
        app('        autoscaling_config:\n          min_replicas: 3\n          max_replicas: 2\n'),
        'conf/serve.yaml:7:25: applications[0].deployments[0].autoscaling_config.max_replicas must be at least minReplicas (3), got 2',
      ],
      [
        app('        autoscaling_config:\n          upscale_delay: 3\n'),
        'conf/serve.yaml:6:11: applications[0].deployments[0].autoscaling_config.upscale_delay is not a field here',
      ],
      [
        app('        num_replicas: 2\n        autoscaling_config: { max_replicas: 3 }\n'),
        'conf/serve.yaml:4:9: deployment "M": numReplicas 2 cannot be set with autoscalingConfig',
      ],
      [
        app('        ray_actor_options: { num_cpus: 2 }\n'),
        'conf/serve.yaml:5:30: applications[0].deployments[0].ray_actor_options.num_cpus is not a field here (fields: num_gpus)',
      ],
      [
        'applications:\n  - import_path: ./a.ts\n    route_prefix: ocr\n',
        'conf/serve.yaml:3:19: applications[0].route_prefix must be a path starting with "/" (or null for no route), got "ocr"',
      ],
      ['applications:\n  - import_path: 7\n', 'conf/serve.yaml:2:18: applications[0].import_path must be a module path'],
      ['http_options:\n  port: 99999\napplications: []\n', 'conf/serve.yaml:2:9: http_options.port must be an integer port from 0 to 65535, got 99999'],
      ['applications:\n  - import_path: ./a.ts\n  - import_path: ./b.ts\n', 'conf/serve.yaml:3:5: applications[1].name "default" names two applications'],
      ['applications: [\n', 'conf/serve.yaml:2:1: not valid YAML'],
      ['proxy_location: EveryNode\napplications: []\n', 'conf/serve.yaml:1:1: proxy_location is not a field here'],
    ];
    for (const [text, message] of cases) {
      assert.throws(bad(text), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'INVALID_OPTIONS');
        assert.ok(err.message.startsWith(message), `${err.message}\n  does not start with\n${message}`);
        return true;
      });
    }
  });
});
