// One forecasting model per country, many countries, a few replicas.
//   npx threadserve run examples/forecast/app.ts
//   curl -X POST localhost:8000/forecast -H 'content-type: application/json' \
//        -d '{"country":"DE","history":[120,130,125,140,150,145,160,155]}'
//   curl -X POST localhost:8000/v2/models/FR/infer -H 'content-type: application/json' \
//        -d '{"inputs":[{"name":"features","datatype":"FP32","shape":[1,11],"data":[1,1,1,1,1,1,1,1,0,1,0]}]}'
// The models are generated on first run (100 countries) into examples/forecast/models/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OnnxRepositoryDeployment } from 'threadserve/onnx';
import { ForecastIngress, ForecastPost, ForecastPre } from './deployments.ts';
import { generateModels } from './generate-models.ts';

export const MODEL_DIR = process.env.FORECAST_MODELS ?? fileURLToPath(new URL('./models/', import.meta.url));
if (!existsSync(`${MODEL_DIR}/manifest.json`)) await generateModels(MODEL_DIR, 100);

export const CountryModels = OnnxRepositoryDeployment.options({ name: 'CountryModels', numReplicas: 2, maxOngoingRequests: 32 });

/** Two replicas with room for 8 models each; requests for one country batch together. */
export const countryModels = CountryModels.bind({
  repository: MODEL_DIR,
  maxNumModelsPerReplica: 8,
  batching: { maxBatchSize: 16, batchWaitTimeoutS: 0.002 },
  intraOpNumThreads: 1,
});

export default ForecastIngress.bind(ForecastPre.bind(), countryModels, ForecastPost.bind());
