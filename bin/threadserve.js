#!/usr/bin/env node
// Runs the CLI from the TypeScript sources when they are present (a clone), else from dist/
// (a published build). tsx is registered either way so that .ts applications load.
import { existsSync } from 'node:fs';

await import('../runtime/source-hooks.mjs');
const built = new URL('../dist/runtime/main/cli.js', import.meta.url);
const source = new URL('../runtime/main/cli.ts', import.meta.url);
await import(existsSync(source) ? source.href : built.href);
