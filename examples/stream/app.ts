// Text generation served as a stream: a character model (trained by train.ts, run by
// onnxruntime in its own deployment, batched across concurrent generations) and a generator
// that samples one character at a time and yields it as soon as it has it.
//   npx threadserve run examples/stream/app.ts
//   curl -N localhost:8000/generate -H 'content-type: application/json' -d '{"prompt":"the harbour","delayMs":50}'
//   curl -N localhost:8000/generate -H 'accept: text/event-stream' -H 'content-type: application/json' -d '{"prompt":"the sea"}'
// Over gRPC, `TextGenerator` is a V2 model that streams through ModelStreamInfer.
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { bind, deployment, HttpError } from 'threadserve';
import type { Handle } from 'threadserve';
import { OnnxModelDeployment } from 'threadserve/onnx';
import type { ModelMetadata, OnnxModel, TensorInput } from 'threadserve/onnx';
import { INPUT_NAME, OUTPUT_NAME, VOCAB, encode, sample, seededRandom } from './charlm.ts';
import { MODEL_PATH } from './train.ts';

export interface GenerateOptions {
  /** Characters to generate. Default 200. */
  maxTokens?: number;
  /** 0 always takes the most likely character; higher is more adventurous. Default 0.8. */
  temperature?: number;
  /** Seed of the sampler: the same prompt, options and seed give the same text. Default 1. */
  seed?: number;
  /** A pause after each character, to watch a stream arrive in a terminal. Default 0. */
  delayMs?: number;
}

const Options = z.object({
  maxTokens: z.number().int().min(1).max(5000).default(200),
  temperature: z.number().min(0).max(5).default(0.8),
  seed: z.number().int().min(0).max(0xffffffff).default(1),
  delayMs: z.number().int().min(0).max(1000).default(0),
});

/** The neural step, on its own replica: concurrent generations share its runs (dynamic batching). */
export const CharModel = OnnxModelDeployment.options({ name: 'charlm', maxOngoingRequests: 64 });
export const charModel = CharModel.bind({ path: MODEL_PATH, intraOpNumThreads: 1, batching: { maxBatchSize: 32, batchWaitTimeoutS: 0.001 } });

@deployment({ maxOngoingRequests: 64 })
export class TextGenerator {
  constructor(private readonly model: Handle<OnnxModel>) {}

  /** Yields the generated text one character at a time. */
  async *generate(prompt: string, options: GenerateOptions = {}): AsyncGenerator<string> {
    if (typeof prompt !== 'string') throw new HttpError(400, 'prompt must be a string');
    const parsed = Options.safeParse(options);
    if (!parsed.success) throw new HttpError(400, `generate options: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const { maxTokens, temperature, seed, delayMs } = parsed.data;
    const random = seededRandom(seed);
    const context = [0, 0, ...encode(prompt)];
    let a = context.at(-2)!;
    let b = context.at(-1)!;
    for (let i = 0; i < maxTokens; i++) {
      const input: TensorInput = { data: BigInt64Array.of(BigInt(a), BigInt(b)), dims: [1, 2], datatype: 'INT64' };
      const out = await this.model.predict({ [INPUT_NAME]: input });
      const next = sample(out[OUTPUT_NAME]!.data as Float32Array, temperature, random);
      yield VOCAB[next]!;
      [a, b] = [b, next];
      if (delayMs > 0) await sleep(delayMs);
    }
  }

  /** The same text in one answer (what a client that does not stream waits for). */
  async complete(prompt: string, options: GenerateOptions = {}): Promise<{ text: string }> {
    let text = '';
    for await (const c of this.generate(prompt, options)) text += c;
    return { text };
  }

  /** The Open Inference Protocol's view: a model that streams one `token` per response. */
  metadata(): ModelMetadata {
    return {
      name: 'TextGenerator',
      platform: 'onnxruntime_onnx',
      inputs: [
        { name: 'prompt', datatype: 'BYTES', shape: [1] },
        { name: 'max_tokens', datatype: 'INT32', shape: [1] },
      ],
      outputs: [{ name: 'token', datatype: 'BYTES', shape: [1] }],
    };
  }

  async *predict(inputs: Record<string, TensorInput>) {
    const prompt = inputs.prompt?.data[0];
    if (typeof prompt !== 'string') throw new HttpError(400, 'input "prompt" must be a BYTES tensor of shape [1] holding text');
    const maxTokens = inputs.max_tokens === undefined ? undefined : Number(inputs.max_tokens.data[0]);
    for await (const token of this.generate(prompt, maxTokens === undefined ? {} : { maxTokens })) {
      yield { token: { data: [token], dims: [1], datatype: 'BYTES' } };
    }
  }
}

const Body = Options.extend({
  prompt: z.string().max(10_000),
  /** false: wait for the whole text and answer it as one JSON object. */
  stream: z.boolean().default(true),
});

@deployment({ route: '/generate', requestSchema: Body })
export class GenerateApi {
  constructor(private readonly generator: Handle<TextGenerator>) {}

  // Returning the generator's stream hands it on whole: its characters go from TextGenerator's
  // thread to the HTTP response without passing through this replica.
  call(body: z.infer<typeof Body>) {
    const { prompt, stream, ...options } = body;
    return stream ? this.generator.generate(prompt, options) : this.generator.complete(prompt, options);
  }
}

export default bind(GenerateApi, bind(TextGenerator, charModel));
