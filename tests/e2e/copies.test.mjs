// Seeds 000 and 002: a snapshot copied to another region by clicking (Copy
// Snapshot), its source deleted first, then a disk made from the copy there;
// an image copied (Copy Image); the region's snapshot capacity on the
// Snapshots page as snapshots come and go; the disk's Modify dialog.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve, launch, shot, openConsoleAt, exactly } from './lib.mjs';

let server, browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

const MiB = 1048576;

/** The capacity line's figures, in bytes, from DescribeSnapshotsUsage and the page's text. */
async function usage(p) {
  const line = await p.getByTestId('snapshot-usage').textContent();
  const u = await p.evaluate(() => ecs.request('DescribeSnapshotsUsage', {}));
  return { line, u };
}

test('Copy Snapshot to another region; the copy outlives its source and makes a disk there', async () => {
  const context = await browser.newContext();
  const p = await openConsoleAt(server.url, context, '#/snapshots');
  const { id: inst, disks } = await p.evaluate(() => t.run({ ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd', DataDisk: [{ Size: 20, Category: 'cloud_essd' }] }));
  const data = disks[1].DiskId;
  const src = await p.evaluate(async (d) => {
    const bytes = new Uint8Array(2 * 1048576);
    for (let i = 0; i < bytes.length; i++) bytes[i] = i % 251;
    await ecs.writeDisk(d, 3 * 1048576, bytes);
    const id = (await ecs.request('CreateSnapshot', { DiskId: d, SnapshotName: 'before-dr' })).SnapshotId;
    await t.until('DescribeSnapshots', { SnapshotIds: [id] }, (r) => r.Snapshots.Snapshot[0].Status, 'accomplished');
    return id;
  }, data);
  // The capacity figure counts it.
  const before1 = await usage(p);
  assert.equal(before1.u.SnapshotCount, 1);
  assert.ok(before1.u.LocalSnapshotSize >= 2 * MiB && before1.u.NormalSnapshotSize >= 2 * MiB, JSON.stringify(before1.u));
  await p.getByTestId('snapshot-usage').filter({ hasText: 'in 1 snapshots' }).waitFor();
  const row = p.locator(`tr[data-snapshot="${src}"]`);
  await row.getByRole('button', { name: 'Copy Snapshot' }).click();
  const dlg = p.getByRole('dialog', { name: 'Copy Snapshot' });
  await dlg.getByLabel('Destination Region').selectOption('cn-shanghai');
  await dlg.getByLabel('Name').fill('dr-copy');
  await dlg.getByLabel('Description').fill('geo disaster recovery');
  await dlg.getByLabel('Retention Days').fill('30');
  await shot(p, 'cp01-copy-snapshot-dialog');
  await dlg.getByRole('button', { name: 'Copy' }).click();
  const progress = p.getByRole('dialog', { name: 'Copying' });
  const copy = await progress.locator('[data-copy]').getAttribute('data-copy');
  assert.match(copy, /^s-/);
  await progress.getByText('Accomplished').waitFor({ timeout: 30000 });
  await shot(p, 'cp02-copy-accomplished');
  await progress.getByRole('button', { name: 'OK' }).click();
  // The source and its disk go first.
  await p.evaluate(async ({ inst, src }) => {
    await ecs.request('DeleteInstance', { InstanceId: inst, Force: true });
    await ecs.request('DeleteSnapshot', { SnapshotId: src, Force: true });
  }, { inst, src });
  await p.getByTestId('snapshot-usage').filter({ hasText: 'in 0 snapshots' }).waitFor();
  assert.equal((await usage(p)).u.SnapshotSize, 0, 'nothing left in the source region');
  // In the destination region: the copy, usable to make a disk.
  await p.getByLabel('Region').selectOption('cn-shanghai');
  const copyRow = p.locator(`tr[data-snapshot="${copy}"]`);
  await copyRow.waitFor();
  assert.match(await copyRow.textContent(), /dr-copy/);
  await p.getByTestId('snapshot-usage').filter({ hasText: 'in 1 snapshots' }).waitFor();
  await copyRow.getByRole('button', { name: 'Create Disk' }).click();
  const cd = p.getByRole('dialog', { name: 'Create Disk' });
  await cd.getByRole('button', { name: 'OK' }).click();
  await cd.waitFor({ state: 'detached' });
  const read = await p.evaluate(async (copy) => {
    const disk = (await ecs.request('DescribeDisks', { RegionId: 'cn-shanghai' })).Disks.Disk.find((d) => d.SourceSnapshotId === copy);
    const { id } = await t.run({ RegionId: 'cn-shanghai', ZoneId: 'cn-shanghai-e', ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd' });
    await t.until('DescribeDisks', { RegionId: 'cn-shanghai', DiskIds: [disk.DiskId] }, (r) => r.Disks.Disk[0].Status, 'Available');
    await ecs.request('AttachDisk', { RegionId: 'cn-shanghai', InstanceId: id, DiskId: disk.DiskId });
    await t.until('DescribeDisks', { RegionId: 'cn-shanghai', DiskIds: [disk.DiskId] }, (r) => r.Disks.Disk[0].Status, 'In_use');
    return Array.from(await ecs.readDisk(disk.DiskId, 3 * 1048576, 2 * 1048576));
  }, copy);
  assert.equal(read.length, 2 * MiB);
  assert.ok(read.every((b, i) => b === i % 251), 'the copy holds the source bytes');
  await shot(p, 'cp03-copy-in-destination');
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('Copy Image to another region boots instances there; the disk Modify dialog', async () => {
  const context = await browser.newContext();
  const p = await openConsoleAt(server.url, context, '#/images');
  const { image, sys } = await p.evaluate(async () => {
    const { disks } = await t.run({ ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd' });
    const sys = disks[0].DiskId;
    await ecs.writeDisk(sys, 5 * 1048576, new TextEncoder().encode('golden image'));
    const s = (await ecs.request('CreateSnapshot', { DiskId: sys })).SnapshotId;
    await t.until('DescribeSnapshots', { SnapshotIds: [s] }, (r) => r.Snapshots.Snapshot[0].Status, 'accomplished');
    const image = (await ecs.request('CreateImage', { SnapshotId: s, ImageName: 'golden' })).ImageId;
    await t.until('DescribeImages', { ImageId: image }, (r) => r.Images.Image[0].Status, 'Available');
    return { image, sys };
  });
  const row = p.getByRole('row').filter({ hasText: image });
  await row.getByRole('button', { name: 'Copy Image' }).click();
  const dlg = p.getByRole('dialog', { name: 'Copy Image' });
  await dlg.getByLabel('Destination Region').selectOption('ap-southeast-1');
  await dlg.getByLabel('Name').fill('golden-sg');
  await dlg.getByRole('button', { name: 'Copy' }).click();
  const progress = p.getByRole('dialog', { name: 'Copying' });
  const copy = await progress.locator('[data-copy]').getAttribute('data-copy');
  await progress.getByText('Available').waitFor({ timeout: 30000 });
  await progress.getByRole('button', { name: 'OK' }).click();
  const bytes = await p.evaluate(async (copy) => {
    const { disks } = await t.run({ RegionId: 'ap-southeast-1', ZoneId: 'ap-southeast-1a', ImageId: copy });
    return new TextDecoder().decode(await ecs.readDisk(disks[0].DiskId, 5 * 1048576, 12));
  }, copy);
  assert.equal(bytes, 'golden image');
  // Modify Disk: name, description, release automatic snapshots with the disk.
  await p.goto(`${server.url}#/disks/${sys}`);
  await p.getByRole('button', { name: exactly('Modify') }).click();
  const md = p.getByRole('dialog', { name: 'Modify Disk' });
  await md.getByLabel('Disk Name').fill('golden-source');
  await md.getByLabel('Description').fill('kept for audits');
  await md.getByLabel('Release Automatic Snapshots with Disk').uncheck();
  assert.equal(await md.getByLabel('Automatic Snapshots', { exact: true }).isDisabled(), true, 'no policy: nothing to turn off');
  await shot(p, 'cp04-modify-disk');
  await md.getByRole('button', { name: 'OK' }).click();
  await md.waitFor({ state: 'detached' });
  const d = await p.evaluate(async (sys) => (await ecs.request('DescribeDisks', { DiskIds: [sys] })).Disks.Disk[0], sys);
  assert.deepEqual([d.DiskName, d.Description, d.DeleteAutoSnapshot], ['golden-source', 'kept for audits', false]);
  assert.deepEqual(p.errors, []);
  await context.close();
});
