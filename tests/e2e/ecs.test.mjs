// window.ecs in the real console page (headless Chromium, real IndexedDB):
// data written, then snapshot, rollback, clone, image and boot give back the
// right bytes; errors carry Code, Message, HttpStatus and RequestId; everything
// survives a reload; retention releases a snapshot after advanceClock.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve, launch, page } from './lib.mjs';

let server, browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

async function open(context) {
  const p = await page(context);
  await p.goto(server.url);
  await p.waitForFunction(() => window.ecs !== undefined);
  await p.evaluate(() => window.ecs.ready);
  return p;
}

// Helpers evaluated in the page.
const HELPERS = `
  window.t = {
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    async until(action, params, pick, want) {
      for (let i = 0; i < 100; i++) {
        const v = pick(await ecs.request(action, params));
        if (v === want) return;
        await t.sleep(100);
      }
      throw new Error(action + ' never reached ' + want);
    },
    status: (id) => ecs.request('DescribeInstances', { InstanceIds: JSON.stringify([id]) }).then((r) => r.Instances.Instance[0].Status),
    async run(params) {
      const r = await ecs.request('RunInstances', params);
      const id = r.InstanceIdSets.InstanceIdSet[0];
      await t.until('DescribeInstances', { InstanceIds: [id] }, (r) => r.Instances.Instance[0].Status, 'Running');
      const d = await ecs.request('DescribeDisks', { InstanceId: id });
      const disks = d.Disks.Disk.sort((a, b) => a.Device.localeCompare(b.Device));
      return { id, disks: disks.map((x) => x.DiskId) };
    },
    accomplished: (id) => t.until('DescribeSnapshots', { SnapshotIds: [id] }, (r) => r.Snapshots.Snapshot[0].Status, 'accomplished'),
    bytes: (s) => new TextEncoder().encode(s),
    text: (b) => new TextDecoder().decode(b),
  };
`;

