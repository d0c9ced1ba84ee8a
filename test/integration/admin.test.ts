// The admin API through the CLI: `threadserve status` and `threadserve deploy` against a running
// `threadserve run config.yaml`, with a load running through each redeploy.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'bin/threadserve.js');
const dir = mkdtempSync(join(tmpdir(), 'threadserve-admin-'));
writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
after(() => rmSync(dir, { recursive: true, force: true }));
const runtime = pathToFileURL(join(root, 'runtime/index.ts')).href;

/** An application whose answers say which code version and user_config served them. */
const appSource = (version: string) => `
import { setTimeout as sleep } from 'node:timers/promises';
import { deployment, replicaContext } from '${runtime}';
import type { Handle } from '${runtime}';

export class Greeter {
  private greeting = 'none';
  reconfigure(cfg: { greeting: string }) {
    this.greeting = cfg.greeting;
  }
  async greet(name: string) {
    await sleep(5);
    return { text: this.greeting + ', ' + name, version: '${version}', replica: replicaContext().replicaId };
  }
}

export class Front {
  constructor(private readonly greeter: Handle<Greeter>) {}
  call(body: { name: string }) {
    return this.greeter.greet(body.name);
  }
}

export const GreeterD = deployment(Greeter, { numReplicas: 1, userConfig: { greeting: 'Hello' } });
export default deployment(Front, { route: '/greet' }).bind(GreeterD.bind());
`;

const config = (greeter: string) => `
applications:
  - name: greet
    import_path: ./app.ts
    deployments:
      - name: Greeter
${greeter}
`;

