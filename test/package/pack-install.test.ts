// The package as a user gets it: `npm pack`, installed into a fresh project, a strict type-check
// of a small app there, and requests served through `npx threadserve run` (HTTP and gRPC).
// The pack runs in a copy of the repository so that its build (prepack) never rewrites the
// dist/ another test file is using; installing takes the npm cache, else the npm registry.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { credentials, loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tsc = join(root, 'node_modules/typescript/bin/tsc');

const STEPS = `import { HttpError, deployment } from 'threadserve';
import type { Batch, Handle } from 'threadserve';
import type { OnnxModel } from 'threadserve/onnx';

export class Upper {
  shout(s: string): string {
    return s.toUpperCase();
  }
}
export const UpperDeployment = deployment(Upper, { numReplicas: 2 });

export class Greeter {
  constructor(private readonly upper: Handle<Upper>) {}
  async call(body: { name?: unknown }) {
    if (typeof body.name !== 'string') throw new HttpError(418, 'name must be a string');
    return { greeting: await this.upper.shout('hello ' + body.name) };
  }
}
export const GreeterDeployment = deployment(Greeter, { route: '/greet' });

/** Type-level uses of the public types: a batch item type and a model handle. */
export type Items = Batch<number>;
export type ModelHandle = Handle<OnnxModel>;
`;

const APP = `import { bind } from 'threadserve';
import { GreeterDeployment, UpperDeployment } from './steps.ts';
export default bind(GreeterDeployment, bind(UpperDeployment));
`;

