// Grouped: one class does all three steps. Simple, the steps stay in sync, one thing to scale.
import { z } from 'zod';
import { deployment } from 'threadserve';
import { postProcess, preProcess, predict } from './steps.ts';

export const requestSchema = z.object({ pixels: z.array(z.number()) });

export class InferenceHandler {
  preProcess(pixels: number[]) {
    return preProcess(pixels);
  }
  predict(features: Float32Array) {
    return predict(features);
  }
  postProcess(logits: Float32Array) {
    return postProcess(logits);
  }
  infer(pixels: number[]) {
    return this.postProcess(this.predict(this.preProcess(pixels)));
  }
  call(body: { pixels: number[] }) {
    return this.infer(body.pixels);
  }
}

export const Grouped = deployment(InferenceHandler, { name: 'Grouped', route: '/classify', numReplicas: 2, requestSchema });
