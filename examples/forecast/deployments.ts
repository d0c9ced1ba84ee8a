// Demand forecasting with one model per country: pre-process builds features, a multiplexed,
// batching model repository runs the country's model, post-process answers with the country
// and the model version. Far more countries than fit in memory at once: each model replica
// keeps a handful loaded and loads others when a request needs them.
import { z } from 'zod';
import { HttpError, deployment } from 'threadserve';
import type { Handle } from 'threadserve';
import type { OnnxRepository } from 'threadserve/onnx';
import { FeatureError, buildFeatures, toForecast } from './features.ts';

export const forecastRequestSchema = z.object({
  country: z.string().regex(/^[A-Za-z]{2}$|^X[A-Z]\d{3}$/, 'country must be an ISO 3166 alpha-2 code such as "DE"'),
  history: z.array(z.number()),
  /** First day of the week to forecast (ISO date); default: today. */
  date: z.iso.date().optional(),
});
export type ForecastRequest = z.infer<typeof forecastRequestSchema>;

export class ForecastPreprocess {
  run(body: ForecastRequest) {
    try {
      const { features, scale } = buildFeatures(body.history, body.date ? new Date(`${body.date}T00:00:00Z`) : new Date());
      return { country: body.country.toUpperCase(), features, scale };
    } catch (err) {
      if (err instanceof FeatureError) throw new HttpError(400, err.message);
      throw err;
    }
  }
}

export class ForecastPostprocess {
  run(country: string, version: string, output: Float32Array, scale: number) {
    const [forecast] = toForecast(output, scale);
    return { country, forecast: Math.round(forecast! * 100) / 100, modelVersion: version };
  }
}

export class Forecast {
  constructor(
    private readonly pre: Handle<ForecastPreprocess>,
    private readonly models: Handle<OnnxRepository>,
    private readonly post: Handle<ForecastPostprocess>,
  ) {}

  async call(body: ForecastRequest) {
    const { country, features, scale } = await this.pre.run(body);
    // The model id routes the call to a replica that already holds this country's model.
    const out = await this.models.options({ multiplexedModelId: country }).run({ features: { data: features, dims: [1, features.length] } });
    return this.post.run(country, out.version, out.outputs.forecast!.data as Float32Array, scale);
  }
}

export const ForecastPre = deployment(ForecastPreprocess, { name: 'ForecastPre', numReplicas: 1 });
export const ForecastPost = deployment(ForecastPostprocess, { name: 'ForecastPost', numReplicas: 1 });
export const ForecastIngress = deployment(Forecast, {
  name: 'Forecast',
  route: '/forecast',
  maxOngoingRequests: 64,
  requestSchema: forecastRequestSchema,
});