async function startServer(args: string[]) {
  // The text banner (on a pipe the ready line is a JSON log line otherwise).
  const child = spawn(process.execPath, [cli, ...args, '--log-format', 'pretty'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const deadline = Date.now() + 30000;
  while (!/admin API at (\S+)/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, url: /threadserve is serving at (\S+)/.exec(out)![1]!, admin: /admin API at (\S+)/.exec(out)![1]!, output: () => out };
}

async function stop(child: ChildProcess) {
  const exit = once(child, 'exit');
  child.kill('SIGTERM');
  return (await exit)[0] as number;
}

const tool = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8' });

type Answer = { text: string; version: string; replica: string };

/** Calls the app in a loop from 4 callers until stopped; keeps every answer and counts failures. */
function load(url: string) {
  let running = true;
  const answers: Answer[] = [];
  const failures: string[] = [];
  const callers = Array.from({ length: 4 }, async () => {
    while (running) {
      try {
        const r = await fetch(`${url}/greet`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"Ada"}' });
        if (r.status === 200) answers.push((await r.json()) as Answer);
        else failures.push(`${r.status} ${await r.text()}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  });
  return {
    answers,
    /** The next `n` answers after the ones already in (or on their way). */
    next: async (n: number) => {
      const from = answers.length + 8;
      const deadline = Date.now() + 20000;
      while (answers.length < from + n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return answers.slice(from, from + n);
    },
    stop: async () => {
      running = false;
      await Promise.all(callers);
      return failures;
    },
  };
}

describe('admin API: status and deploy', () => {
  it('shows status, applies counts, user_config and autoscaling live, and rolls new code, with no failed request', async () => {
    writeFileSync(join(dir, 'app.ts'), appSource('v1'));
    const file = join(dir, 'serve.yaml');
    writeFileSync(file, config('        num_replicas: 1'));
    const { child, url, admin } = await startServer(['run', file, '--port', '0', '--admin-port', '0']);
    let traffic: ReturnType<typeof load> | undefined;
    try {
      const status = tool('status', '--address', admin);
      assert.equal(status.status, 0, status.stderr);
      assert.match(status.stdout, /greet\s+\/greet\s+ingress Front\s+deployments Front, Greeter/);
      assert.match(status.stdout, /Greeter#0\s+running\s+cpu\s+0/);
      const json = JSON.parse(tool('status', '--address', admin, '--json').stdout) as { deployments: Array<{ name: string; target: number }> };
      assert.deepEqual(
        json.deployments.map((d) => [d.name, d.target]),
        [
          ['Front', 1],
          ['Greeter', 1],
        ],
      );

      // Live: three replicas and a new user_config, under load.
      traffic = load(url);
      await new Promise((r) => setTimeout(r, 300));
      writeFileSync(file, config('        num_replicas: 3\n        user_config: { greeting: Hi }'));
      const deployed = tool('deploy', file, '--address', admin);
      assert.equal(deployed.status, 0, deployed.stderr);
      assert.match(deployed.stdout, /Greeter: replicas 1 -> 3; user_config \(reconfigure\)/);
      // Answers that arrive once the deploy is done (a few already on their way are skipped).
      const live = await traffic.next(40);
      assert.ok(
        live.every((a) => a.text === 'Hi, Ada'),
        'every replica took the new user_config',
      );
      assert.equal(new Set(live.map((a) => a.replica)).size, 3);

      // Autoscaling settings live, then new code rolled one replica at a time.
      writeFileSync(
        file,
        config(
          '        num_replicas: auto\n        user_config: { greeting: Hi }\n        autoscaling_config: { min_replicas: 2, max_replicas: 3, downscale_delay_s: 600 }',
        ),
      );
      assert.match(tool('deploy', file, '--address', admin).stdout, /Greeter: autoscaling settings/);
      writeFileSync(join(dir, 'app.ts'), appSource('v2'));
      const rolled = tool('deploy', file, '--address', admin);
      assert.equal(rolled.status, 0, rolled.stderr);
      assert.match(rolled.stdout, /Greeter: new code: replicas replaced one at a time/);
      const after = await traffic.next(20);
      const failures = await traffic.stop();
      assert.deepEqual(failures, []);
      assert.ok(traffic.answers.some((a) => a.version === 'v1'));
      assert.ok(
        after.every((a) => a.version === 'v2' && a.text === 'Hi, Ada'),
        'new code, same user_config',
      );

      // What cannot change live is refused before anything changes, with the reason.
      writeFileSync(file, config('        max_ongoing_requests: 9'));
      const refused = tool('deploy', file, '--address', admin);
      assert.notEqual(refused.status, 0);
      assert.match(
        refused.stderr,
        /cannot deploy live \(restart the server for these\):\n\s+deployment "Greeter": maxOngoingRequests cannot change on a running server/,
      );
      writeFileSync(file, config('        num_replicas: zero'));
      assert.match(
        tool('deploy', file, '--address', admin).stderr,
        /serve\.yaml:7:23: applications\[0\]\.deployments\[0\]\.num_replicas must be a positive integer or "auto", got "zero"/,
      );
    } finally {
      await traffic?.stop();
      assert.equal(await stop(child), 0);
    }
  });

  it('rolls new code when only a helper file a deployment imports changed, and takes a new requestSchema', async () => {
    const sub = join(dir, 'graph');
    mkdirSync(sub, { recursive: true });
    const zod = import.meta.resolve('zod');
    const helper = (version: string) => `export const VERSION = '${version}';\n`;
    // The class lives in its own file, which imports the helper: neither is the app module.
    writeFileSync(
      join(sub, 'greeter.ts'),
      `
import { replicaContext } from '${runtime}';
import { VERSION } from './helper.ts';
export class Greeter {
  greet(name: string) {
    return { text: 'Hello, ' + name, version: VERSION, replica: replicaContext().replicaId };
  }
}
`,
    );
    // The ingress and its requestSchema live in a file the app module imports, as in examples/ocr.
    const front = (schema: string) => `
import { z } from '${zod}';
import { deployment } from '${runtime}';
import type { Handle } from '${runtime}';
import type { Greeter } from './greeter.ts';
class Front {
  constructor(private readonly greeter: Handle<Greeter>) {}
  call(body: { name: string }) {
    return this.greeter.greet(body.name);
  }
}
export const FrontD = deployment(Front, { route: '/greet', requestSchema: z.object({ name: ${schema} }) });
`;
    writeFileSync(join(sub, 'helper.ts'), helper('h1'));
    writeFileSync(join(sub, 'front.ts'), front('z.string()'));
    writeFileSync(
      join(sub, 'app.ts'),
      `
import { deployment } from '${runtime}';
import { FrontD } from './front.ts';
import { Greeter } from './greeter.ts';
export default FrontD.bind(deployment(Greeter).bind());
`,
    );
    const file = join(sub, 'serve.yaml');
    writeFileSync(file, config('        num_replicas: 2'));
    const { child, url, admin } = await startServer(['run', file, '--port', '0', '--admin-port', '0']);
    const post = (name: string) => fetch(`${url}/greet`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
    let traffic: ReturnType<typeof load> | undefined;
    try {
      traffic = load(url);
      assert.ok((await traffic.next(10)).every((a) => a.version === 'h1'));
      // Same config, same app module and class file: only the helper changed.
      writeFileSync(join(sub, 'helper.ts'), helper('h2'));
      const rolled = tool('deploy', file, '--address', admin);
      assert.equal(rolled.status, 0, rolled.stderr);
      assert.match(rolled.stdout, /Greeter: new code: replicas replaced one at a time/);
      const after = await traffic.next(20);
      assert.equal(after.length, 20);
      assert.ok(
        after.every((a) => a.version === 'h2'),
        'the new helper serves',
      );
      assert.equal(new Set(after.map((a) => a.replica)).size, 2, 'both replicas rolled');
      // Nothing changed since: a deploy of the same files rolls nothing.
      assert.doesNotMatch(tool('deploy', file, '--address', admin).stdout, /new code/);

      // A new requestSchema in the ingress's file: the route validates with it from then on.
      assert.equal((await post('Grace')).status, 200);
      writeFileSync(join(sub, 'front.ts'), front('z.string().max(3).transform((s) => s.toUpperCase())'));
      const reschema = tool('deploy', file, '--address', admin);
      assert.equal(reschema.status, 0, reschema.stderr);
      const upper = await traffic.next(10);
      assert.ok(
        upper.every((a) => a.text === 'Hello, ADA'),
        'the new schema transforms the body',
      );
      const refused = await post('Grace');
      assert.equal(refused.status, 400);
      assert.match(await refused.text(), /INVALID_REQUEST/);
      assert.deepEqual(await traffic.stop(), []);
    } finally {
      await traffic?.stop();
      assert.equal(await stop(child), 0);
    }
  });

  it('requires a token off loopback, and checks it', async () => {
    const refused = tool('run', 'examples/hello/app.ts', '--port', '0', '--admin-host', '0.0.0.0', '--admin-port', '0');
    assert.match(refused.stderr, /admin API: binding 0\.0\.0\.0 \(not loopback\) requires a token/);
    const { child, admin } = await startServer(['run', 'examples/hello/app.ts', '--port', '0', '--admin-port', '0', '--admin-token', 's3cret']);
    try {
      assert.match(tool('status', '--address', admin).stderr, /the admin API needs "Authorization: Bearer <token>" \(UNAUTHORIZED\)/);
      assert.equal(tool('status', '--address', admin, '--token', 's3cret').status, 0);
    } finally {
      assert.equal(await stop(child), 0);
    }
    assert.match(tool('status', '--address', 'http://127.0.0.1:1').stderr, /no threadserve admin API at http:\/\/127\.0\.0\.1:1/);
  });
});
