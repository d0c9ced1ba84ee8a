// Runs every *.test.ts under test/ with Node's test runner, from the TypeScript sources.
// Node 20's --test does not expand globs itself, so the files are listed here.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const only = process.argv.slice(2);

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'fixtures' ? [] : find(p);
    return e.name.endsWith('.test.ts') ? [relative(root, p)] : [];
  });
}

const files = find(join(root, 'test'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${only.join(' ')}`);
  process.exit(1);
}
// Formatting first (prettier, .prettierrc.json: `npm run format` fixes it), then the import
// layering (eslint.config.js), then the type-check: bind() argument checks and
// @ts-expect-error lines are part of the suite.
const format = spawnSync(process.execPath, ['node_modules/prettier/bin/prettier.cjs', '--check', '--log-level', 'warn', '.'], { cwd: root, stdio: 'inherit' });
if (format.status !== 0) {
  console.error('format check failed: run `npm run format`');
  process.exit(format.status ?? 1);
}
const lint = spawnSync(process.execPath, ['node_modules/eslint/bin/eslint.js', '.'], { cwd: root, stdio: 'inherit' });
if (lint.status !== 0) {
  console.error('lint failed');
  process.exit(lint.status ?? 1);
}
const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.'], { cwd: root, stdio: 'inherit' });
if (tsc.status !== 0) {
  console.error('type-check failed');
  process.exit(tsc.status ?? 1);
}
const result = spawnSync(process.execPath, ['--import', './runtime/source-hooks.mjs', '--test', '--test-reporter=spec', '--test-concurrency=2', ...files], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
