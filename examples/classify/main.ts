// examples/classify/main.ts: serve.run from code (node --import tsx examples/classify/main.ts)
import { serve } from 'threadserve';
import app from './app.ts';
import type { Model } from './app.ts';

const instance = await serve.run(app, { port: 8000 }); // resolves once every replica is up
const model = instance.handle<Model>('Model'); // a typed handle from the main thread
console.log(await model.predict(new Float32Array(784).fill(0.5)));
await instance.close(); // drains, then stops the threads
