// Images in and out in the real page: a qcow2 made by qemu-img is imported
// through window.oss + window.ecs, boots with the same bytes, and an exported
// image is accepted and found identical by qemu-img. Then the same through the
// console's Import Image / Export Image dialogs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serve, launch, page, shot } from './lib.mjs';

let server, browser, dir;
before(async () => {
  server = await serve();
  browser = await launch();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rowsnap-images-'));
});
after(async () => {
  await browser?.close();
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A 3 MiB + 1000 byte guest with data, holes and an odd end; and its qcow2 by qemu-img. */
function makeImage(name) {
  const len = 3 * 1048576 + 1000;
  const raw = Buffer.alloc(len);
  let x = 12345;
  for (let at = 0; at < len; at += 256 * 1024) {
    for (let i = at; i < Math.min(at + 100 * 1024, len); i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      raw[i] = x >> 16;
    }
  }
  raw.write('the end', len - 7);
  const rawPath = path.join(dir, `${name}.raw`);
  const qcowPath = path.join(dir, `${name}.qcow2`);
  fs.writeFileSync(rawPath, raw);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', '-o', 'cluster_size=4096', rawPath, qcowPath]);
  return { raw, rawPath, qcow: fs.readFileSync(qcowPath) };
}

async function open(p, hash = '') {
  await p.goto(server.url + hash);
  await p.waitForFunction(() => window.ecs !== undefined && window.oss !== undefined);
  await p.evaluate(() => window.ecs.ready);
}

/** Puts bytes (from Node) into a bucket of the page's OSS, as a Blob. */
async function putFile(p, bucket, key, bytes) {
  await p.evaluate(async ([bucket, key, b64]) => {
    const bin = atob(b64);
    const a = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) a[i] = bin.charCodeAt(i);
    await oss.createBucket(bucket);
    await oss.putObject(bucket, key, new Blob([a]));
  }, [bucket, key, Buffer.from(bytes).toString('base64')]);
}

async function getFile(p, bucket, key) {
  const b64 = await p.evaluate(async ([bucket, key]) => {
    const a = await oss.getObject(bucket, key);
    let s = '';
    for (let i = 0; i < a.length; i += 0x8000) s += String.fromCharCode(...a.subarray(i, i + 0x8000));
    return btoa(s);
  }, [bucket, key]);
  return Buffer.from(b64, 'base64');
}

async function waitTask(p, taskId) {
  return p.evaluate(async (id) => {
    for (let i = 0; i < 600; i++) {
      const t = (await ecs.request('DescribeTasks', { TaskIds: id })).TaskSet.Task[0];
      if (t.TaskStatus !== 'Processing') return t;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the task did not end');
  }, taskId);
}

/** qemu-img check (no errors, no leaks) and compare against the raw content. */
function qemuAccepts(qcow, rawPath, virtualSize) {
  const out = path.join(dir, `export-${Date.now()}.qcow2`);
  fs.writeFileSync(out, qcow);
  const report = JSON.parse(execFileSync('qemu-img', ['check', '--output=json', out]).toString());
  assert.equal(report['check-errors'], 0);
  assert.ok(!report.leaks);
  const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', out]).toString());
  assert.equal(info['virtual-size'], virtualSize);
  const full = path.join(dir, `full-${Date.now()}.raw`);
  fs.copyFileSync(rawPath, full);
  fs.truncateSync(full, virtualSize);
  execFileSync('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', full, out]);
}

test('window.ecs: import a qemu-img qcow2, boot it, read the bytes back, export it, qemu-img accepts it', async () => {
  const { raw, rawPath, qcow } = makeImage('api');
  const context = await browser.newContext();
  const p = await page(context);
  await open(p);
  await putFile(p, 'images', 'api.qcow2', qcow);
  const imp = await p.evaluate(() => ecs.request('ImportImage', {
    ImageName: 'imported-api', OSType: 'linux', Platform: 'Ubuntu',
    'DiskDeviceMapping.1.OSSBucket': 'images', 'DiskDeviceMapping.1.OSSObject': 'api.qcow2', 'DiskDeviceMapping.1.Format': 'QCOW2',
  }));
  assert.match(imp.ImageId, /^m-/);
  assert.match(imp.TaskId, /^t-/);
  const t = await waitTask(p, imp.TaskId);
  assert.equal(t.TaskStatus, 'Finished', JSON.stringify(t));
  assert.equal(t.TaskProcess, '100%');
  const booted = await p.evaluate(async ([image, len]) => {
    const img = (await ecs.request('DescribeImages', { ImageId: image })).Images.Image[0];
    const run = await ecs.request('RunInstances', { ImageId: image, InstanceType: 'ecs.g7.large' });
    const id = run.InstanceIdSets.InstanceIdSet[0];
    for (let i = 0; i < 50; i++) {
      if ((await ecs.request('DescribeInstances', { InstanceIds: [id] })).Instances.Instance[0].Status === 'Running') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const disk = (await ecs.request('DescribeDisks', { InstanceId: id, DiskType: 'system' })).Disks.Disk[0];
    const bytes = await ecs.readDisk(disk.DiskId, 0, len + 24);
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return { status: img.Status, size: img.Size, b64: btoa(s) };
  }, [imp.ImageId, raw.length]);
  assert.equal(booted.status, 'Available');
  assert.equal(booted.size, 1);
  const read = Buffer.from(booted.b64, 'base64');
  assert.ok(read.subarray(0, raw.length).equals(raw), 'the booted disk holds the image\'s bytes');
  assert.ok(read.subarray(raw.length).every((b) => b === 0));
  // Export, read the object back, and let qemu-img judge it.
  const exp = await p.evaluate(async (image) => {
    await oss.createBucket('exports');
    return ecs.request('ExportImage', { ImageId: image, OSSBucket: 'exports', OSSPrefix: 'out/', ImageFormat: 'qcow2' });
  }, imp.ImageId);
  assert.equal(exp.OSSObject, `out/${imp.ImageId}_system.qcow2`);
  assert.equal((await waitTask(p, exp.TaskId)).TaskStatus, 'Finished');
  const listed = await p.evaluate(() => oss.listObjects('exports', 'out/'));
  assert.deepEqual(listed.map((o) => o.Key), [exp.OSSObject]);
  qemuAccepts(await getFile(p, 'exports', exp.OSSObject), rawPath, 1 << 30);
  // A raw export: the full size, stored sparse, read in ranges.
  const rawExp = await p.evaluate((image) => ecs.request('ExportImage', { ImageId: image, OSSBucket: 'exports', ImageFormat: 'raw' }), imp.ImageId);
  assert.equal((await waitTask(p, rawExp.TaskId)).TaskStatus, 'Finished');
  const r = await p.evaluate(async (key) => {
    const o = (await oss.listObjects('exports', key))[0];
    const tail = await oss.getObject('exports', key, { offset: 3 * 1048576 + 1000 - 7, length: 7 });
    return { size: o.Size, tail: new TextDecoder().decode(tail) };
  }, rawExp.OSSObject);
  assert.deepEqual(r, { size: 1 << 30, tail: 'the end' });
  // A bad file fails its task with the reason; the image is CreateFailed.
  const bad = await p.evaluate(async () => {
    await oss.putObject('images', 'bad.qcow2', new Uint8Array([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 9]));
    return ecs.request('ImportImage', { 'DiskDeviceMapping.1.OSSBucket': 'images', 'DiskDeviceMapping.1.OSSObject': 'bad.qcow2' });
  });
  const bt = await waitTask(p, bad.TaskId);
  assert.equal(bt.TaskStatus, 'Failed');
  assert.equal(bt.ErrorCode, 'InvalidImage.Malformed');
  const err = await p.evaluate(() => ecs.request('ExportImage', { ImageId: 'm-x', OSSBucket: 'nope' }).then(() => null, (e) => [e.Code, e.HttpStatus]));
  assert.deepEqual(err, ['InvalidImageId.NotFound', 404]);
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('console: Import Image and Export Image dialogs with their task progress', async () => {
  const { raw, rawPath, qcow } = makeImage('console');
  const context = await browser.newContext();
  const p = await page(context);
  await p.setViewportSize({ width: 1440, height: 900 });
  await open(p, '#/images');
  await putFile(p, 'uploads', 'console.qcow2', qcow);
  await p.evaluate(() => oss.createBucket('zexports'));
  await p.getByTestId('db-status').filter({ hasText: 'Database ready' }).waitFor({ timeout: 20000 });
  await p.getByRole('button', { name: 'Import Image' }).click();
  const dlg = p.getByRole('dialog', { name: 'Import Image' });
  await dlg.getByLabel('Image Name').fill('from-console');
  await dlg.getByLabel('OSS Bucket').selectOption('uploads');
  await dlg.getByLabel('OSS Object').locator('option', { hasText: 'console.qcow2' }).waitFor({ state: 'attached' });
  await dlg.getByLabel('OSS Object').selectOption('console.qcow2');
  assert.equal(await dlg.getByLabel('Image Format').inputValue(), 'QCOW2', 'the format follows the object name');
  await shot(p, 'i01-import-image-dialog');
  await dlg.getByRole('button', { name: 'OK' }).click();
  await dlg.waitFor({ state: 'detached' });
  const row = p.getByRole('row').filter({ hasText: 'from-console' });
  await row.getByText('Available').waitFor({ timeout: 20000 });
  const tasks = p.getByRole('region', { name: 'Tasks' });
  await tasks.getByRole('row').filter({ hasText: 'ImportImage' }).getByText('Finished').waitFor();
  await shot(p, 'i02-imported');
  // Export it to the other bucket as qcow2.
  await row.getByRole('button', { name: 'Export Image' }).click();
  const ex = p.getByRole('dialog', { name: 'Export Image' });
  await ex.getByLabel('OSS Bucket').selectOption('zexports');
  await ex.getByLabel('OSS Prefix').fill('console/');
  await ex.getByLabel('Image Format').selectOption('qcow2');
  await shot(p, 'i03-export-image-dialog');
  await ex.getByRole('button', { name: 'OK' }).click();
  await ex.waitFor({ state: 'detached' });
  await tasks.getByRole('row').filter({ hasText: 'ExportImage' }).getByText('Finished').waitFor({ timeout: 20000 });
  await shot(p, 'i04-exported');
  const key = (await p.evaluate(() => oss.listObjects('zexports', 'console/')))[0].Key;
  assert.match(key, /^console\/m-[a-z0-9]{20}_system\.qcow2$/);
  qemuAccepts(await getFile(p, 'zexports', key), rawPath, 1 << 30);
  assert.ok(raw.length > 0);
  // The filters: custom images only, then a search that matches nothing.
  await p.getByLabel('Image Type').selectOption('self');
  assert.equal(await p.getByRole('row').filter({ hasText: 'Public Image' }).count(), 0);
  await row.waitFor();
  // The imported one of the public images (4, and the Linux image once the guest build is installed) + 1 custom.
  await p.getByText(/^1 of [56] images$/).waitFor();
  await p.getByLabel('Search images').fill('no-such-image');
  await p.getByText('No images match.').waitFor();
  assert.deepEqual(p.errors, []);
  await context.close();
});
