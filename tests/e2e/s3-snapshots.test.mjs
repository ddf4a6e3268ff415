// Normal snapshots kept in a real S3-compatible bucket (SeaweedFS): uploaded from the page,
// released locally and read back (readSnapshot, a rollback, a new disk); an upload cut off by
// stopping the server pauses, says why, and resumes by itself after a restart with what a clean
// upload stores; a cancelled upload leaves the bucket as it was; a second browser profile
// recovers the snapshots from the bucket and reads the exact bytes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serve, launch, shot, openConsoleAt, nav, PAGE_HELPERS } from './lib.mjs';
import { startS3, createBucket, s3request, freePorts } from './s3-lib.mjs';

const BUCKET = 'rowsnap-snaps';
let s3, server, browser;
before(async () => {
  const [port] = await freePorts(1);
  server = await serve({ port });
  s3 = await startS3({ origins: [new URL(server.url).origin] });
  await createBucket(s3, BUCKET, { corsOrigins: [new URL(server.url).origin] });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
  await s3?.close();
});

const config = () => ({
  Endpoint: s3.endpoint, Region: s3.region, Bucket: BUCKET, PathStyle: true,
  AccessKeyId: s3.accessKeyId, AccessKeySecret: s3.secretAccessKey,
});

/** The bucket's objects under `prefix`: sorted keys, and their sizes by key. */
async function listing(prefix = 'rowsnap/') {
  const r = await s3request(s3, { method: 'GET', bucket: BUCKET, query: { 'list-type': '2', prefix } });
  assert.equal(r.status, 200, r.text);
  assert.doesNotMatch(r.text, /<IsTruncated>true/);
  const sizes = Object.fromEntries([...r.text.matchAll(/<Key>([^<]+)<\/Key>.*?<Size>(\d+)<\/Size>/gs)].map((m) => [m[1], Number(m[2])]));
  return { keys: Object.keys(sizes).sort(), sizes };
}
const keys = async (prefix) => (await listing(prefix)).keys;

// In the page: random bytes written to a disk, and a digest of bytes read back.
const HELPERS = `
  window.s3t = {
    bytes(n, seed) { const b = new Uint8Array(n); let x = seed >>> 0; for (let i = 0; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; b[i] = x >>> 24; } return b; },
    async digest(b) { return [...new Uint8Array(await crypto.subtle.digest('SHA-256', b))].map((x) => x.toString(16).padStart(2, '0')).join(''); },
    async snap(id) { return (await ecs.request('DescribeSnapshots', { SnapshotIds: [id] })).Snapshots.Snapshot[0]; },
    async until(f, what, ms = 60000) {
      const end = Date.now() + ms;
      for (;;) { const v = await f(); if (v) return v; if (Date.now() > end) throw new Error('never: ' + what); await t.sleep(200); }
    },
  };
`;

async function consolePage() {
  const context = await browser.newContext();
  const p = await openConsoleAt(server.url, context, '#/snapshots');
  await p.evaluate(HELPERS);
  return { p, context };
}

