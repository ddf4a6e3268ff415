// Automatic snapshot policies in the console: create one in the Snapshots
// page's tab, apply it to a disk, let the console clock pass its time point
// (window.ecs.advanceClock), see the automatic snapshots, delete the policy.
// Screenshots in target/e2e/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve, launch, shot, openConsoleAt, nav } from './lib.mjs';

let server, browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

test('create a policy, apply it to a disk, its runs take automatic snapshots, delete it', async () => {
  const context = await browser.newContext();
  const p = await openConsoleAt(server.url, context, '#/snapshots');
  const { disks } = await p.evaluate(() => t.run({ ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd' }));
  const sys = disks[0].DiskId;
  await p.getByRole('tab', { name: 'Automatic Snapshot Policies' }).click();
  await p.getByText('No automatic snapshot policies').waitFor();
  await p.getByRole('button', { name: 'Create Policy' }).click();
  const dlg = p.getByRole('dialog', { name: 'Create Automatic Snapshot Policy' });
  await dlg.getByLabel('Policy Name').fill('nightly');
  await dlg.getByLabel('14:00').check(); // 02:00 is checked already
  await dlg.getByLabel('Retention Days').fill('3');
  await shot(p, 'p01-create-policy');
  // A bad retention is refused with its code, in the dialog.
  await dlg.getByLabel('Retention Days').fill('0');
  await dlg.getByRole('button', { name: 'OK' }).click();
  await dlg.getByText('InvalidRetentionDays.Malformed').waitFor();
  await dlg.getByLabel('Retention Days').fill('3');
  await dlg.getByRole('button', { name: 'OK' }).click();
  await dlg.waitFor({ state: 'detached' });
  const row = p.getByRole('row').filter({ hasText: 'nightly' });
  await row.getByText('02:00, 14:00').waitFor();
  await row.getByText('Every day').waitFor();
  await row.getByText('3 days').waitFor();
  // Apply it to the system disk.
  await row.getByRole('button', { name: 'Apply to Disks' }).click();
  const ap = p.getByRole('dialog', { name: 'Apply Policy to Disks' });
  await ap.getByLabel(sys).check();
  await shot(p, 'p02-apply-policy');
  await ap.getByRole('button', { name: 'OK' }).click();
  await ap.waitFor({ state: 'detached' });
  await row.getByRole('cell', { name: '1', exact: true }).waitFor();
  const d = await p.evaluate((id) => ecs.request('DescribeDisks', { DiskIds: [id] }), sys);
  assert.equal(d.Disks.Disk[0].EnableAutoSnapshot, true);
  // A day on the console clock passes both time points once: the latest run
  // is taken (earlier missed runs are skipped).
  await p.evaluate(() => ecs.advanceClock(86400));
  await p.getByRole('tab', { name: 'Disk Snapshots' }).click();
  const auto = p.getByRole('row').filter({ hasText: /auto_\d{8}_1/ });
  await auto.first().waitFor({ timeout: 10000 });
  assert.equal(await auto.count(), 1);
  await auto.getByText('Automatic').waitFor();
  await auto.getByText(/Released After [23] Days/).waitFor();
  await shot(p, 'p03-automatic-snapshot');
  // Delete the policy: the snapshot stays, the disk has no policy.
  await p.getByRole('tab', { name: 'Automatic Snapshot Policies' }).click();
  await row.getByRole('button', { name: 'Delete' }).click();
  const del = p.getByRole('dialog', { name: 'Delete Policy' });
  await del.getByText('1 disk(s) stop getting automatic snapshots').waitFor();
  await del.getByRole('button', { name: 'Delete' }).click();
  await p.getByText('No automatic snapshot policies').waitFor();
  const after = await p.evaluate(async (id) => ({
    disk: (await ecs.request('DescribeDisks', { DiskIds: [id] })).Disks.Disk[0].AutoSnapshotPolicyId,
    autos: (await ecs.request('DescribeSnapshots', { DiskId: id, SnapshotType: 'auto' })).TotalCount,
  }), sys);
  assert.deepEqual(after, { disk: '', autos: 1 });
  assert.deepEqual(p.errors, []);
  await context.close();
});
