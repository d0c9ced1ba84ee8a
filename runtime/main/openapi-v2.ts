/**
 * The Open Inference Protocol (KServe V2) REST routes in OpenAPI 3.1 form, as threadserve
 * serves them (v2/plugin.ts): the protocol's own JSON shapes, the binary tensor extension,
 * and its error shape `{"error": "message"}`.
 */
type Schema = Record<string, unknown>;

const DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'];

export const V2_SCHEMAS: Record<string, Schema> = {
  V2Error: { type: 'object', required: ['error'], properties: { error: { type: 'string' } } },
  V2TensorMetadata: {
    type: 'object',
    required: ['name', 'datatype', 'shape'],
    properties: {
      name: { type: 'string' },
      datatype: { enum: DATATYPES },
      shape: { type: 'array', items: { type: 'integer', description: '-1 for a dimension of any size' } },
    },
  },
  V2ModelMetadata: {
    type: 'object',
    required: ['name', 'platform', 'inputs', 'outputs'],
    properties: {
      name: { type: 'string' },
      versions: { type: 'array', items: { type: 'string' } },
      platform: { type: 'string' },
      inputs: { type: 'array', items: { $ref: '#/components/schemas/V2TensorMetadata' } },
      outputs: { type: 'array', items: { $ref: '#/components/schemas/V2TensorMetadata' } },
    },
  },
  V2Tensor: {
    type: 'object',
    required: ['name', 'shape', 'datatype'],
    properties: {
      name: { type: 'string' },
      shape: { type: 'array', items: { type: 'integer', minimum: 0 } },
      datatype: { enum: DATATYPES },
      parameters: {
        type: 'object',
        properties: {
          binary_data_size: { type: 'integer', minimum: 0, description: 'the tensor is in the binary part of the body (binary tensor extension)' },
        },
      },
      data: { type: 'array', description: 'row-major, flat or nested; absent when the tensor is binary' },
    },
  },
  V2InferRequest: {
    type: 'object',
    required: ['inputs'],
    properties: {
      id: { type: 'string' },
      parameters: { type: 'object', properties: { binary_data_output: { type: 'boolean' } } },
      inputs: { type: 'array', items: { $ref: '#/components/schemas/V2Tensor' } },
      outputs: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string' }, parameters: { type: 'object', properties: { binary_data: { type: 'boolean' } } } },
        },
      },
    },
  },
  V2InferResponse: {
    type: 'object',
    required: ['model_name', 'outputs'],
    properties: {
      model_name: { type: 'string' },
      model_version: { type: 'string' },
      id: { type: 'string' },
      parameters: { type: 'object' },
      outputs: { type: 'array', items: { $ref: '#/components/schemas/V2Tensor' } },
    },
  },
};

const json = (schema: Schema) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const v2Error = (description: string) => ({ description, content: json(ref('V2Error')) });
const modelParams = (withVersion: boolean) => [
  { name: 'model', in: 'path', required: true, schema: { type: 'string' }, description: 'a model deployment, or a model id of a multiplexed repository' },
  ...(withVersion ? [{ name: 'version', in: 'path', required: true, schema: { type: 'string' } }] : []),
];
const TAG = ['Open Inference Protocol (KServe V2)'];

export function v2Paths(): Record<string, Schema> {
  const paths: Record<string, Schema> = {
    '/v2/health/live': {
      get: {
        tags: TAG,
        summary: 'Server liveness',
        responses: { 200: { description: 'live', content: json({ type: 'object', properties: { live: { type: 'boolean' } } }) } },
      },
    },
    '/v2/health/ready': {
      get: {
        tags: TAG,
        summary: 'Server readiness: every replica runs',
        responses: { 200: { description: 'ready', content: json({ type: 'object', properties: { ready: { type: 'boolean' } } }) }, 503: v2Error('not ready') },
      },
    },
    '/v2': {
      get: {
        tags: TAG,
        summary: 'Server metadata',
        responses: {
          200: {
            description: 'name, version, extensions',
            content: json({
              type: 'object',
              properties: { name: { type: 'string' }, version: { type: 'string' }, extensions: { type: 'array', items: { type: 'string' } } },
            }),
          },
        },
      },
    },
    '/v2/repository/index': {
      post: {
        tags: TAG,
        summary: 'Models this server serves',
        requestBody: { required: false, content: json({ type: 'object', properties: { ready: { type: 'boolean' } } }) },
        responses: {
          200: {
            description: 'the models',
            content: json({
              type: 'array',
              items: {
                type: 'object',
                properties: { name: { type: 'string' }, version: { type: 'string' }, state: { type: 'string' }, reason: { type: 'string' } },
              },
            }),
          },
        },
      },
    },
  };
  for (const withVersion of [false, true]) {
    const base = withVersion ? '/v2/models/{model}/versions/{version}' : '/v2/models/{model}';
    const parameters = modelParams(withVersion);
    paths[base] = {
      get: {
        tags: TAG,
        summary: 'Model metadata',
        parameters,
        responses: { 200: { description: 'metadata', content: json(ref('V2ModelMetadata')) }, 404: v2Error('unknown model or version') },
      },
    };
    paths[`${base}/ready`] = {
      get: {
        tags: TAG,
        summary: 'Model readiness',
        parameters,
        responses: {
          200: { description: 'ready', content: json({ type: 'object', properties: { name: { type: 'string' }, ready: { type: 'boolean' } } }) },
          404: v2Error('unknown model or version'),
          503: v2Error('not ready'),
        },
      },
    };
    paths[`${base}/infer`] = {
      post: {
        tags: TAG,
        summary: 'Run an inference',
        parameters: [
          ...parameters,
          {
            name: 'Inference-Header-Content-Length',
            in: 'header',
            required: false,
            schema: { type: 'integer', minimum: 0 },
            description: 'binary tensor extension: length of the JSON header before the binary tensor data',
          },
        ],
        requestBody: {
          required: true,
          content: {
            ...json(ref('V2InferRequest')),
            'application/octet-stream': {
              schema: {
                type: 'string',
                contentMediaType: 'application/octet-stream',
                description: 'binary tensor extension: the JSON header, then the tensors',
              },
            },
          },
        },
        responses: {
          200: {
            description: 'the outputs',
            content: {
              ...json(ref('V2InferResponse')),
              'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } },
            },
          },
          400: v2Error('a malformed request, or inputs that do not fit the model (name, datatype, shape)'),
          404: v2Error('unknown model or version'),
          408: v2Error('past the request timeout'),
          413: v2Error('body over the limit'),
          500: v2Error('the model failed'),
          503: v2Error('overloaded (with Retry-After) or not ready'),
        },
      },
    };
  }
  return paths;
}
