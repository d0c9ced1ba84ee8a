// The CLI as users run it: from the TypeScript sources, and from the compiled build with plain node.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The ready banner: a line of text on a terminal (or --log-format pretty), a JSON log line otherwise. */
const READY = /threadserve is serving at (\S+)|"url":"(http[^"]+)".*"msg":"threadserve is serving"/;

/** Starts the CLI, waits for its ready banner, returns the base URL and the process. */
async function startCli(args: string[], env: Record<string, string> = {}, detached = false) {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached });
  let out = '';
  let stdout = '';
  child.stdout!.on('data', (d) => {
    out += d;
    stdout += d;
  });
  child.stderr!.on('data', (d) => (out += d));
  const deadline = Date.now() + 30000;
  while (!READY.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`CLI did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = READY.exec(out)!;
  const url = (m[1] ?? m[2])!;
  return { child, url, output: () => out, stdout: () => stdout };
}

async function waitFor(cond: () => boolean, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
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
  it('serves an app from source, prints every route and the replicas, and exits 0 on SIGTERM', async () => {
    const { child, url, output } = await startCli(['bin/threadserve.js', 'run', 'examples/hello/app.ts', '--port', '0', '--log-format', 'pretty']);
    try {
      assert.match(output(), /POST\s+http:\/\/127\.0\.0\.1:\d+\/hello\s+->\s+default \(ingress Hello\)/);
      for (const route of ['/-/healthz', '/-/routes', '/-/status', '/metrics', '/v2/health/ready', '/v2/models/:model/infer']) {
        assert.match(output(), new RegExp(`\\d+${route.replace(/[/.*]/g, '\\$&')}\\n`), `${route} printed`);
      }
      assert.match(output(), /Hello\s+Hello#1\s+running/);
      assert.deepEqual(await hello(url), { status: 200, body: { greeting: 'Hello, Ada!', servedByThisReplica: 1 } });
      // The access log line, human-readable.
      await waitFor(() => /INFO.*: request\n\s+reqId: "/.test(output()));
    } finally {
      assert.equal(await stop(child), 0);
    }
  });

  it('writes only JSON lines to a pipe: start-up, one access line per request, shutdown', async () => {
    const { child, url, stdout } = await startCli(['bin/threadserve.js', 'run', 'examples/hello/app.ts', '--port', '0']);
    let code: number;
    try {
      const r = await fetch(`${url}/hello`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': 'cli-1' },
        body: '{"name":"Ada"}',
      });
      assert.equal(r.headers.get('x-request-id'), 'cli-1');
      await waitFor(() => stdout().includes('"reqId":"cli-1"'));
    } finally {
      code = await stop(child);
    }
    assert.equal(code, 0);
    const lines = stdout()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, any>);
    const ready = lines.find((l) => l.msg === 'threadserve is serving')!;
    const urls = ready.routes.map((r: { url: string }) => r.url);
    for (const route of ['/hello', '/-/healthz', '/metrics', '/v2', '/v2/models/:model/infer']) assert.ok(urls.includes(route), `${route} in ${urls}`);
    assert.deepEqual(
      ready.replicas.map((r: { replica: string }) => r.replica),
      ['Hello#0', 'Hello#1'],
    );
    const access = lines.find((l) => l.reqId === 'cli-1')!;
    assert.deepEqual([access.method, access.route, access.status], ['POST', '/hello', 200]);
    assert.ok(lines.some((l) => l.msg === 'draining' && l.signal === 'SIGTERM'));
  });

  it('is human-readable on a terminal: the table, and pretty log lines, no JSON', async (t) => {
    // util-linux's `script` gives the CLI a pseudo-terminal as stdout. It is part of every Linux
    // install (Debian's essential bsdutils; .ci/run installs it if missing); other systems' `script`
    // takes other flags, so there the case cannot run.
    if (process.platform !== 'linux') {
      t.skip(`no util-linux \`script\` on ${process.platform} to give the CLI a pseudo-terminal`);
      return;
    }
    assert.ok(!spawnSync('script', ['--version']).error, "util-linux's `script` is missing: install it (Debian: apt-get install bsdutils)");
    const cmd = `${JSON.stringify(process.execPath)} bin/threadserve.js run examples/hello/app.ts --port 0`;
    const { child, url, output } = await startCli(
      [
        '-e',
        `require('node:child_process').spawn('script', ['-qfec', ${JSON.stringify(cmd)}, '/dev/null'], { stdio: 'inherit' }).on('exit', (c) => process.exit(c ?? 1)); process.on('SIGTERM', () => {})`,
      ],
      {},
      true,
    );
    try {
      assert.equal((await hello(url)).status, 200);
      const plain = () => output().replace(/\x1b\[[0-9;]*m/g, '');
      await waitFor(() => /INFO.*: request\s+reqId: "/.test(plain()));
      assert.match(plain(), /Routes:\s+POST\s+http:\/\/127\.0\.0\.1:\d+\/hello\s+->\s+default/);
      assert.doesNotMatch(output(), /\{"level":/);
    } finally {
      process.kill(-child.pid!, 'SIGTERM');
      await once(child, 'exit');
    }
  });

  it('--no-access-log leaves requests unlogged', async () => {
    const { child, url, stdout } = await startCli(['bin/threadserve.js', 'run', 'examples/hello/app.ts', '--port', '0', '--no-access-log']);
    try {
      assert.equal((await hello(url)).status, 200);
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(!stdout().includes('"msg":"request"'), stdout());
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
    assert.match(
      run('examples/hello/app.ts', '--log-level', 'loud').stderr,
      /--log-level.*must be one of fatal, error, warn, info, debug, trace, silent, got "loud"/,
    );
    assert.match(run('examples/hello/app.ts', '--log-format', 'xml').stderr, /--log-format.*must be one of auto, json, pretty, got "xml"/);
    assert.match(run('examples/hello/app.ts', '--export', 'Other').stderr, /has no export "Other"/);
    assert.match(
      run('examples/hello/app.ts', '--dashboard', 'public').stderr,
      /--dashboard <access>' argument 'public' is invalid\. Allowed choices are local, open, off/,
    );
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
