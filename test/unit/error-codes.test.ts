// The error catalogue: every code the runtime makes is catalogued, with the status its class
// answers, and documented in the README's table; no code is made outside the catalogue.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '../../runtime/shared/error-codes.ts';
import {
  BackpressureError,
  BadCallError,
  DeploymentUnavailableError,
  HttpError,
  OptionsError,
  ReplicaDiedError,
  TimeoutError,
  serializeError,
} from '../../runtime/shared/errors.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

describe('error catalogue', () => {
  it('lists every error class with the status the class answers', () => {
    const made = [
      new BackpressureError('m'),
      new BadCallError('m'),
      new DeploymentUnavailableError('m'),
      new OptionsError('m'),
      new ReplicaDiedError('m'),
      new TimeoutError('m'),
    ];
    for (const e of made) {
      const info = ERROR_CODES[e.code as keyof typeof ERROR_CODES];
      assert.ok(info, `${e.name}'s code ${e.code} is not catalogued`);
      assert.equal(info.status || 500, e.statusCode, `${e.code}: the catalogue and ${e.name} disagree on the status`);
    }
    assert.ok(ERROR_CODES[new HttpError(418, 'm').code as keyof typeof ERROR_CODES]);
    assert.ok(ERROR_CODES[serializeError(new Error('plain')).code as keyof typeof ERROR_CODES], 'USER_ERROR');
  });

  it('is the README table, code by code, with the same statuses', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      const row = new RegExp(`^\\| \`${code}\` \\| ([^|]+) \\| (.*) \\|$`, 'm').exec(readme);
      assert.ok(row, `README's error table has no row for ${code}`);
      if (info.status > 0) assert.ok(row[1]!.trim().startsWith(String(info.status)), `${code}: README says ${row[1]}, catalogue ${info.status}`);
      assert.equal(row[2], info.when, `${code}: README's "when" differs from the catalogue's`);
    }
  });

  it('is the only place codes are made: no inline ThreadserveError outside the errors modules', () => {
    const offenders = [...sources(join(root, 'runtime')), ...sources(join(root, 'deployments'))]
      .filter((f) => !/shared[/\\](errors|error-codes)\.ts$/.test(f))
      .filter((f) => /new ThreadserveError\(/.test(readFileSync(f, 'utf8')));
    assert.deepEqual(offenders, [], 'use codedError() with a catalogued code');
    const inline = [...sources(join(root, 'runtime'))].flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/code: '([A-Z][A-Z_]+)'/g)].map((m) => m[1]!));
    for (const code of inline) assert.ok(code in ERROR_CODES, `${code} is answered but not catalogued`);
  });
});
