// GET /-/openapi.json and /-/docs: the document validates against the OpenAPI 3.1 schema and
// describes each route's body from its zod requestSchema; the docs page works offline.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { serve } from 'threadserve';
import type { ServeInstance } from 'threadserve';
import { chainApp } from '../fixtures/deployments.ts';
import { upload } from '../fixtures/upload.ts';

describe('OpenAPI', () => {
  let s: ServeInstance;
  let doc: any;
  before(async () => {
    s = await serve.run({ chain: chainApp, upload }, { listen: false, logLevel: 'silent' });
    const r = await s.http.inject({ url: '/-/openapi.json' });
    assert.equal(r.statusCode, 200);
    doc = r.json();
  });
  after(() => s.close());

  it('is a valid OpenAPI 3.1 document', async () => {
    assert.equal(doc.openapi, '3.1.0');
    const result = await new Validator().validate(doc);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 1));
  });

  it("describes an application route's body with its zod requestSchema, content types and error answers", () => {
    const op = doc.paths['/chain'].post;
    assert.deepEqual(Object.keys(op.requestBody.content), ['application/json', 'application/msgpack']);
    assert.deepEqual(op.requestBody.content['application/json'].schema, { $ref: '#/components/schemas/ChainRequest' });
    const body = doc.components.schemas.ChainRequest;
    assert.equal(body.type, 'object');
    assert.deepEqual(body.required, ['values']);
    assert.deepEqual(body.properties.values, { type: 'array', items: { type: 'number' }, minItems: 1 });
    assert.equal(body.properties.delayMs.type, 'integer');
    assert.deepEqual(op.responses['400'].content['application/json'].schema.properties.error.properties.code, { enum: ['MALFORMED_BODY', 'INVALID_REQUEST'] });
    assert.match(op.responses['503'].description, /BACKPRESSURE/);
    assert.ok(op.responses['503'].headers['Retry-After']);
    assert.ok(doc.paths['/chain/{path}'].post, 'sub-paths too');
  });

  it('lists the extra body types a route takes', () => {
    const content = doc.paths['/upload'].post.requestBody.content;
    assert.deepEqual(Object.keys(content).sort(), ['application/json', 'application/msgpack', 'image/png', 'multipart/form-data']);
    assert.equal(content['image/png'].schema.contentMediaType, 'image/png');
  });

  it('describes the Open Inference Protocol and operational routes', () => {
    for (const p of [
      '/v2/health/live',
      '/v2/health/ready',
      '/v2',
      '/v2/models/{model}',
      '/v2/models/{model}/versions/{version}/infer',
      '/v2/repository/index',
      '/-/healthz',
      '/metrics',
    ]) {
      assert.ok(doc.paths[p], `${p} described`);
    }
    const infer = doc.paths['/v2/models/{model}/infer'].post;
    assert.deepEqual(infer.requestBody.content['application/json'].schema, { $ref: '#/components/schemas/V2InferRequest' });
    assert.deepEqual(infer.responses['404'].content['application/json'].schema, { $ref: '#/components/schemas/V2Error' });
  });

  it('serves the docs page and its assets from the package', async () => {
    const page = await s.http.inject({ url: '/-/docs/' });
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-type'] as string, /text\/html/);
    const scripts = [...page.body.matchAll(/src="\.\/(static\/[^"]+)"/g)].map((m) => m[1]);
    assert.ok(scripts.length > 0, page.body.slice(0, 500));
    for (const src of scripts) {
      const asset = await s.http.inject({ url: `/-/docs/${src}` });
      assert.equal(asset.statusCode, 200, src);
      assert.ok(!/https?:\/\//.test(String(src)), 'no CDN');
    }
  });
});
