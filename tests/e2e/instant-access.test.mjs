// Seed 004: in Create Disk Snapshot, Instant Access is on for ESSDs and off
// (and not offered) for other categories; the box follows the chosen disk,
// and turning it off for an ESSD makes a snapshot without instant access.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve, launch, shot, openConsoleAt } from './lib.mjs';

let server, browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

test('Instant Access follows the chosen disk: on for an ESSD, off and disabled for another category', async () => {
  const context = await browser.newContext();
  const p = await openConsoleAt(server.url, context, '#/snapshots');
  const { disks } = await p.evaluate(() => t.run({
    ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd',
    DataDisk: [{ Size: 20, Category: 'cloud_efficiency' }],
  }));
  const [sys, data] = disks.map((d) => d.DiskId); // system: cloud_essd; data: cloud_efficiency
  await p.getByRole('tab', { name: 'Disk Snapshots' }).click();
  await p.getByRole('button', { name: 'Create Disk Snapshot' }).click();
  const dlg = p.getByRole('dialog', { name: 'Create Snapshot' });
  await dlg.getByRole('radio', { name: 'Cloud Disk' }).check();
  await dlg.getByText('Advanced Configuration').click();
  const box = dlg.getByLabel('Instant Access');
  const select = dlg.getByLabel('Select Cloud Disk');
  await select.selectOption(data);
  assert.equal(await box.isChecked(), false, 'off for a cloud_efficiency disk');
  assert.equal(await box.isDisabled(), true, 'not offered for a cloud_efficiency disk');
  await dlg.getByText('Instant access is for ESSDs').waitFor();
  await shot(p, 'ia01-instant-access-not-for-efficiency');
  await select.selectOption(sys);
  assert.equal(await box.isChecked(), true, 'on for an ESSD');
  assert.equal(await box.isDisabled(), false);
  // Turned off for the ESSD, the snapshot has no instant access.
  await box.uncheck();
  await dlg.getByLabel('Snapshot Name').fill('no-instant');
  await dlg.getByRole('button', { name: 'OK' }).click();
  await dlg.waitFor({ state: 'detached' });
  const snap = await p.evaluate(async () => (await ecs.request('DescribeSnapshots', { SnapshotName: 'no-instant' })).Snapshots.Snapshot[0]);
  assert.equal(snap.InstantAccess, false);
  assert.equal(snap.SourceDiskId, sys);
  assert.deepEqual(p.errors, []);
  await context.close();
});