test('a normal snapshot goes to the bucket, is released, and reads back from it (readSnapshot, rollback, a new disk)', async () => {
  const { p, context } = await consolePage();
  const set = await p.evaluate((c) => ecs.setObjectStore(c), config());
  assert.equal(set.Connected, true, JSON.stringify(set));
  const r = await p.evaluate(async () => {
    const { id, disks } = await t.run({ ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd', ZoneId: 'cn-hangzhou-h', DataDisk: [{ Size: 20, Category: 'cloud_essd' }] });
    const disk = disks[1].DiskId;
    const data = s3t.bytes(3 << 20, 1);
    await ecs.writeDisk(disk, 0, data);
    const sid = (await ecs.request('CreateSnapshot', { DiskId: disk, InstantAccessRetentionDays: 1, SnapshotName: 'to-s3' })).SnapshotId;
    const done = await s3t.until(async () => { const s = await s3t.snap(sid); return s.Status === 'accomplished' && s; }, 'uploaded');
    return { id, disk, sid, want: await s3t.digest(data), done };
  });
  assert.equal(r.done.StorageLocation, 's3');
  const objs = await keys();
  assert.equal(objs.filter((k) => k.includes('/packs/')).length, 3, objs.join('\n'));
  assert.equal(objs.filter((k) => k.endsWith(`/manifests/${r.sid}`)).length, 1, 'the manifest names the snapshot');
  const back = await p.evaluate(async ({ id, disk, sid }) => {
    await ecs.advanceClock(2 * 86400);
    const s = await s3t.snap(sid);
    const read = await s3t.digest(await ecs.readSnapshot(sid, 0, 3 << 20));
    await ecs.writeDisk(disk, 0, new Uint8Array(1 << 20).fill(9));
    await ecs.request('StopInstance', { InstanceId: id });
    await t.until('DescribeInstances', { InstanceIds: [id] }, (r) => r.Instances.Instance[0].Status, 'Stopped');
    await ecs.request('ResetDisk', { DiskId: disk, SnapshotId: sid });
    await ecs.request('StartInstance', { InstanceId: id });
    await t.until('DescribeInstances', { InstanceIds: [id] }, (r) => r.Instances.Instance[0].Status, 'Running');
    const rolled = await s3t.digest(await ecs.readDisk(disk, 0, 3 << 20));
    const nd = await t.disk({ ZoneId: 'cn-hangzhou-h', SnapshotId: sid, DiskCategory: 'cloud_essd' });
    await ecs.request('AttachDisk', { DiskId: nd, InstanceId: id });
    await t.until('DescribeDisks', { DiskIds: [nd] }, (r) => r.Disks.Disk[0].Status, 'In_use');
    const fresh = await s3t.digest(await ecs.readDisk(nd, 0, 3 << 20));
    return { released: s.LocalCopyReleased, read, rolled, fresh };
  }, r);
  assert.deepEqual(back, { released: true, read: r.want, rolled: r.want, fresh: r.want });
  await nav(p, 'Snapshots');
  await p.getByRole('tab', { name: 'Disk Snapshots' }).click();
  await p.getByText('to-s3').first().waitFor();
  await shot(p, 's3-snapshot-in-bucket');
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('an upload cut off by a stopped server pauses, says why, resumes after a restart, and stores what a clean upload does', async () => {
  const { p, context } = await consolePage();
  await p.evaluate((c) => ecs.setObjectStore(c), config());
  const before = await keys();
  const r = await p.evaluate(async () => {
    const { disks } = await t.run({ ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd', DataDisk: [{ Size: 20, Category: 'cloud_essd' }] });
    const disk = disks[1].DiskId;
    const data = s3t.bytes(8 << 20, 2);
    await ecs.writeDisk(disk, 0, data);
    await ecs.setUploadRate(2 << 20);
    const sid = (await ecs.request('CreateSnapshot', { DiskId: disk })).SnapshotId;
    await s3t.until(async () => parseInt((await s3t.snap(sid)).Progress) >= 20, 'some uploaded');
    return { sid, want: await s3t.digest(data) };
  });
  await s3.stop();
  const paused = await p.evaluate(({ sid }) => s3t.until(async () => { const s = await s3t.snap(sid); return s.UploadPaused && s; }, 'paused'), r);
  assert.equal(paused.Status, 'progressing');
  assert.match(paused.UploadPaused, /InvalidObjectStorage.Unreachable/, paused.UploadPaused);
  await s3.restart();
  const done = await p.evaluate(async ({ sid }) => {
    await ecs.setUploadRate(null);
    return s3t.until(async () => { const s = await s3t.snap(sid); return s.Status === 'accomplished' && s; }, 'resumed and done');
  }, r);
  assert.equal(done.UploadPaused, undefined);
  const after = await listing();
  const added = after.keys.filter((k) => !before.includes(k));
  // What a clean upload of 8 MiB of distinct blocks stores: packs holding exactly those
  // 256 blocks (no block twice, nothing left over from the cut), one page, one manifest.
  const packs = added.filter((k) => k.includes('/packs/'));
  assert.equal(packs.reduce((n, k) => n + after.sizes[k], 0), 8 << 20, added.join('\n'));
  assert.equal(added.filter((k) => k.includes('/pages/')).length, 1);
  assert.equal(added.filter((k) => k.includes('/manifests/')).length, 1);
  assert.equal(added.length, packs.length + 2, added.join('\n'));
  const read = await p.evaluate(async ({ sid }) => { await ecs.advanceClock(2 * 86400); return s3t.digest(await ecs.readSnapshot(sid, 0, 8 << 20)); }, r);
  assert.equal(read, r.want);
  await context.close();
});

test('a cancelled upload (the snapshot deleted while uploading) leaves the bucket as it was', async () => {
  const { p, context } = await consolePage();
  await p.evaluate((c) => ecs.setObjectStore(c), config());
  const before = await keys();
  await p.evaluate(async () => {
    const { disks } = await t.run({ ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd', DataDisk: [{ Size: 20, Category: 'cloud_essd' }] });
    await ecs.writeDisk(disks[1].DiskId, 0, s3t.bytes(6 << 20, 3));
    await ecs.setUploadRate(1 << 20);
    const sid = (await ecs.request('CreateSnapshot', { DiskId: disks[1].DiskId })).SnapshotId;
    await s3t.until(async () => parseInt((await s3t.snap(sid)).Progress) >= 30, 'some uploaded');
    await ecs.request('DeleteSnapshot', { SnapshotId: sid });
    await ecs.setUploadRate(null);
  });
  const end = Date.now() + 30000;
  let now = await keys();
  while (JSON.stringify(now) !== JSON.stringify(before) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 300));
    now = await keys();
  }
  assert.deepEqual(now, before);
  await context.close();
});

test('a second browser profile recovers the snapshots from the bucket and reads the exact bytes', async () => {
  const a = await consolePage();
  await a.p.evaluate((c) => ecs.setObjectStore(c), config());
  const made = await a.p.evaluate(async () => {
    const { disks } = await t.run({ ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd', DataDisk: [{ Size: 20, Category: 'cloud_essd' }] });
    const data = s3t.bytes(2 << 20, 4);
    await ecs.writeDisk(disks[1].DiskId, 0, data);
    const sid = (await ecs.request('CreateSnapshot', { DiskId: disks[1].DiskId, SnapshotName: 'keep-me' })).SnapshotId;
    await s3t.until(async () => (await s3t.snap(sid)).Status === 'accomplished', 'uploaded');
    return { sid, want: await s3t.digest(data) };
  });
  await a.context.close();
  const objects = await keys();
  // A fresh profile: nothing local; the bucket is the backup.
  const b = await consolePage();
  const got = await b.p.evaluate(async ({ sid, cfg }) => {
    const none = (await ecs.request('DescribeSnapshots', { SnapshotIds: [sid] })).Snapshots.Snapshot.length;
    await ecs.setObjectStore(cfg);
    const rec = await ecs.recoverSnapshots();
    const again = await ecs.recoverSnapshots();
    const s = await s3t.snap(sid);
    const read = await s3t.digest(await ecs.readSnapshot(sid, 0, 2 << 20));
    const { id } = await t.run({ ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd', ZoneId: 'cn-hangzhou-h' });
    const nd = await t.disk({ ZoneId: 'cn-hangzhou-h', SnapshotId: sid, DiskCategory: 'cloud_essd' });
    await ecs.request('AttachDisk', { DiskId: nd, InstanceId: id });
    await t.until('DescribeDisks', { DiskIds: [nd] }, (r) => r.Disks.Disk[0].Status, 'In_use');
    const disk = await s3t.digest(await ecs.readDisk(nd, 0, 2 << 20));
    await ecs.request('DeleteSnapshot', { SnapshotId: sid, Force: true });
    // This profile's own snapshot, uploaded and deleted: its sweep runs (and must not touch the other's).
    const own = (await ecs.request('CreateSnapshot', { DiskId: nd })).SnapshotId;
    await s3t.until(async () => (await s3t.snap(own)).Status === 'accomplished', 'own upload');
    await ecs.request('DeleteSnapshot', { SnapshotId: own });
    return { none, rec: rec.SnapshotIds, again: again.Recovered, name: s.SnapshotName, readOnly: s.ReadOnlyInObjectStorage, read, disk,
      prefix: (await ecs.describeObjectStore()).Prefix };
  }, { sid: made.sid, cfg: config() });
  assert.equal(got.none, 0);
  assert.ok(got.rec.includes(made.sid), JSON.stringify(got));
  assert.deepEqual([got.again, got.name, got.readOnly, got.read, got.disk], [0, 'keep-me', true, made.want, made.want]);
  // Wait until the second profile's sweep has deleted its own snapshot's objects...
  const end = Date.now() + 30000;
  while ((await keys(got.prefix)).length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(await keys(got.prefix), [], 'the second profile swept its own objects');
  // ...and the first profile's objects are all still there.
  assert.deepEqual((await keys()).filter((k) => !k.startsWith(got.prefix)), objects, 'deleting it in the other profile leaves its objects');
  await b.context.close();
});

test('Settings > Object Storage: Test Connection (a wrong secret toasted with its code), Connect, and the snapshot page says where its data is', async () => {
  const context = await browser.newContext();
  const p = await openConsoleAt(server.url, context, '#/settings');
  await p.evaluate(HELPERS);
  const status = p.getByTestId('object-storage-status');
  await status.filter({ hasText: 'embedded object storage' }).waitFor();
  await p.getByLabel('Endpoint URL').fill(s3.endpoint);
  await p.getByLabel('Bucket Name').fill(BUCKET);
  await p.getByLabel('Access Key ID').fill(s3.accessKeyId);
  await p.getByLabel('Access Key Secret').fill('not-the-secret');
  await p.getByRole('button', { name: 'Test Connection' }).click();
  await p.locator('.toast.err').filter({ hasText: 'SignatureDoesNotMatch' }).waitFor({ timeout: 20000 });
  await p.getByLabel('Access Key Secret').fill(s3.secretAccessKey);
  await p.getByRole('button', { name: 'Test Connection' }).click();
  await p.locator('.toast.ok').filter({ hasText: 'The connection works' }).waitFor({ timeout: 20000 });
  await p.getByRole('button', { name: 'Connect', exact: true }).click();
  await status.filter({ hasText: `uploaded to the bucket ${BUCKET}` }).waitFor({ timeout: 20000 });
  assert.match(await status.textContent(), /kept only until this tab closes/);
  await shot(p, 's3-settings-connected');
  const sid = await p.evaluate(async () => {
    const { disks } = await t.run({ ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd', DataDisk: [{ Size: 20, Category: 'cloud_essd' }] });
    await ecs.writeDisk(disks[1].DiskId, 0, s3t.bytes(1 << 20, 5));
    const sid = (await ecs.request('CreateSnapshot', { DiskId: disks[1].DiskId })).SnapshotId;
    await s3t.until(async () => (await s3t.snap(sid)).Status === 'accomplished', 'uploaded');
    return sid;
  });
  await p.goto(`${server.url}#/snapshots/${sid}`);
  await p.getByText('S3-compatible bucket').waitFor();
  await shot(p, 's3-snapshot-page');
  // Back to the embedded store: the snapshot stays, and says its bucket is not connected.
  await p.goto(`${server.url}#/settings`);
  await p.getByRole('button', { name: 'Use Embedded Storage' }).click();
  await status.filter({ hasText: 'embedded object storage' }).waitFor({ timeout: 20000 });
  await p.goto(`${server.url}#/snapshots/${sid}`);
  await p.getByText('S3-compatible bucket: object storage not connected').waitFor();
  // The wrong secret's 403 is logged by the browser itself; nothing else is.
  assert.deepEqual(p.errors.filter((e) => !/status of 403/.test(e)), []);
  await context.close();
});

test('the bucket is an OSS bucket: ImportImage of a qemu-img qcow2 object from it, ExportImage to it, judged by qemu-img', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rowsnap-s3img-'));
  try {
    // A guest with data, holes and an odd end, made into qcow2 by qemu-img and put by Node.
    const len = 3 * 1048576 + 1000;
    const raw = Buffer.alloc(len);
    let x = 777;
    for (let at = 0; at < len; at += 256 * 1024) {
      for (let i = at; i < Math.min(at + 100 * 1024, len); i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; raw[i] = x >>> 24; }
    }
    raw.write('the end', len - 7);
    const rawPath = path.join(dir, 'g.raw');
    const qcowPath = path.join(dir, 'g.qcow2');
    fs.writeFileSync(rawPath, raw);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', '-o', 'cluster_size=65536', rawPath, qcowPath]);
    const put = await s3request(s3, { method: 'PUT', bucket: BUCKET, key: 'images/g.qcow2', body: fs.readFileSync(qcowPath) });
    assert.equal(put.status, 200, put.text);
    const { p, context } = await consolePage();
    await p.evaluate((c) => ecs.setObjectStore(c), config());
    const r = await p.evaluate(async (bucket) => {
      const listed = await oss.listObjects(bucket, 'images/');
      const imp = await ecs.request('ImportImage', {
        ImageName: 'from-bucket', OSType: 'linux', Platform: 'Ubuntu',
        'DiskDeviceMapping.1.OSSBucket': bucket, 'DiskDeviceMapping.1.OSSObject': 'images/g.qcow2',
      });
      const task = async (id) => s3t.until(async () => { const t = (await ecs.request('DescribeTasks', { TaskIds: id })).TaskSet.Task[0]; return t.TaskStatus !== 'Processing' && t; }, 'task ' + id);
      const it = await task(imp.TaskId);
      const { disks } = await t.run({ ImageId: imp.ImageId });
      const head = Array.from(await ecs.readDisk(disks[0].DiskId, 0, 3 * 1048576 + 1000));
      const exp = await ecs.request('ExportImage', { ImageId: imp.ImageId, OSSBucket: bucket, OSSPrefix: 'exports/', ImageFormat: 'qcow2' });
      const et = await task(exp.TaskId);
      return { listed, it: it.TaskStatus, head, key: exp.OSSObject, et: et.TaskStatus, size: (await ecs.request('DescribeImages', { ImageId: imp.ImageId })).Images.Image[0].Size };
    }, BUCKET);
    assert.deepEqual(r.listed.map((o) => o.Key), ['images/g.qcow2']);
    assert.deepEqual([r.it, r.et], ['Finished', 'Finished']);
    assert.ok(Buffer.from(r.head).equals(raw), 'the imported image boots with the bytes qemu-img wrote');
    const got = await s3request(s3, { method: 'GET', bucket: BUCKET, key: r.key });
    assert.equal(got.status, 200);
    const out = path.join(dir, 'out.qcow2');
    fs.writeFileSync(out, got.body);
    const report = JSON.parse(execFileSync('qemu-img', ['check', '--output=json', out]).toString());
    assert.equal(report['check-errors'], 0);
    const full = path.join(dir, 'full.raw');
    fs.copyFileSync(rawPath, full);
    fs.truncateSync(full, r.size * 1024 ** 3);
    execFileSync('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', full, out]);
    await context.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the OSS page shows the bucket; Upload File sends a 20 MiB file as a multipart upload', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rowsnap-s3up-'));
  try {
    const file = path.join(dir, 'big.bin');
    const bytes = Buffer.alloc(20 * 1048576);
    for (let i = 0; i < bytes.length; i += 4096) bytes.writeUInt32LE(i, i);
    fs.writeFileSync(file, bytes);
    const { p, context } = await consolePage();
    await p.evaluate((c) => ecs.setObjectStore(c), config());
    await p.goto(`${server.url}#/oss`);
    await p.getByLabel('Bucket', { exact: true }).selectOption(BUCKET);
    await p.getByLabel('Upload File').setInputFiles(file);
    await p.locator('.toast.ok').filter({ hasText: 'Uploaded big.bin' }).waitFor({ timeout: 60000 });
    await p.getByRole('row').filter({ hasText: 'big.bin' }).getByText('20.0 MiB').waitFor({ timeout: 20000 });
    await shot(p, 's3-oss-page-bucket');
    const got = await s3request(s3, { method: 'GET', bucket: BUCKET, key: 'big.bin' });
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(bytes), 'the bucket holds the file');
    // Three parts (8 + 8 + 4 MiB): a multipart object's ETag ends in -3.
    assert.match(got.headers.get('etag'), /-3"?$/, got.headers.get('etag'));
    assert.deepEqual(p.errors, []);
    await context.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('credentials: remembered ones connect again after a reload; others do not, and an upload waits for them, then resumes', async () => {
  const { p, context } = await consolePage();
  await p.evaluate((c) => ecs.setObjectStore({ ...c, Remember: true }), config());
  await p.reload();
  await p.getByTestId('db-status').filter({ hasText: 'Database ready' }).waitFor({ timeout: 20000 });
  const again = await p.evaluate(() => ecs.describeObjectStore());
  assert.deepEqual([again.Connected, again.Remembered, again.Bucket], [true, true, BUCKET], JSON.stringify(again));
  assert.equal(again.AccessKeySecret, undefined, 'the secret is never shown');
  // Not remembered: the next reload forgets the credentials.
  await p.evaluate((c) => ecs.setObjectStore(c), config());
  await p.evaluate(PAGE_HELPERS);
  await p.evaluate(HELPERS);
  const sid = await p.evaluate(async () => {
    const { disks } = await t.run({ ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd', DataDisk: [{ Size: 20, Category: 'cloud_essd' }] });
    await ecs.writeDisk(disks[1].DiskId, 0, s3t.bytes(4 << 20, 9));
    await ecs.setUploadRate(256 * 1024);
    return (await ecs.request('CreateSnapshot', { DiskId: disks[1].DiskId })).SnapshotId;
  });
  await p.reload();
  await p.getByTestId('db-status').filter({ hasText: 'Database ready' }).waitFor({ timeout: 20000 });
  await p.evaluate(HELPERS);
  await p.evaluate(PAGE_HELPERS);
  const waiting = await p.evaluate(async (sid) => ({ store: await ecs.describeObjectStore(), snap: await s3t.snap(sid) }), sid);
  assert.equal(waiting.store.Connected, false);
  assert.equal(waiting.snap.Status, 'progressing');
  assert.match(waiting.snap.UploadPaused, /needs credentials/);
  await p.goto(`${server.url}#/snapshots/${sid}`);
  await p.getByText('object storage not connected').waitFor({ timeout: 20000 });
  const done = await p.evaluate(async ({ sid, c }) => {
    await ecs.setUploadRate(null);
    await ecs.setObjectStore(c);
    return s3t.until(async () => { const s = await s3t.snap(sid); return s.Status === 'accomplished' && s; }, 'resumed');
  }, { sid, c: config() });
  assert.equal(done.UploadPaused, undefined);
  await context.close();
});

test('an encrypted snapshot under a passphrase key is recovered in another profile, locked, and opens with the passphrase', async () => {
  const a = await consolePage();
  await a.p.evaluate((c) => ecs.setObjectStore(c), config());
  const made = await a.p.evaluate(async () => {
    const { KeyId } = await ecs.createKey('travels', 'a long enough passphrase');
    const { disks } = await t.run({ ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd', DataDisk: [{ Size: 20, Category: 'cloud_essd', Encrypted: true, KMSKeyId: KeyId }] });
    const data = s3t.bytes(1 << 20, 12);
    await ecs.writeDisk(disks[1].DiskId, 0, data);
    const sid = (await ecs.request('CreateSnapshot', { DiskId: disks[1].DiskId })).SnapshotId;
    await s3t.until(async () => (await s3t.snap(sid)).Status === 'accomplished', 'uploaded');
    return { sid, key: KeyId, want: await s3t.digest(data) };
  });
  await a.context.close();
  const b = await consolePage();
  const got = await b.p.evaluate(async ({ sid, key, cfg }) => {
    await ecs.setObjectStore(cfg);
    const rec = await ecs.recoverSnapshots();
    const locked = await ecs.readSnapshot(sid, 0, 4096).then(() => 'read', (e) => e.Code);
    await ecs.unlockKey(key, 'a long enough passphrase');
    return { rec: rec.SnapshotIds, locked, read: await s3t.digest(await ecs.readSnapshot(sid, 0, 1 << 20)) };
  }, { ...made, cfg: config() });
  assert.ok(got.rec.includes(made.sid), JSON.stringify(got));
  assert.equal(got.locked, 'InvalidKMSKeyId.Locked');
  assert.equal(got.read, made.want);
  await b.context.close();
});
