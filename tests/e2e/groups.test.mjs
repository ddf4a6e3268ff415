// Snapshot-consistent groups by clicking (seed 004, Resource Type Instance):
// Create Snapshot with the instance's disks ticked and unticked, a retention
// period and tags; the Snapshot-consistent Groups tab lists the group with its
// snapshots; Roll Back (stopping the instance from the dialog) restores the
// group's disks and only them; Delete Group takes its snapshots with it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve, launch, shot, openConsoleAt } from './lib.mjs';

let server, browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

const AT = 1 << 20;
const status = (p, id) => p.evaluate(async (id) => (await ecs.request('DescribeInstances', { InstanceIds: [id] })).Instances.Instance[0].Status, id);
/** Writes `text` (one per disk) at AT on each disk. */
const write = (p, disks, texts) => p.evaluate(async ({ disks, texts, AT }) => {
  for (let i = 0; i < disks.length; i++) await ecs.writeDisk(disks[i], AT, new TextEncoder().encode(texts[i]));
}, { disks, texts, AT });
/** Reads back `len` bytes at AT of each disk as text. */
const read = (p, disks, len) => p.evaluate(async ({ disks, len, AT }) => {
  const out = [];
  for (const d of disks) out.push(new TextDecoder().decode(await ecs.readDisk(d, AT, len)));
  return out;
}, { disks, len, AT });

