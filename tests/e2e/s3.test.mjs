// window.ecs.testObjectStore against a real SeaweedFS (issue 13's first step): from the
// console page in Chromium, rowsnap's own SigV4 (WebCrypto) PUTs with Content-MD5, reads a
// range back (206, exposed Content-Range) and deletes; a wrong secret, an unknown key, a
// missing bucket, another origin (CORS refused, told apart from an unreachable server) and a
// stopped server each give their code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve, launch, page, shot } from './lib.mjs';
import { startS3, createBucket, s3request, freePorts } from './s3-lib.mjs';

const BUCKET = 'rowsnap-conn';
let s3, server, other, browser, origin;
before(async () => {
  const [port] = await freePorts(1);
  server = await serve({ port });
  origin = new URL(server.url).origin;
  other = await serve();
  s3 = await startS3({ origins: [origin] });
  await createBucket(s3, BUCKET, { corsOrigins: [origin] });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
  await other?.close();
  await s3?.close();
});

async function open(url) {
  const context = await browser.newContext();
  const p = await page(context);
  await p.goto(url);
  await p.waitForFunction(() => window.ecs !== undefined);
  await p.evaluate(() => window.ecs.ready);
  return p;
}

const config = (over = {}) => ({
  Endpoint: s3.endpoint, Region: s3.region, Bucket: BUCKET, PathStyle: true,
  AccessKeyId: s3.accessKeyId, AccessKeySecret: s3.secretAccessKey, ...over,
});

/** testObjectStore in the page: the reply, or the error's code, status and message. */
const probe = (p, cfg) => p.evaluate((cfg) => ecs.testObjectStore(cfg).then(
  (r) => ({ ok: r }), (e) => ({ code: e.Code, status: e.HttpStatus, message: e.Message })), cfg);

test('Test connection passes with the right settings and leaves nothing in the bucket', async () => {
  const p = await open(server.url);
  const r = await probe(p, config());
  assert.equal(r.ok?.Ok, true, JSON.stringify(r));
  const list = await s3request(s3, { method: 'GET', bucket: BUCKET, query: { 'list-type': '2' } });
  assert.equal(list.status, 200);
  assert.doesNotMatch(list.text, /rowsnap-connection-test/, 'the probe object was deleted');
  await shot(p, 's3-test-connection');
});

test('wrong secret, unknown key, missing bucket and bad settings give their codes', async () => {
  const p = await open(server.url);
  const wrong = await probe(p, config({ AccessKeySecret: 'not-the-secret' }));
  assert.deepEqual([wrong.code, wrong.status], ['SignatureDoesNotMatch', 403], JSON.stringify(wrong));
  const unknown = await probe(p, config({ AccessKeyId: 'nobody' }));
  assert.deepEqual([unknown.code, unknown.status], ['InvalidAccessKeyId', 403], JSON.stringify(unknown));
  const missing = await probe(p, config({ Bucket: 'no-such-bucket-here' }));
  assert.deepEqual([missing.code, missing.status], ['NoSuchBucket', 404], JSON.stringify(missing));
  const bad = await probe(p, config({ Endpoint: 'ftp://x' }));
  assert.equal(bad.code, 'InvalidParameter');
});

test('another origin is refused by CORS (told apart from a stopped server, which is unreachable)', async () => {
  const p = await open(other.url);
  const r = await probe(p, config());
  assert.equal(r.code, 'InvalidObjectStorage.CorsRefused', JSON.stringify(r));
  assert.match(r.message, new RegExp(`<AllowedOrigin>${new URL(other.url).origin}</AllowedOrigin>`), 'the rule to add names this origin');
  assert.match(r.message, /<ExposeHeader>ETag<\/ExposeHeader>/);
  await s3.stop();
  try {
    const q = await open(server.url);
    const down = await probe(q, config());
    assert.equal(down.code, 'InvalidObjectStorage.Unreachable', JSON.stringify(down));
  } finally {
    await s3.restart();
  }
});
