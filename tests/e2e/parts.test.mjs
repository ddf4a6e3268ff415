// The release bundle in parts: the console's main module loads first, each
// page's part the first time the page is shown (scripts/post-build.sh), and a
// part that cannot be fetched leaves the console working, with a Retry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { serve, launch, page, shot, nav, DIST } from './lib.mjs';
import { freePorts } from './s3-lib.mjs';

let server, browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

/** The wasm files the page asked for, by the part they hold (`main`, `instances`, `chunk_12`, ...). */
function wasmRequests(p) {
  const asked = [];
  p.on('request', (r) => {
    const m = new URL(r.url()).pathname.match(/^\/rowsnap-[0-9a-f]+(?:_bg|-(\w+))\.wasm$/);
    if (m) asked.push(m[1] ? m[1].replace(/^split_/, '') : 'main');
  });
  return asked;
}

test('the bundle is split: the main module, a part per page (a detail page with its list) and the bucket client', () => {
  const files = fs.readdirSync(DIST);
  assert.equal(files.filter((f) => f.endsWith('_bg.wasm')).length, 1);
  const pages = files.map((f) => f.match(/-split_(\w+)\.wasm$/)?.[1]).filter(Boolean).sort();
  assert.deepEqual(pages, ['disks', 'images', 'instance', 'instances', 'oss', 'policies', 's3', 'settings', 'snapshots']);
});

test('a page part is fetched the first time its page is shown, and only then', async () => {
  const context = await browser.newContext();
  const p = await page(context);
  const asked = wasmRequests(p);
  await p.goto(server.url);
  await p.getByRole('heading', { name: 'Instances', level: 1 }).waitFor({ timeout: 20000 });
  assert.ok(asked.includes('main'), `main module fetched: ${asked}`);
  assert.ok(asked.includes('instances'), `the home page's part fetched: ${asked}`);
  for (const other of ['settings', 'oss', 'images', 'snapshots', 's3']) {
    assert.ok(!asked.includes(other), `${other} is not fetched before it is shown: ${asked}`);
  }
  await nav(p, 'Settings');
  await p.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
  assert.ok(asked.includes('settings'), `settings fetched when shown: ${asked}`);
  // A page's part is fetched once: back to Instances and Settings again,
  // and between two loaded pages no "Loading…" shows, not even for a frame.
  const before = asked.length;
  await p.evaluate(() => {
    window.sawLoading = false;
    new MutationObserver(() => { if (document.querySelector('[data-testid="part-loading"]')) window.sawLoading = true; })
      .observe(document.body, { subtree: true, childList: true, attributes: true });
  });
  await nav(p, 'Instances');
  await p.getByRole('heading', { name: 'Instances', level: 1 }).waitFor();
  await nav(p, 'Settings');
  await p.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
  assert.equal(asked.length, before, `nothing fetched twice: ${asked.slice(before)}`);
  assert.equal(await p.evaluate(() => window.sawLoading), false, 'a loaded page shows at once');
  // The parts' code works: a page that runs ECS calls (the Settings page's clock) answers.
  await p.getByText(/The console's clock is 0\.0 days ahead/).waitFor();
  // The bucket client is a part of its own, which a console without a bucket never fetches.
  assert.ok(!asked.includes('s3'), `the bucket client is not fetched: ${asked}`);
  await shot(p, 'parts-settings-loaded');
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('a part that cannot be fetched says so, the console keeps working, and Retry loads it', async () => {
  const context = await browser.newContext();
  const p = await page(context);
  await p.goto(server.url);
  await p.getByRole('heading', { name: 'Instances', level: 1 }).waitFor({ timeout: 20000 });
  const blocked = /-split_oss\.wasm$/;
  await p.route(blocked, (r) => r.abort('internetdisconnected'));
  await nav(p, 'OSS');
  await p.getByRole('alert').filter({ hasText: 'This page could not be loaded' }).waitFor();
  await shot(p, 'parts-oss-unreachable');
  // The rest of the console (and window.ecs) still answers.
  const regions = await p.evaluate(() => window.ecs.request('DescribeRegions', {}));
  assert.ok(regions.Regions.Region.length > 0);
  await nav(p, 'Disks');
  await p.getByRole('heading', { name: 'Disks', level: 1 }).waitFor();
  await nav(p, 'OSS');
  await p.getByRole('alert').filter({ hasText: 'This page could not be loaded' }).waitFor();
  await p.unroute(blocked);
  await p.getByRole('button', { name: 'Retry' }).click();
  await p.getByRole('heading', { name: 'OSS', level: 1 }).waitFor();
  await shot(p, 'parts-oss-after-retry');
  // The only errors are the two failed fetches, as the browser and the parts' loader log them.
  assert.ok(p.errors.length > 0 && p.errors.every((e) => /Failed to fetch|ERR_INTERNET_DISCONNECTED/.test(e)), p.errors.join('\n'));
  await context.close();
});

test('the parts load from a server that sends .wasm without the application/wasm type', async () => {
  const context = await browser.newContext();
  const p = await page(context);
  let relabelled = 0;
  await p.route(/-(split|chunk)_\w+\.wasm$/, async (r) => {
    const response = await r.fetch();
    relabelled++;
    await r.fulfill({ response, headers: { ...response.headers(), 'content-type': 'application/octet-stream' } });
  });
  await p.goto(server.url);
  await p.getByRole('heading', { name: 'Instances', level: 1 }).waitFor({ timeout: 20000 });
  await nav(p, 'Settings');
  await p.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
  assert.ok(relabelled > 0);
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('the bucket client, when its part cannot be fetched, fails the call with ServiceUnavailable.ConsolePart; the next call fetches it', async () => {
  const context = await browser.newContext();
  const p = await page(context);
  await p.goto(server.url);
  await p.evaluate(() => window.ecs.ready);
  const [port] = await freePorts(1); // nothing listens there
  const cfg = { Endpoint: `http://127.0.0.1:${port}`, Region: 'us-east-1', Bucket: 'nothing', PathStyle: true, AccessKeyId: 'id', AccessKeySecret: 'secret' };
  const probe = () => p.evaluate((cfg) => window.ecs.testObjectStore(cfg).then(() => 'connected', (e) => e.Code), cfg);
  const blocked = /-split_s3\.wasm$/;
  await p.route(blocked, (r) => r.abort('internetdisconnected'));
  assert.equal(await probe(), 'ServiceUnavailable.ConsolePart');
  await p.unroute(blocked);
  // Fetched now: the client itself answers (nothing listens on that port).
  assert.equal(await probe(), 'InvalidObjectStorage.Unreachable');
  await context.close();
});
