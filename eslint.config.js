// ESLint: the import layering the design asks for (run by `npm test` before the type-check).
//  - code that runs inside replica threads (runtime/worker) never imports main-thread code;
//  - code both sides use (runtime/shared) imports neither side;
//  - reusable deployments and the examples import threadserve only through its public entries
//    (`threadserve`, `threadserve/onnx`, `/ocr`, `/image`), as users do.
import tseslint from 'typescript-eslint';

const files = ['**/*.ts'];
const restrict = (patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**'] },
  { files, languageOptions: { parser: tseslint.parser } },
  {
    files: ['runtime/worker/**/*.ts'],
    rules: restrict([{ group: ['**/main/**'], message: 'replica-side code must not import main-thread code (runtime/main)' }]),
  },
  {
    files: ['runtime/shared/**/*.ts'],
    rules: restrict([{ group: ['**/main/**', '**/worker/**'], message: 'runtime/shared is used by both sides and imports neither' }]),
  },
  {
    files: ['deployments/**/*.ts', 'examples/**/*.ts'],
    rules: restrict([
      { group: ['**/runtime/**'], message: "import the runtime as 'threadserve', as users do" },
      {
        group: ['../../deployments/**', '../deployments/**'],
        message: "import reusable deployments as 'threadserve/onnx', 'threadserve/ocr' or 'threadserve/image'",
      },
    ]),
  },
);
