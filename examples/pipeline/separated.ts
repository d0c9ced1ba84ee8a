// Separated: each step is its own deployment with its own replica count; the ingress chains
// them through handles. The CPU-heavy pre-process gets more replicas than the model.
import { deployment } from 'threadserve';
import type { Handle } from 'threadserve';
import { requestSchema } from './grouped.ts';
import { postProcess, preProcess, predict } from './steps.ts';

export class PreprocessStep {
  run(pixels: number[]) {
    return preProcess(pixels);
  }
}
export class ModelStep {
  predict(features: Float32Array) {
    return predict(features);
  }
}
export class PostprocessStep {
  run(logits: Float32Array) {
    return postProcess(logits);
  }
}
export class Classify {
  constructor(
    private readonly pre: Handle<PreprocessStep>,
    private readonly model: Handle<ModelStep>,
    private readonly post: Handle<PostprocessStep>,
  ) {}
  async call(body: { pixels: number[] }) {
    // Each hop moves its Float32Array to the next thread without copying it.
    return this.post.run(await this.model.predict(await this.pre.run(body.pixels)));
  }
}

export const Preprocess = deployment(PreprocessStep, { name: 'Preprocess', numReplicas: 2 });
export const Model = deployment(ModelStep, { name: 'Model', numReplicas: 1, maxOngoingRequests: 16 });
export const Postprocess = deployment(PostprocessStep, { name: 'Postprocess', numReplicas: 1 });
export const Separated = deployment(Classify, { name: 'Classify', route: '/classify', requestSchema, maxOngoingRequests: 32 });