test('write, snapshot, roll back, clone, image and boot give back the right bytes; a reload keeps everything', async () => {
  const context = await browser.newContext();
  const p = await open(context);
  assert.match(await p.evaluate(() => ecs.version), /^\d+\.\d+\.\d+/);
  await p.evaluate(HELPERS);
  const ids = await p.evaluate(async () => {
    const vm = await t.run({ ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd', ZoneId: 'cn-hangzhou-i', DataDisk: [{ Size: 20, Category: 'cloud_essd' }] });
    const [sys, data] = vm.disks;
    await ecs.writeDisk(sys, 1 << 20, t.bytes('first state'));
    await ecs.writeDisk(data, 7, t.bytes('data disk bytes'));
    const s1 = (await ecs.request('CreateSnapshot', { DiskId: sys, SnapshotName: 'sys-1' })).SnapshotId;
    const d1 = (await ecs.request('CreateSnapshot', { DiskId: data, Category: 'flash' })).SnapshotId;
    await ecs.writeDisk(sys, 1 << 20, t.bytes('second state'));
    await ecs.request('StopInstance', { InstanceId: vm.id });
    await t.until('DescribeInstances', { InstanceIds: [vm.id] }, (r) => r.Instances.Instance[0].Status, 'Stopped');
    await ecs.request('ResetDisk', { DiskId: sys, SnapshotId: s1 });
    await ecs.request('StartInstance', { InstanceId: vm.id });
    await t.until('DescribeInstances', { InstanceIds: [vm.id] }, (r) => r.Instances.Instance[0].Status, 'Running');
    const clone = (await ecs.request('CreateDisk', { ZoneId: 'cn-hangzhou-i', SnapshotId: d1, DiskCategory: 'cloud_essd' })).DiskId;
    await t.until('DescribeDisks', { DiskIds: [clone] }, (r) => r.Disks.Disk[0].Status, 'Available');
    await ecs.request('AttachDisk', { InstanceId: vm.id, DiskId: clone });
    await t.until('DescribeDisks', { DiskIds: [clone] }, (r) => r.Disks.Disk[0].Status, 'In_use');
    await t.accomplished(s1);
    const image = (await ecs.request('CreateImage', { ImageName: 'golden-1', DiskDeviceMapping: [{ SnapshotId: s1 }, { SnapshotId: d1 }] })).ImageId;
    await t.until('DescribeImages', { ImageId: image, ImageOwnerAlias: 'self' }, (r) => r.Images.Image[0].Status, 'Available');
    const booted = await t.run({ ImageId: image, ZoneId: 'cn-hangzhou-i' });
    return { vm: vm.id, sys, data, s1, d1, clone, image, booted };
  });
  const check = async (p) => p.evaluate(async (ids) => ({
    sys: t.text(await ecs.readDisk(ids.sys, 1 << 20, 11)),
    snap: t.text(await ecs.readSnapshot(ids.s1, 1 << 20, 11)),
    clone: t.text(await ecs.readDisk(ids.clone, 7, 15)),
    bootSys: t.text(await ecs.readDisk(ids.booted.disks[0], 1 << 20, 11)),
    bootData: t.text(await ecs.readDisk(ids.booted.disks[1], 7, 15)),
    snapshots: (await ecs.request('DescribeSnapshots', {})).TotalCount,
  }), ids);
  const want = { sys: 'first state', snap: 'first state', clone: 'data disk bytes', bootSys: 'first state', bootData: 'data disk bytes', snapshots: 2 };
  assert.deepEqual(await check(p), want);
  await p.reload();
  await p.waitForFunction(() => window.ecs !== undefined);
  await p.evaluate(() => window.ecs.ready);
  await p.evaluate(HELPERS);
  assert.deepEqual(await check(p), want, 'every resource and byte survives a reload');
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('errors carry Code, Message, HttpStatus and RequestId', async () => {
  const context = await browser.newContext();
  const p = await open(context);
  const errors = await p.evaluate(async () => {
    const grab = (pr) => pr.then(() => null, (e) => ({ isError: e instanceof Error, Code: e.Code, HttpStatus: e.HttpStatus, RequestId: e.RequestId, Message: e.Message }));
    return [
      await grab(ecs.request('CreateSnapshot', {})),
      await grab(ecs.request('CreateSnapshot', { DiskId: 'd-doesnotexist' })),
      await grab(ecs.request('NoSuchAction', {})),
      await grab(ecs.readDisk('d-doesnotexist', 0, 1)),
      await grab(ecs.readSnapshot('s-doesnotexist', 0, 1)),
    ];
  });
  assert.deepEqual(errors.map((e) => [e.isError, e.Code, e.HttpStatus]), [
    [true, 'MissingParameter', 400],
    [true, 'InvalidDiskId.NotFound', 404],
    [true, 'InvalidAction.NotFound', 404],
    [true, 'InvalidDiskId.NotFound', 404],
    [true, 'InvalidSnapshotId.NotFound', 404],
  ]);
  for (const e of errors) {
    assert.match(e.RequestId, /^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
    assert.ok(e.Message.length > 10);
  }
  await context.close();
});

test('retention releases a snapshot after advanceClock', async () => {
  const context = await browser.newContext();
  const p = await open(context);
  await p.evaluate(HELPERS);
  const left = await p.evaluate(async () => {
    const vm = await t.run({ ImageId: 'ubuntu_22_04_x64_20G_alibase_20240819.vhd' });
    const keep = (await ecs.request('CreateSnapshot', { DiskId: vm.disks[0] })).SnapshotId;
    await t.accomplished(keep); // one snapshot of a disk uploads at a time
    await ecs.request('CreateSnapshot', { DiskId: vm.disks[0], RetentionDays: '1' });
    await ecs.advanceClock(86400 + 1);
    const r = await ecs.request('DescribeSnapshots', {});
    return { ids: r.Snapshots.Snapshot.map((s) => s.SnapshotId), keep };
  });
  assert.deepEqual(left.ids, [left.keep]);
  await p.evaluate(() => ecs.reset());
  const after = await p.evaluate(() => ecs.request('DescribeSnapshots', {}).then((r) => r.TotalCount));
  assert.equal(after, 0, 'reset deletes all data');
  await context.close();
});