test('a snapshot-consistent group: created by ticking disks, listed with its snapshots, rolled back to, deleted', async () => {
  const context = await browser.newContext();
  const p = await openConsoleAt(server.url, context, '#/snapshots');
  const vm = await p.evaluate(() => t.run({
    ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd',
    InstanceName: 'db-1',
    DataDisk: [{ Size: 20, Category: 'cloud_essd' }, { Size: 20, Category: 'cloud_essd' }, { Size: 20, Category: 'cloud_efficiency' }],
  }));
  const [sys, data1, data2, hdd] = vm.disks.map((d) => d.DiskId);
  const essds = [sys, data1, data2];
  await write(p, essds, ['sys at group time', 'one at group time', 'two at group time']);

  // Create Snapshot, Resource Type Instance: the instance's disks, ESSDs ticked, the other disabled with the reason.
  await p.getByRole('tab', { name: 'Disk Snapshots' }).click();
  await p.getByRole('button', { name: 'Create Disk Snapshot' }).click();
  const dlg = p.getByRole('dialog', { name: 'Create Snapshot' });
  await dlg.getByRole('radio', { name: 'Instance' }).check();
  await dlg.getByLabel('Select Instance').selectOption(vm.id);
  const box = (id) => dlg.getByRole('checkbox', { name: id, exact: true });
  await box(hdd).waitFor();
  for (const id of essds) {
    assert.equal(await box(id).isChecked(), true, `${id} (ESSD) ticked by default`);
    assert.equal(await box(id).isDisabled(), false);
  }
  assert.equal(await box(hdd).isChecked(), false, 'a cloud_efficiency disk is not ticked');
  assert.equal(await box(hdd).isDisabled(), true, 'and cannot be');
  await dlg.getByText('cloud_efficiency: a group covers ESSDs (cloud_essd) only').waitFor();
  // Untick the second data disk; untick and tick the first again.
  await box(data2).uncheck();
  await box(data1).uncheck();
  await box(data1).check();
  await dlg.getByLabel('Snapshot Name').fill('db-consistent');
  await dlg.getByLabel('Retained for').check();
  await dlg.getByLabel('Retention Days').fill('7');
  await dlg.getByLabel('Tag Key 1').fill('team');
  await dlg.getByLabel('Tag Value 1').fill('db');
  await dlg.getByRole('button', { name: 'Add Tag' }).click();
  await dlg.getByLabel('Tag Key 2').fill('env');
  await dlg.getByLabel('Tag Value 2').fill('prod');
  await shot(p, 'g01-create-group-dialog');
  await dlg.getByRole('button', { name: 'OK' }).click();
  await dlg.waitFor({ state: 'detached' });

  // The group tab: the group with the two disks ticked, each snapshot kept 7 days.
  await p.getByRole('tab', { name: 'Snapshot-consistent Groups' }).click();
  const row = p.getByRole('row').filter({ hasText: 'db-consistent' });
  await row.waitFor();
  const lines = row.locator('[data-snapshot]');
  await lines.filter({ hasText: 'Released After 7 Days' }).nth(1).waitFor({ timeout: 10000 });
  assert.equal(await lines.count(), 2);
  const shown = (await lines.allTextContents()).join(' ');
  assert.ok(shown.includes(sys) && shown.includes(data1) && !shown.includes(data2) && !shown.includes(hdd), shown);
  await shot(p, 'g02-groups-tab');
  const group = await p.evaluate(async () => (await ecs.request('DescribeSnapshotGroups', { Name: 'db-consistent' })).SnapshotGroups.SnapshotGroup[0]);
  assert.equal(group.InstanceId, vm.id);
  assert.deepEqual(group.Tags.Tag.map((t) => `${t.TagKey}=${t.TagValue}`), ['team=db', 'env=prod']);
  const snaps = group.Snapshots.Snapshot;
  assert.deepEqual(snaps.map((s) => s.SourceDiskId).sort(), [sys, data1].sort());
  for (const s of snaps) {
    assert.equal(s.RetentionDays, 7, 'the retention chosen is set on every snapshot of the group');
    assert.equal(s.SnapshotName, 'db-consistent');
    assert.deepEqual(s.Tags.Tag.map((t) => t.TagKey), ['team', 'env']);
  }

  // Other bytes on every disk; Roll Back: the dialog stops the instance first.
  await write(p, essds, ['sys written after', 'one written after', 'two written after']);
  await row.getByRole('button', { name: 'Roll Back' }).click();
  const rb = p.getByRole('dialog', { name: 'Roll Back to Snapshot-consistent Group' });
  await rb.getByText('must be stopped (Running)').waitFor();
  await rb.getByRole('button', { name: 'Roll Back' }).click();
  await rb.getByText('IncorrectInstanceStatus').waitFor();
  await rb.getByRole('button', { name: 'Stop Instance' }).click();
  await rb.getByText('must be stopped (Stopped)').waitFor({ timeout: 15000 });
  await shot(p, 'g03-roll-back-dialog');
  await rb.getByRole('button', { name: 'Roll Back' }).click();
  await rb.waitFor({ state: 'detached' });
  await p.evaluate(async (id) => {
    await t.sleep(1500); // the disks re-initialise
    await ecs.request('StartInstance', { InstanceId: id });
    await t.until('DescribeInstances', { InstanceIds: [id] }, (r) => r.Instances.Instance[0].Status, 'Running');
  }, vm.id);
  assert.equal(await status(p, vm.id), 'Running');
  assert.deepEqual(await read(p, essds, 17), ['sys at group time', 'one at group time', 'two written after'],
    'the group\'s disks are back at the group; the disk left out keeps its bytes');

  // Delete Group: the dialog says what goes; the group and its snapshots go.
  await row.getByRole('button', { name: 'Delete Group' }).click();
  const del = p.getByRole('dialog', { name: 'Delete Snapshot-consistent Group' });
  await del.getByText('and its 2 snapshots').waitFor();
  await del.getByText('Deleting it frees').waitFor();
  for (const s of snaps) await del.getByText(s.SnapshotId).waitFor();
  await shot(p, 'g04-delete-group-dialog');
  await del.getByRole('button', { name: 'Delete' }).click();
  await del.waitFor({ state: 'detached' });
  await p.getByText('No snapshot-consistent groups').waitFor();
  const left = await p.evaluate(async (ids) => (await ecs.request('DescribeSnapshots', { SnapshotIds: ids })).TotalCount, snaps.map((s) => s.SnapshotId));
  assert.equal(left, 0, 'the group\'s snapshots are gone');
  await shot(p, 'g05-group-deleted');
  assert.deepEqual(p.errors, []);
  await context.close();
});
