/**
 * The soak battery's server, in a process of its own: the OCR, forecast and classify examples
 * plus a deployment that crashes its replica on request, behind one ingress. Prints its URL,
 * serves until SIGTERM, then drains and exits 0 (the battery checks the exit code).
 *   node --import ./runtime/source-hooks.mjs bench/soak/server.ts <modelDir>
 */
import { serve } from 'threadserve';
import { CrasherD } from './crasher.ts';

process.env.FORECAST_MODELS = process.argv[2] ?? process.env.FORECAST_MODELS;
const { default: forecast } = await import('../../examples/forecast/app.ts');
const { default: classify } = await import('../../examples/classify/app.ts');
const { separated: ocr } = await import('../../examples/ocr/app.ts');

const instance = await serve.run(
  { ocr, forecast, classify, crash: CrasherD.bind() },
  { port: 0, logLevel: 'warn', bodyTimeoutS: 5, memoryBudgetMb: 512, memoryWaitS: 5 },
);
process.stdout.write(`SOAK_URL ${instance.url}\n`);
process.once('SIGTERM', () => {
  instance.close().then(
    () => process.exit(0),
    (err: Error) => {
      process.stderr.write(`drain failed: ${err.stack}\n`);
      process.exit(1);
    },
  );
});
