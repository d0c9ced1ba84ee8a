// `threadserve run config.yaml` and `threadserve build` as users run them.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'bin/threadserve.js');
const dir = mkdtempSync(join(tmpdir(), 'threadserve-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function startCli(args: string[]) {
  // The text banner (on a pipe the ready line is a JSON log line otherwise).
  const child = spawn(process.execPath, [cli, ...args, '--log-format', 'pretty'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const deadline = Date.now() + 30000;
  while (!/threadserve is serving at (\S+)/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`CLI did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, url: /threadserve is serving at (\S+)/.exec(out)![1]!, output: () => out };
}

async function stop(child: ChildProcess) {
  const exit = once(child, 'exit');
  child.kill('SIGTERM');
  return (await exit)[0] as number;
}

type Status = { deployments: Array<{ name: string; numReplicas: number }> };
const classify = (url: string, route = '/classify') =>
  fetch(`${url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pixels: new Array(784).fill(128) }) });

describe('threadserve run config.yaml', () => {
  it('serves the example config: its route, its replica counts and autoscaling over the code', async () => {
    const { child, url } = await startCli(['run', 'examples/classify/serve.yaml', '--port', '0']);
    try {
      const r = await classify(url);
      assert.equal(r.status, 200);
      assert.equal(typeof ((await r.json()) as { label: number }).label, 'number');
      const status = (await (await fetch(`${url}/-/status`)).json()) as Status & { autoscaling: unknown };
      const counts = Object.fromEntries(status.deployments.map((d) => [d.name, d.numReplicas]));
      // app.ts says Preprocess 3 and Model 1 fixed: the file says 2 and auto (starting at min 1).
      assert.deepEqual(counts, { Classify: 1, Preprocess: 2, Model: 1 });
    } finally {
      assert.equal(await stop(child), 0);
    }
  });

  it('fails before any thread starts, naming the file, line and field', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      `applications:\n  - import_path: ${join(root, 'examples/classify/app.ts')}\n    deployments:\n      - name: Model\n        max_ongoing_requests: 0\n`,
    );
    const r = spawnSync(process.execPath, [cli, 'run', file], { cwd: root, encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(
      r.stderr,
      new RegExp(
        `${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:5:31: applications\\[0\\]\\.deployments\\[0\\]\\.max_ongoing_requests must be an integer from 1 to 65535, got 0`,
      ),
    );
    const unknown = join(dir, 'unknown.yaml');
    writeFileSync(unknown, `applications:\n  - import_path: ${join(root, 'examples/classify/app.ts')}\n    deployments:\n      - name: Modle\n`);
    const u = spawnSync(process.execPath, [cli, 'run', unknown], { cwd: root, encoding: 'utf8' });
    assert.match(u.stderr, /unknown\.yaml:4:15: application "default" has no deployment "Modle"; its deployments: Classify, Preprocess, Model/);
  });

  it('build prints a config with every option that runs as printed', async () => {
    const printed = spawnSync(process.execPath, [cli, 'build', 'examples/classify/app.ts'], { cwd: root, encoding: 'utf8' });
    assert.equal(printed.status, 0, printed.stderr);
    assert.match(printed.stdout, /import_path: \.\/examples\/classify\/app\.ts\n/);
    const file = join(dir, 'built.yaml');
    const wrote = spawnSync(process.execPath, [cli, 'build', 'examples/classify/app.ts', '-o', file], { cwd: root, encoding: 'utf8' });
    assert.equal(wrote.status, 0, wrote.stderr);
    const built = { stdout: readFileSync(file, 'utf8') };
    for (const field of [
      'num_replicas: 3',
      'max_ongoing_requests: 8',
      'max_queued_requests: -1',
      'user_config: null',
      'autoscaling_config: null',
      'graceful_shutdown_timeout_s: 20',
      'health_check_period_s: 10',
      'health_check_timeout_s: 30',
      'num_gpus: 0',
      'route_prefix: /classify',
    ]) {
      assert.ok(built.stdout.includes(field), `build output lacks ${field}:\n${built.stdout}`);
    }
    writeFileSync(file, built.stdout.replace('num_replicas: 3', 'num_replicas: 1'));
    const { child, url } = await startCli(['run', file, '--port', '0']);
    try {
      assert.equal((await classify(url)).status, 200);
      const status = (await (await fetch(`${url}/-/status`)).json()) as Status;
      assert.equal(status.deployments.find((d) => d.name === 'Preprocess')!.numReplicas, 1);
    } finally {
      assert.equal(await stop(child), 0);
    }
  });
});
