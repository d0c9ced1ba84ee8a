// bind() argument checking is a compile-time feature: `npm test` type-checks the project first,
// so each @ts-expect-error below fails the run if the error it expects goes away.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { bind, deployment } from 'threadserve';
import type { Handle } from 'threadserve';

class Tokenizer {
  tokens(text: string) {
    return text.split(' ');
  }
}
class Model {
  constructor(
    readonly path: string,
    readonly threads: number,
  ) {}
  predict(x: number[]) {
    return x.length;
  }
}
class Classifier {
  constructor(
    readonly tokenizer: Handle<Tokenizer>,
    readonly model: Handle<Model>,
  ) {}
  async call(body: { text: string }) {
    const tokens: string[] = await this.tokenizer.tokens(body.text);
    // @ts-expect-error a handle method takes the method's own parameter types
    await this.model.predict('not numbers');
    return this.model.predict(tokens.map((t) => t.length));
  }
}

/** Handles inside a plain object (and an array): bind takes bound deployments there too. */
class Ensemble {
  constructor(readonly parts: { tokenizer: Handle<Tokenizer>; models: Handle<Model>[]; cache?: Handle<Tokenizer>; label: string }) {}
  call() {
    return this.parts.label;
  }
}

const TokenizerD = deployment(Tokenizer);
const ModelD = deployment(Model, { numReplicas: 2 });
const ClassifierD = deployment(Classifier, { route: '/classify' });
const EnsembleD = deployment(Ensemble);

it('type-checks bind arguments against constructor parameters', () => {
  const app = ClassifierD.bind(TokenizerD.bind(), ModelD.bind('model.onnx', 2));
  // @ts-expect-error the model deployment where a tokenizer handle is expected
  ClassifierD.bind(ModelD.bind('m', 1), ModelD.bind('m', 1));
  // @ts-expect-error wrong plain argument type
  ModelD.bind('model.onnx', 'two');
  // @ts-expect-error missing argument
  ModelD.bind('model.onnx');
  // the free function works for both forms and checks the same way
  bind(ClassifierD, bind(TokenizerD), bind(ModelD, 'm', 1));
  // @ts-expect-error
  bind(ModelD, 1, 1);
  // handles nested in an options object and an array, an optional one left out
  const ensemble = EnsembleD.bind({ tokenizer: TokenizerD.bind(), models: [ModelD.bind('a', 1), ModelD.bind('b', 1)], label: 'x' });
  // @ts-expect-error a model deployment where the object's tokenizer handle is expected
  EnsembleD.bind({ tokenizer: ModelD.bind('m', 1), models: [], label: 'x' });
  // @ts-expect-error a plain value nested in the object keeps its own type
  EnsembleD.bind({ tokenizer: TokenizerD.bind(), models: [], label: 1 });
  // @ts-expect-error an optional handle still takes only its own deployment
  EnsembleD.bind({ tokenizer: TokenizerD.bind(), models: [], cache: ModelD.bind('m', 1), label: 'x' });
  assert.equal(ensemble.args.length, 1);
  assert.equal(app.deployment.className, 'Classifier');
  assert.equal(app.args.length, 2);
});
