// examples/classify/app.ts
import { z } from 'zod';
import { deployment, HttpError } from 'threadserve';
import type { Handle, RequestContext } from 'threadserve';

export class Preprocess {
  run(pixels: number[]): Float32Array {
    if (pixels.length !== 784) throw new HttpError(400, `need 784 pixels, got ${pixels.length}`);
    return Float32Array.from(pixels, (p) => p / 255);
  }
}

export class Model {
  private weights = new Float32Array(0);
  constructor(private readonly classes: number) {}
  init() {
    // Runs in the replica before it takes calls: load weights here (a file, a session...).
    this.weights = Float32Array.from({ length: this.classes * 784 }, (_, i) => Math.sin(i));
  }
  predict(x: Float32Array): Float32Array {
    const logits = new Float32Array(this.classes);
    for (let c = 0; c < this.classes; c++) {
      for (let i = 0; i < x.length; i++) logits[c]! += this.weights[c * 784 + i]! * x[i]!;
    }
    return logits;
  }
}

export class Classify {
  constructor(
    private readonly pre: Handle<Preprocess>,
    private readonly model: Handle<Model>,
  ) {}
  async call(body: { pixels: number[] }, request: RequestContext) {
    const logits = await this.model.predict(await this.pre.run(body.pixels));
    return { label: logits.indexOf(Math.max(...logits)), requestId: request.id };
  }
}

export const PreprocessD = deployment(Preprocess, { numReplicas: 3 });
export const ModelD = deployment(Model, { numReplicas: 1, maxOngoingRequests: 8 });
export const ClassifyD = deployment(Classify, {
  route: '/classify',
  requestSchema: z.object({ pixels: z.array(z.number()) }),
});

// bind() is type-checked against each constructor: ClassifyD.bind(ModelD.bind(10), ...) fails to compile.
export default ClassifyD.bind(PreprocessD.bind(), ModelD.bind(10));
