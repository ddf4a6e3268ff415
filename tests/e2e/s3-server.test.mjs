// The S3-compatible store the tests of normal snapshots use (issue 13): a real SeaweedFS
// (tests/e2e/s3-lib.mjs) on loopback, with a bucket whose CORS rule names the console's
// exact origin. From the console page in Chromium, presigned PUT and ranged GET work and
// show ETag and Content-Range; a page on another origin is refused; a wrong Content-MD5 is
// refused with BadDigest; objects survive a restart of the server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { serve, launch, page, openConsoleAt, SHOTS } from './lib.mjs';
import { startS3, createBucket, presign, s3request, freePorts } from './s3-lib.mjs';

const BUCKET = 'rowsnap-test';
const SIZE = 4096;
/** The test body, the same in Node and in the page. */
const pattern = (n, seed) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) % 256);
const md5 = (b) => crypto.createHash('md5').update(b);

let s3, server, other, browser, origin, otherOrigin;
before(async () => {
  // The console on a fixed origin, known before the bucket's CORS rule is written.
  const [port] = await freePorts(1);
  server = await serve({ port });
  origin = new URL(server.url).origin;
  other = await serve();
  otherOrigin = new URL(other.url).origin;
  s3 = await startS3({ origins: [origin] });
  await createBucket(s3, BUCKET, { corsOrigins: [origin] });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
  await other?.close();
  await s3?.close();
  if (s3) {
    fs.mkdirSync(SHOTS, { recursive: true });
    fs.writeFileSync(path.join(SHOTS, 's3-timings.json'), JSON.stringify(s3.timings, null, 2) + '\n');
  }
});

