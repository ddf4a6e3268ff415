// window.oss and normal-snapshot uploads in the real page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve, launch, page, shot } from './lib.mjs';

let server, browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

async function open(p) {
  await p.goto(server.url);
  await p.waitForFunction(() => window.ecs !== undefined && window.oss !== undefined);
  await p.evaluate(() => window.ecs.ready);
}

test('window.oss: buckets, objects from bytes and from a Blob in slices, ranges, listing, errors', async () => {
  const context = await browser.newContext();
  const p = await page(context);
  await open(p);
  const r = await p.evaluate(async () => {
    const err = (pr) => pr.then(() => null, (e) => [e.Code, e.HttpStatus]);
    const out = {};
    out.noBucket = await err(oss.getObject('nope', 'k'));
    out.hidden = await err(oss.listObjects('.rowsnap-snapshots'));
    await oss.createBucket('images');
    await oss.createBucket('images');
    await oss.putObject('images', 'b.txt', new TextEncoder().encode('bytes'));
    // 10 MiB + 3 bytes as a Blob: read in 4 MiB slices, mostly zeros.
    const big = new Uint8Array(10 * 1048576 + 3);
    big.set([1, 2, 3], 10 * 1048576);
    big.set([9, 9], 5 * 1048576);
    await oss.putObject('images', 'a.raw', new Blob([big]));
    out.list = await oss.listObjects('images');
    out.tail = Array.from(await oss.getObject('images', 'a.raw', { offset: 10 * 1048576, length: 100 }));
    out.mid = Array.from(await oss.getObject('images', 'a.raw', { offset: 5 * 1048576 - 1, length: 4 }));
    const all = await oss.getObject('images', 'a.raw');
    out.allLen = all.length;
    out.same = all.every((b, i) => b === big[i]);
    out.noKey = await err(oss.getObject('images', 'missing'));
    await oss.deleteObject('images', 'b.txt');
    out.after = (await oss.listObjects('images')).map((o) => o.Key);
    return out;
  });
  assert.deepEqual(r.noBucket, ['NoSuchBucket', 404]);
  assert.deepEqual(r.hidden, ['InvalidBucketName', 400]);
  assert.deepEqual(r.list.map((o) => [o.Key, o.Size]), [['a.raw', 10 * 1048576 + 3], ['b.txt', 5]]);
  assert.match(r.list[0].LastModified, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.deepEqual(r.tail, [1, 2, 3]);
  assert.deepEqual(r.mid, [0, 9, 9, 0]);
  assert.equal(r.allLen, 10 * 1048576 + 3);
  assert.ok(r.same);
  assert.deepEqual(r.noKey, ['NoSuchKey', 404]);
  assert.deepEqual(r.after, ['a.raw']);
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('a capped upload shows progress, survives a reload and finishes; deleting one in progress cancels it', async () => {
  const context = await browser.newContext();
  const p = await page(context);
  await open(p);
  const ids = await p.evaluate(async () => {
    await ecs.setUploadRate(512 * 1024);
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    const vm = (await ecs.request('RunInstances', { ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd', DataDisk: [{ Size: 20, Category: 'cloud_efficiency' }] })).InstanceIdSets.InstanceIdSet[0];
    for (let i = 0; i < 50 && (await ecs.request('DescribeInstances', { InstanceIds: [vm] })).Instances.Instance[0].Status !== 'Running'; i++) await sleep(100);
    const disks = (await ecs.request('DescribeDisks', { InstanceId: vm, DiskType: 'data' })).Disks.Disk;
    const data = new Uint8Array(4 * 1048576);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 255;
    await ecs.writeDisk(disks[0].DiskId, 0, data);
    const snap = (await ecs.request('CreateSnapshot', { DiskId: disks[0].DiskId, SnapshotName: 'slow-upload' })).SnapshotId;
    return { vm, disk: disks[0].DiskId, snap };
  });
  const describe = () => p.evaluate((id) => ecs.request('DescribeSnapshots', { SnapshotIds: [id] }).then((r) => r.Snapshots.Snapshot[0]), ids.snap);
  let s;
  for (let i = 0; i < 100; i++) {
    s = await describe();
    if (s.Progress !== '0%') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(s.Status, 'progressing');
  const pct = parseInt(s.Progress, 10);
  assert.ok(pct >= 1 && pct <= 99, s.Progress);
  assert.ok(s.RemainTime > 0, `RemainTime ${s.RemainTime}`);
  assert.equal(s.Available, false, 'not an ESSD: usable only when accomplished');
  // Reload in the middle of the upload: it resumes where it was.
  await p.reload();
  await open(p);
  s = await describe();
  assert.equal(s.Status, 'progressing');
  assert.ok(parseInt(s.Progress, 10) >= pct, `${s.Progress} after reload, ${pct} before`);
  // A second snapshot of the disk waits for this one.
  const busy = await p.evaluate((d) => ecs.request('CreateSnapshot', { DiskId: d }).then(() => null, (e) => e.Code), ids.disk);
  assert.equal(busy, 'IncorrectDiskStatus.CreatingSnapshot');
  await p.evaluate(() => ecs.setUploadRate(null));
  for (let i = 0; i < 100 && (s = await describe()).Status !== 'accomplished'; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(s.Status, 'accomplished');
  assert.equal(s.Progress, '100%');
  assert.equal(s.Available, true);
  const back = await p.evaluate((id) => ecs.readSnapshot(id, 4 * 1048576 - 4, 4).then((b) => Array.from(b)), ids.snap);
  assert.deepEqual(back, [0, 1, 2, 3].map((k) => ((4 * 1048576 - 4 + k) * 7 + 3) & 255));
  // Cancel: a capped upload deleted half-way is gone, and the disk is free again.
  const cancelled = await p.evaluate(async (ids) => {
    await ecs.setUploadRate(64 * 1024);
    await ecs.writeDisk(ids.disk, 0, new Uint8Array(2 * 1048576).fill(5));
    const s2 = (await ecs.request('CreateSnapshot', { DiskId: ids.disk })).SnapshotId;
    await new Promise((r) => setTimeout(r, 700));
    const before = (await ecs.request('DescribeSnapshots', { SnapshotIds: [s2] })).Snapshots.Snapshot[0];
    await ecs.request('DeleteSnapshot', { SnapshotId: s2 });
    const left = (await ecs.request('DescribeSnapshots', { DiskId: ids.disk })).Snapshots.Snapshot.map((s) => s.SnapshotId);
    const again = (await ecs.request('CreateSnapshot', { DiskId: ids.disk })).SnapshotId;
    return { before: before.Status, left, again };
  }, ids);
  assert.equal(cancelled.before, 'progressing');
  assert.deepEqual(cancelled.left, [ids.snap]);
  assert.match(cancelled.again, /^s-/);
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('a released instant-access snapshot rolls back to the right bytes, fetched from OSS', async () => {
  const context = await browser.newContext();
  const p = await page(context);
  await open(p);
  const r = await p.evaluate(async () => {
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    const until = async (f) => { for (let i = 0; i < 100; i++) { if (await f()) return; await sleep(100); } throw new Error('timed out'); };
    const status = async (id) => (await ecs.request('DescribeInstances', { InstanceIds: [id] })).Instances.Instance[0].Status;
    const snap = async (id) => (await ecs.request('DescribeSnapshots', { SnapshotIds: [id] })).Snapshots.Snapshot[0];
    const vm = (await ecs.request('RunInstances', { ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd', DataDisk: [{ Size: 20, Category: 'cloud_essd' }] })).InstanceIdSets.InstanceIdSet[0];
    await until(async () => (await status(vm)) === 'Running');
    const disk = (await ecs.request('DescribeDisks', { InstanceId: vm, DiskType: 'data' })).Disks.Disk[0].DiskId;
    const data = new Uint8Array(1048576);
    for (let i = 0; i < data.length; i++) data[i] = (i * 13 + 1) & 255;
    await ecs.writeDisk(disk, 2 * 1048576, data);
    const s = (await ecs.request('CreateSnapshot', { DiskId: disk, InstantAccessRetentionDays: 1 })).SnapshotId;
    await until(async () => (await snap(s)).Status === 'accomplished');
    await ecs.writeDisk(disk, 2 * 1048576, new Uint8Array(1048576).fill(0xee));
    await ecs.request('StopInstance', { InstanceId: vm });
    await until(async () => (await status(vm)) === 'Stopped');
    await ecs.advanceClock(86400 + 1);
    const released = await snap(s);
    await ecs.request('ResetDisk', { DiskId: disk, SnapshotId: s });
    await ecs.request('StartInstance', { InstanceId: vm });
    await until(async () => (await status(vm)) === 'Running');
    const back = await ecs.readDisk(disk, 2 * 1048576, 1048576);
    const same = back.every((b, i) => b === data[i]);
    await until(async () => (await ecs.request('DescribeDisks', { DiskIds: [disk] })).Disks.Disk[0].HydrationProgress === '100%');
    const after = await ecs.readDisk(disk, 2 * 1048576, 1048576);
    return { released: released.LocalCopyReleased, exclusive: released.ExclusiveBytes, same, sameAfter: after.every((b, i) => b === data[i]) };
  });
  assert.deepEqual(r, { released: true, exclusive: 0, same: true, sameAfter: true });
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('OSS page: a large object is streamed into the file the person picks, in 4 MiB parts', async () => {
  const context = await browser.newContext();
  const p = await page(context);
  await p.setViewportSize({ width: 1440, height: 900 });
  await p.goto(server.url + '#/oss');
  await p.waitForFunction(() => window.ecs !== undefined && window.oss !== undefined);
  await p.evaluate(async () => {
    await ecs.ready;
    // 70 MiB (over the 64 MiB streaming threshold), mostly zeros, marked at both ends.
    const big = new Uint8Array(70 * 1048576);
    big.set([1, 2, 3], 0);
    big.set([7, 8, 9], big.length - 3);
    await oss.createBucket('big');
    await oss.putObject('big', 'dir/disk.raw', new Blob([big]));
    // The save-file picker, as the File System Access API gives it (a person would pick a file).
    window.saved = { name: null, parts: [], head: null, tail: null, closed: false };
    window.showSaveFilePicker = async (opts) => {
      saved.name = opts.suggestedName;
      return { createWritable: async () => ({
        write: async (d) => {
          if (saved.head === null) saved.head = Array.from(d.subarray(0, 3));
          saved.tail = Array.from(d.subarray(d.length - 3));
          saved.parts.push(d.length);
        },
        close: async () => { saved.closed = true; },
      }) };
    };
  });
  let downloads = 0;
  p.on('download', () => downloads++);
  await p.getByTestId('db-status').filter({ hasText: 'Database ready' }).waitFor({ timeout: 20000 });
  await p.getByLabel('Bucket', { exact: true }).selectOption('big');
  const row = p.getByRole('row').filter({ hasText: 'dir/disk.raw' });
  await row.getByText('70.0 MiB').waitFor({ timeout: 20000 });
  await row.getByRole('button', { name: 'Download' }).click();
  await p.waitForFunction(() => window.saved.closed, null, { timeout: 60000 });
  const saved = await p.evaluate(() => window.saved);
  assert.equal(saved.name, 'disk.raw');
  assert.equal(saved.parts.reduce((a, b) => a + b, 0), 70 * 1048576);
  assert.ok(saved.parts.length >= 17 && saved.parts.every((n) => n <= 4 * 1048576), `written in 4 MiB parts: ${saved.parts}`);
  assert.deepEqual(saved.head, [1, 2, 3]);
  assert.deepEqual(saved.tail, [7, 8, 9]);
  assert.equal(downloads, 0, 'no Blob download');
  assert.deepEqual(p.errors, []);
  await context.close();
});
