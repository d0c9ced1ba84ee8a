/**
 * The OCR applications bench/ocr/run.ts serves, built from the example's deployments with
 * `.options({ numReplicas })` and an explicit intra-op thread count per model session, so that
 * the thread counts the bench compares are known rather than derived from the replica count.
 */
import type { BoundDeployment } from 'threadserve';
import { OnnxModelDeployment } from '../../deployments/onnx/deployment.ts';
import { MODEL_PATHS } from '../../deployments/ocr/steps.ts';
import type { OcrOptions } from '../../deployments/ocr/steps.ts';
import { OcrGrouped } from '../../examples/ocr/grouped.ts';
import { OcrIngress, OcrPost, OcrPre } from '../../examples/ocr/separated.ts';

/** The example app's options (4096 x 4096 images at most). */
const OCR_OPTIONS: Partial<OcrOptions> = { maxPixels: 4096 * 4096 };

export interface GroupedShape {
  replicas: number;
  intraOp: number;
}

export interface SeparatedShape {
  /** OcrPre and OcrPost replicas each; 0: the ingress runs those steps in its own thread (the example's default). */
  prePost: number;
  detIntraOp: number;
  recIntraOp: number;
  /** ocr-rec replicas (default 1): replicate only the bottleneck model. */
  recReplicas?: number;
}

/** N replicas, each holding both models. */
export function groupedApp(s: GroupedShape): BoundDeployment {
  return OcrGrouped.options({ numReplicas: s.replicas }).bind({ ...OCR_OPTIONS, intraOpNumThreads: s.intraOp });
}

/** N pre-process and N post-process replicas (or none), one detector replica, `recReplicas` recogniser replicas, one ingress replica. */
export function separatedApp(s: SeparatedShape): BoundDeployment {
  return OcrIngress.bind({
    detector: OnnxModelDeployment.options({ name: 'ocr-det', numReplicas: 1 }).bind({ path: MODEL_PATHS.det, intraOpNumThreads: s.detIntraOp }),
    recognizer: OnnxModelDeployment.options({ name: 'ocr-rec', numReplicas: s.recReplicas ?? 1 }).bind({
      path: MODEL_PATHS.rec,
      intraOpNumThreads: s.recIntraOp,
    }),
    ...(s.prePost > 0
      ? { pre: OcrPre.options({ numReplicas: s.prePost }).bind(OCR_OPTIONS), post: OcrPost.options({ numReplicas: s.prePost }).bind(OCR_OPTIONS) }
      : {}),
    options: OCR_OPTIONS,
  });
}