/** In the page: a presigned PUT (with Content-MD5, so preflighted) and a ranged presigned GET. */
function putAndRangedGet(p, { putUrl, getUrl, contentMd5, seed, range }) {
  return p.evaluate(async ({ putUrl, getUrl, contentMd5, seed, range, size }) => {
    const body = Uint8Array.from({ length: size }, (_, i) => (i * 7 + seed) % 256);
    const out = {};
    if (putUrl) {
      try {
        const r = await fetch(putUrl, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream', 'content-md5': contentMd5 } });
        out.put = { status: r.status, etag: r.headers.get('etag'), text: await r.text() };
      } catch (e) { out.put = { error: String(e) }; }
    }
    try {
      const r = await fetch(getUrl, { headers: { range } });
      out.get = { status: r.status, contentRange: r.headers.get('content-range'), etag: r.headers.get('etag'), bytes: [...new Uint8Array(await r.arrayBuffer())] };
    } catch (e) { out.get = { error: String(e) }; }
    return out;
  }, { putUrl, getUrl, contentMd5, seed, range, size: SIZE });
}

test('from the console\'s origin: presigned PUT and ranged GET, with ETag and Content-Range readable', async () => {
  const context = await browser.newContext();
  const p = await openConsoleAt(server.url, context, '#/snapshots');
  const key = 'snapshots/s-console/blocks/0001';
  const body = pattern(SIZE, 3);
  const r = await putAndRangedGet(p, {
    putUrl: presign(s3, { method: 'PUT', bucket: BUCKET, key }),
    getUrl: presign(s3, { method: 'GET', bucket: BUCKET, key }),
    contentMd5: md5(body).digest('base64'), seed: 3, range: 'bytes=1000-1009',
  });
  const etag = `"${md5(body).digest('hex')}"`;
  assert.deepEqual(r.put, { status: 200, etag, text: '' });
  assert.equal(r.get.status, 206, JSON.stringify(r.get));
  assert.equal(r.get.contentRange, `bytes 1000-1009/${SIZE}`);
  assert.equal(r.get.etag, etag);
  assert.deepEqual(r.get.bytes, [...body.subarray(1000, 1010)]);
  assert.deepEqual(p.errors, []);
  // The server holds what the page sent.
  const back = await s3request(s3, { bucket: BUCKET, key });
  assert.equal(back.status, 200);
  assert.ok(back.body.equals(Buffer.from(body)));
  await context.close();
});

test('from another origin (not in the CORS rule) both requests fail as Failed to fetch, and nothing is written', async () => {
  const context = await browser.newContext();
  const p = await page(context);
  await p.goto(other.url + '#/snapshots');
  const key = 'snapshots/s-other/blocks/0001';
  const body = pattern(SIZE, 5);
  // A readable object for the GET, written from Node.
  const seeded = await s3request(s3, { method: 'PUT', bucket: BUCKET, key: 'snapshots/s-other/seed', body });
  assert.equal(seeded.status, 200);
  const r = await putAndRangedGet(p, {
    putUrl: presign(s3, { method: 'PUT', bucket: BUCKET, key }),
    getUrl: presign(s3, { method: 'GET', bucket: BUCKET, key: 'snapshots/s-other/seed' }),
    contentMd5: md5(body).digest('base64'), seed: 5, range: 'bytes=0-99',
  });
  assert.deepEqual(r, { put: { error: 'TypeError: Failed to fetch' }, get: { error: 'TypeError: Failed to fetch' } });
  // The preflight was refused, so the PUT never reached the store.
  const none = await s3request(s3, { bucket: BUCKET, key });
  assert.equal(none.status, 404);
  assert.match(none.text, /<Code>NoSuchKey<\/Code>/);
  // Chromium says why, on the console.
  assert.ok(p.errors.some((e) => e.includes('blocked by CORS policy')), p.errors.join('\n'));
  await context.close();
});

test('a PUT whose Content-MD5 does not match its body is refused with BadDigest', async () => {
  const key = 'snapshots/s-bad/blocks/0001';
  const body = pattern(SIZE, 7);
  const wrong = md5(pattern(SIZE, 8)).digest('base64');
  const r = await s3request(s3, { method: 'PUT', bucket: BUCKET, key, body, headers: { 'content-md5': wrong } });
  assert.equal(r.status, 400, r.text);
  assert.match(r.text, /<Code>BadDigest<\/Code>/);
  const none = await s3request(s3, { bucket: BUCKET, key });
  assert.equal(none.status, 404, none.text);
  // The right digest is accepted.
  const ok = await s3request(s3, { method: 'PUT', bucket: BUCKET, key, body, headers: { 'content-md5': md5(body).digest('base64') } });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.headers.get('etag'), `"${md5(body).digest('hex')}"`);
});

test('objects and the bucket\'s CORS rule survive a restart of the server', async (t) => {
  const key = 'snapshots/s-restart/blocks/0001';
  const body = pattern(SIZE, 11);
  const put = await s3request(s3, { method: 'PUT', bucket: BUCKET, key, body, headers: { 'content-md5': md5(body).digest('base64') } });
  assert.equal(put.status, 200, put.text);
  await s3.restart();
  const back = await s3request(s3, { bucket: BUCKET, key });
  assert.equal(back.status, 200, back.text);
  assert.ok(back.body.equals(Buffer.from(body)));
  assert.equal(back.headers.get('etag'), put.headers.get('etag'));
  // And from the console's origin, a ranged read still passes CORS.
  const context = await browser.newContext();
  const p = await page(context);
  await p.goto(server.url + '#/snapshots');
  const r = await putAndRangedGet(p, { getUrl: presign(s3, { bucket: BUCKET, key }), seed: 11, range: 'bytes=4000-4095' });
  assert.equal(r.get.status, 206, JSON.stringify(r.get));
  assert.equal(r.get.contentRange, `bytes 4000-4095/${SIZE}`);
  assert.deepEqual(r.get.bytes, [...body.subarray(4000, 4096)]);
  await context.close();
  t.diagnostic(`SeaweedFS timings (ms): ${s3.timings.map((x) => `${x.what} ${x.ms}`).join(', ')}`);
});