/** Wrong on purpose: a string where the Handle<Upper> goes. */
const BAD_APP = `import { bind } from 'threadserve';
import { GreeterDeployment } from './steps.ts';
export default bind(GreeterDeployment, 'not a handle');
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    types: ['node'],
  },
  include: ['src'],
};

function run(cmd: string, args: string[], cwd: string) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('the packed package in a fresh project', { timeout: 300_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'threadserve-pack-'));
  const project = join(work, 'app');

  before(() => {
    // A copy of the tracked (and new, unignored) files, with this checkout's node_modules.
    const copy = join(work, 'repo');
    const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const f of files) {
      mkdirSync(dirname(join(copy, f)), { recursive: true });
      try {
        cpSync(join(root, f), join(copy, f));
      } catch {
        // A file deleted in the working tree but still tracked.
      }
    }
    symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
    const pack = run('npm', ['pack', '--pack-destination', work], copy);
    assert.equal(pack.status, 0, pack.out);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, `npm pack made no tarball:\n${pack.out}`);

    mkdirSync(join(project, 'src'), { recursive: true });
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'user-app', private: true, type: 'module', dependencies: { threadserve: `file:../${tarball}` } }),
    );
    // What the README tells users: skip onnxruntime-node's CUDA download.
    writeFileSync(join(project, '.npmrc'), 'onnxruntime-node-install=skip\n');
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    writeFileSync(join(project, 'src/steps.ts'), STEPS);
    writeFileSync(join(project, 'src/app.ts'), APP);
    const install = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], project);
    assert.equal(install.status, 0, install.out);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('ships dist/ and the CLI, not the sources, tests or benchmarks', () => {
    const pkg = join(project, 'node_modules/threadserve');
    const top = readdirSync(pkg).sort();
    assert.deepEqual(top, ['README.md', 'bin', 'dist', 'package.json', 'runtime']);
    assert.deepEqual(readdirSync(join(pkg, 'runtime')), ['source-hooks.mjs']);
  });

  it('type-checks a strict app against the public types, and rejects a wrong bind', () => {
    const ok = run(process.execPath, [tsc, '-p', '.'], project);
    assert.equal(ok.status, 0, ok.out);
    writeFileSync(join(project, 'src/bad.ts'), BAD_APP);
    const bad = run(process.execPath, [tsc, '-p', '.'], project);
    rmSync(join(project, 'src/bad.ts'));
    assert.notEqual(bad.status, 0, 'bind() with a string for a Handle<Upper> must not type-check');
    assert.match(bad.out, /src\/bad\.ts/);
  });

  it('serves the app with npx threadserve run, with one copy of the runtime (HttpError keeps its status)', async () => {
    // Its own process group: npx does not pass SIGTERM on to the server it started.
    const child = spawn('npx', ['threadserve', 'run', 'src/app.ts', '--port', '0'], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    try {
      const deadline = Date.now() + 60_000;
      // On a pipe the CLI logs JSON lines; the ready line carries the URL.
      const ready = /"url":"(http[^"]+)".*"msg":"threadserve is serving"/;
      while (!ready.test(out)) {
        assert.ok(child.exitCode === null && Date.now() < deadline, `the CLI did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const url = ready.exec(out)![1]!;
      // The OpenAPI document, and the docs page's assets found in the installed packages.
      const openapi = await fetch(`${url}/-/openapi.json`);
      assert.equal(openapi.status, 200);
      assert.ok(((await openapi.json()) as { paths: Record<string, unknown> }).paths['/greet']);
      const docs = await (await fetch(`${url}/-/docs/`)).text();
      const asset = /src="\.\/(static\/[^"]+\.js)"/.exec(docs)?.[1];
      assert.ok(asset, docs.slice(0, 300));
      assert.equal((await fetch(`${url}/-/docs/${asset}`)).status, 200);
      const post = (body: unknown) => fetch(`${url}/greet`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const good = await post({ name: 'ada' });
      assert.equal(good.status, 200);
      assert.deepEqual(await good.json(), { greeting: 'HELLO ADA' });
      const teapot = await post({ name: 1 });
      assert.equal(teapot.status, 418, 'an HttpError thrown in the app answers its own status');
      assert.deepEqual(await teapot.json(), { error: { code: 'HTTP_ERROR', message: 'name must be a string' } });
      // The dashboard's page, its scripts and uPlot come from the installed package (no CDN).
      for (const [path, type] of [
        ['/-/dashboard', /text\/html/],
        ['/-/dashboard/assets/charts.js', /javascript/],
        ['/-/dashboard/vendor/uPlot.esm.js', /javascript/],
      ] as const) {
        const res = await fetch(`${url}${path}`);
        assert.equal(res.status, 200, `${path}: ${res.status}`);
        assert.match(res.headers.get('content-type') ?? '', type, path);
      }

      // gRPC beside HTTP, with a client made from the .proto the installed package names.
      // On a pipe the ready line is JSON; its "grpc" field is the address.
      const grpcAddress = /"grpc":"([^"]+)"/.exec(out)?.[1];
      assert.ok(grpcAddress, `the CLI names its gRPC address:\n${out}`);
      const printed = run(process.execPath, ['--input-type=module', '-e', "console.log((await import('threadserve')).GRPC_PROTO_PATH)"], project);
      const protoPath = printed.out.trim();
      assert.ok(protoPath.startsWith(join(project, 'node_modules/threadserve/dist/')), printed.out);
      const inference = loadPackageDefinition(loadSync(protoPath, { keepCase: true })) as any;
      const client = new inference.inference.GRPCInferenceService(grpcAddress, credentials.createInsecure());
      try {
        const meta = await new Promise<any>((resolve, reject) =>
          client.ServerMetadata({}, (err: Error | null, r: unknown) => (err ? reject(err) : resolve(r))),
        );
        assert.equal(meta.name, 'threadserve');
      } finally {
        client.close();
      }
    } finally {
      const exited = once(child, 'exit');
      process.kill(-child.pid!, 'SIGTERM');
      await exited;
    }
  });

  it('tells a CommonJS project what to do', () => {
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-app', private: true }));
    const r = run('npx', ['threadserve', 'run', 'src/app.ts', '--port', '0'], project);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /loaded as CommonJS, and threadserve is an ES module\. Add "type": "module"/);
  });
});
