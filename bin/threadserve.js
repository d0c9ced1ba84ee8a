#!/usr/bin/env node
// The `threadserve` command. tsx is registered first so that TypeScript applications load.
// The CLI then comes from the very copy of the runtime that `import 'threadserve'` gives the
// user's application (two copies side by side would break instanceof checks, HttpError among
// them): installed as a package that is dist/ (through package.json "exports"); in this
// repository, where tsconfig maps `threadserve` to runtime/index.ts, it is the sources.
await import('../runtime/source-hooks.mjs');
const runtime = import.meta.resolve('threadserve');
await import(new URL(runtime.endsWith('.ts') ? './main/cli.ts' : './main/cli.js', runtime).href);
