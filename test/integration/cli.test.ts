// The CLI as users run it: from the TypeScript sources, and from the compiled build with plain node.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Starts the CLI, waits for its ready banner, returns the base URL and the process. */
async function startCli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const deadline = Date.now() + 20000;
  while (!/threadserve is serving at (\S+)/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`CLI did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = /threadserve is serving at (\S+)/.exec(out)![1]!;
  return { child, url, output: () => out };
}

async function stop(child: ChildProcess) {
  const exit = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = await exit;
  return code as number;
}

async function hello(url: string) {
  const r = await fetch(`${url}/hello`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Ada' }) });
  return { status: r.status, body: await r.json() };
}

describe('threadserve --version', () => {
  it('prints the package version and exits 0', () => {
    const r = spawnSync(process.execPath, ['bin/threadserve.js', '--version'], { cwd: root, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const pkg = JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as { version: string };
    assert.equal(r.stdout.trim(), pkg.version);
  });
});

describe('threadserve run', () => {
  it('serves an app from source, prints routes and replicas, and exits 0 on SIGTERM', async () => {
    const { child, url, output } = await startCli(['bin/threadserve.js', 'run', 'examples/hello/app.ts', '--port', '0']);
    try {
      assert.match(output(), /POST http:\/\/127\.0\.0\.1:\d+\/hello\s+->\s+default \(ingress Hello\)/);
      assert.match(output(), /Hello\s+Hello#1\s+running/);
      assert.deepEqual(await hello(url), { status: 200, body: { greeting: 'Hello, Ada!', servedByThisReplica: 1 } });
    } finally {
      assert.equal(await stop(child), 0);
    }
  });

  it('takes the port from PORT', async () => {
    const port = String(20000 + Math.floor(Math.random() * 20000));
    const { child, url } = await startCli(['bin/threadserve.js', 'run', 'examples/hello/app.ts'], { PORT: port });
    assert.ok(url.endsWith(`:${port}`));
    assert.equal(await stop(child), 0);
  });

  it('explains bad arguments', () => {
    const run = (...args: string[]) => spawnSync(process.execPath, ['bin/threadserve.js', 'run', ...args], { cwd: root, encoding: 'utf8' });
    assert.match(run('examples/nope.ts').stderr, /application file not found: examples\/nope\.ts/);
    assert.match(run('examples/hello/app.ts', '--port', 'abc').stderr, /--port.*must be an integer port from 0 to 65535, got "abc"/);
    assert.match(run('examples/hello/app.ts', '--export', 'Other').stderr, /has no export "Other"/);
    assert.match(run('examples/hello/app.ts', '--dashboard', 'public').stderr, /--dashboard <access>' argument 'public' is invalid\. Allowed choices are local, open, off/);
    const missing = run('examples/hello/app.ts', '--export', 'Hello');
    assert.match(missing.stderr, /export "Hello" of examples\/hello\/app\.ts is not a bound deployment/);
    assert.notEqual(missing.status, 0);
  });

  it('runs from the compiled build with plain node (no tsx)', async () => {
    const build = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stdout + build.stderr);
    const { child, url } = await startCli(['dist/runtime/main/cli.js', 'run', 'dist/examples/hello/app.js', '--port', '0']);
    try {
      assert.equal((await hello(url)).status, 200);
      // The build copies the dashboard's page next to its compiled plugin.
      for (const path of ['/-/dashboard', '/-/dashboard/assets/dashboard.js']) assert.equal((await fetch(`${url}${path}`)).status, 200, path);
    } finally {
      assert.equal(await stop(child), 0);
    }
  });
});
