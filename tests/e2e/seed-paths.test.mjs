// Every seed path in the console (issue 15): the grouped navigation, Create
// Snapshot from the Disks list (seed 001's disk path), Modify of an automatic
// snapshot policy, Roll Back Disk with Start Instance After Rollback,
// Encrypted on every disk and snapshot list and page, and a custom image of
// a system-disk snapshot and a local data-disk snapshot (seed 000), whose
// system snapshot outlives its retention because the image uses it.
// Screenshots in target/e2e/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve, launch, shot, openConsoleAt, nav, exactly } from './lib.mjs';

const IMAGE = 'aliyun_3_x64_20G_alibase_20240819.vhd';
let server, browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

test('the navigation groups pages as the ECS console does, each link opening its page', async () => {
  const context = await browser.newContext();
  const p = await openConsoleAt(server.url, context, '#/instances');
  const menu = p.getByRole('navigation', { name: 'Main navigation' });
  const links = async (group) => menu.getByRole('group', { name: group }).getByRole('link').allTextContents();
  assert.deepEqual(await links('Instances & Images'), ['Instances', 'Images']);
  assert.deepEqual(await links('Storage & Snapshots'), ['Disks', 'Snapshots', 'Automatic Snapshot Policies']);
  assert.deepEqual(await links('Object Storage'), ['OSS']);
  assert.deepEqual(await links('Console'), ['Settings']);
  for (const [link, title, url] of [
    ['Disks', 'Disks', '#/disks'],
    ['Automatic Snapshot Policies', 'Automatic Snapshot Policies', '#/policies'],
    ['Snapshots', 'Snapshots', '#/snapshots'],
    ['Images', 'Images', '#/images'],
    ['Instances', 'Instances', '#/instances'],
  ]) {
    await nav(p, exactly(link));
    await p.getByRole('heading', { level: 1, name: exactly(title) }).waitFor();
    assert.ok(p.url().endsWith(url), `${link} opens ${url}: ${p.url()}`);
    assert.equal(await menu.getByRole('link', { name: exactly(link) }).getAttribute('class'), 'navlink active');
  }
  await nav(p, 'Automatic Snapshot Policies');
  await p.getByText('No automatic snapshot policies').waitFor();
  await shot(p, 'sp01-grouped-navigation');
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('Disks list: Create Snapshot on a disk row makes that disk\'s snapshot; Encrypted on every disk and snapshot list and page', async () => {
  const context = await browser.newContext();
  const p = await openConsoleAt(server.url, context, '#/instances');
  const { disks } = await p.evaluate((image) => t.run({
    ImageId: image,
    DataDisk: [{ Size: 20, Category: 'cloud_essd' }, { Size: 30, Category: 'cloud_essd', Encrypted: true }],
  }), IMAGE);
  const [, data, secret] = disks.map((d) => d.DiskId); // by device: system, data, encrypted data
  await nav(p, 'Disks');
  const grid = p.getByRole('table');
  await grid.getByRole('columnheader', { name: 'Encrypted' }).waitFor();
  const row = (id) => p.locator(`tr[data-disk="${id}"]`);
  await row(data).getByRole('cell', { name: 'No', exact: true }).waitFor();
  // Encrypted, with its key's alias under it (the region's default key).
  await row(secret).getByRole('cell', { name: /^Yes ?alias\/acs\/ecs$/ }).waitFor();
  // With its new columns the list still fits a 1440 px window: nothing scrolls sideways.
  const fit = await p.evaluate(() => {
    const box = document.querySelector('.table-scroll');
    return { table: box.scrollWidth, box: box.clientWidth, page: document.documentElement.scrollWidth, window: window.innerWidth };
  });
  assert.ok(fit.table <= fit.box && fit.page <= fit.window, `the Disks table fits the window: ${JSON.stringify(fit)}`);
  // Seed 001 from Storage & Snapshots > Disks: Create Snapshot in the disk's row.
  await row(data).getByRole('button', { name: 'Create Snapshot' }).click();
  const dlg = p.getByRole('dialog', { name: 'Create Snapshot' });
  assert.equal(await dlg.getByLabel('Create Local Snapshot').isDisabled(), false, 'an unencrypted ESSD takes local snapshots');
  await dlg.getByLabel('Snapshot Name').fill('from-disks-list');
  await dlg.getByLabel('Create Local Snapshot').check();
  await shot(p, 'sp02-disks-list-create-snapshot');
  await dlg.getByRole('button', { name: 'Create' }).click();
  await dlg.waitFor({ state: 'detached' });
  const made = await p.evaluate(async () => (await ecs.request('DescribeSnapshots', { SnapshotName: 'from-disks-list' })).Snapshots.Snapshot);
  assert.deepEqual(made.map((s) => [s.SourceDiskId, s.Category, s.Encrypted]), [[data, 'flash', false]]);
  // The encrypted disk: its dialog offers no local snapshot; a normal one is encrypted too.
  await row(secret).getByRole('button', { name: 'Create Snapshot' }).click();
  assert.equal(await dlg.getByLabel('Create Local Snapshot').isDisabled(), true, 'an encrypted disk takes no local snapshot');
  await dlg.getByLabel('Snapshot Name').fill('sealed');
  await dlg.getByRole('button', { name: 'Create' }).click();
  await dlg.waitFor({ state: 'detached' });
  await shot(p, 'sp03-disks-list-encrypted');
  // The disk's page.
  await row(secret).getByRole('link', { name: secret }).click();
  await p.getByText(/^Encrypted: Yes, key alias\/acs\/ecs \([0-9a-f-]{36}\)$/).waitFor();
  await p.goto(server.url + `#/disks/${data}`);
  await p.getByText('Encrypted: No', { exact: true }).waitFor();
  // The snapshot list (column) and a snapshot's page (row).
  await nav(p, 'Snapshots');
  await p.getByRole('columnheader', { name: 'Encrypted' }).waitFor();
  const sealed = p.getByRole('row').filter({ hasText: 'sealed' });
  await sealed.getByRole('cell', { name: 'Yes', exact: true }).waitFor();
  await p.getByRole('row').filter({ hasText: 'from-disks-list' }).getByRole('cell', { name: 'No', exact: true }).waitFor();
  await shot(p, 'sp04-snapshots-encrypted-column');
  await sealed.getByRole('link', { name: /^s-/ }).click();
  const details = p.getByRole('table', { name: 'Snapshot Details' });
  await details.getByRole('row', { name: /Encrypted/ }).getByText(/^Yes, key alias\/acs\/ecs \([0-9a-f-]{36}\)$/).waitFor();
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('Modify an automatic snapshot policy: the create dialog prefilled, ModifyAutoSnapshotPolicyEx, the 1-65535 bound', async () => {
  const context = await browser.newContext();
  const p = await openConsoleAt(server.url, context, '#/policies');
  const sp = await p.evaluate(async () => (await ecs.request('CreateAutoSnapshotPolicy', {
    autoSnapshotPolicyName: 'nightly', timePoints: '["2"]', repeatWeekdays: '["1","2","3","4","5","6","7"]', retentionDays: 7,
  })).AutoSnapshotPolicyId);
  const row = p.getByRole('row').filter({ hasText: sp });
  await row.getByText('7 days').waitFor();
  await row.getByRole('button', { name: 'Modify' }).click();
  const dlg = p.getByRole('dialog', { name: 'Modify Automatic Snapshot Policy' });
  // Prefilled with the policy as it is.
  assert.equal(await dlg.getByLabel('Policy Name').inputValue(), 'nightly');
  assert.equal(await dlg.getByLabel('02:00').isChecked(), true);
  assert.equal(await dlg.getByLabel('05:00').isChecked(), false);
  assert.equal(await dlg.getByLabel('Retention Days').inputValue(), '7');
  await dlg.getByLabel('02:00').uncheck();
  await dlg.getByLabel('05:00').check();
  await dlg.getByLabel('Saturday').uncheck();
  await dlg.getByLabel('Sunday').uncheck();
  await dlg.getByLabel('Policy Name').fill('weekdays');
  // ECS's CreateAutoSnapshotPolicy documents 1 to 65535 days: 65536 is refused.
  assert.equal(await dlg.getByLabel('Retention Days').getAttribute('max'), '65535');
  await dlg.getByLabel('Retention Days').fill('65536');
  await dlg.getByRole('button', { name: 'OK' }).click();
  await dlg.getByText('InvalidRetentionDays.Malformed').waitFor();
  await dlg.getByText('1 to 65535').waitFor();
  await dlg.getByLabel('Retention Days').fill('65535');
  await shot(p, 'sp05-modify-policy');
  await dlg.getByRole('button', { name: 'OK' }).click();
  await dlg.waitFor({ state: 'detached' });
  await row.getByText('05:00', { exact: true }).waitFor();
  await row.getByText('Mon, Tue, Wed, Thu, Fri').waitFor();
  await row.getByText('65535 days').waitFor();
  await row.getByText('weekdays').waitFor();
  const got = await p.evaluate(async () => (await ecs.request('DescribeAutoSnapshotPolicyEx', {})).AutoSnapshotPolicies.AutoSnapshotPolicy);
  assert.deepEqual(got.map((x) => [x.AutoSnapshotPolicyId, x.AutoSnapshotPolicyName, x.TimePoints, x.RepeatWeekdays, x.RetentionDays]),
    [[sp, 'weekdays', '["5"]', '["1","2","3","4","5"]', 65535]], 'modified in place, no new policy');
  // Made permanent from the dialog.
  await row.getByRole('button', { name: 'Modify' }).click();
  await dlg.getByLabel('Permanent Retention').check();
  await dlg.getByRole('button', { name: 'OK' }).click();
  await dlg.waitFor({ state: 'detached' });
  await row.getByText('Permanent').waitFor();
  await shot(p, 'sp06-modified-policy');
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('Roll Back Disk with Start Instance After Rollback: the bytes are the snapshot\'s and the instance runs again', async () => {
  const context = await browser.newContext();
  const p = await openConsoleAt(server.url, context, '#/snapshots');
  const { id, disks } = await p.evaluate((image) => t.run({ ImageId: image }), IMAGE);
  const sys = disks[0].DiskId;
  const snap = await p.evaluate(async ({ sys }) => {
    await ecs.writeDisk(sys, 4 << 20, new Uint8Array(8192).fill(0x11));
    const s = (await ecs.request('CreateSnapshot', { DiskId: sys, SnapshotName: 'before-change', Category: 'flash' })).SnapshotId;
    await ecs.writeDisk(sys, 4 << 20, new Uint8Array(8192).fill(0x22));
    return s;
  }, { sys });
  const row = p.getByRole('row').filter({ hasText: 'before-change' });
  await row.getByRole('button', { name: 'Roll Back Disk' }).click();
  const dlg = p.getByRole('dialog', { name: 'Roll Back Disk' });
  await dlg.getByRole('button', { name: 'Stop Instance' }).click();
  await dlg.getByText('must be stopped (Stopped)').waitFor({ timeout: 10000 });
  const start = dlg.getByLabel('Start Instance After Rollback');
  assert.equal(await start.isChecked(), false, 'off unless asked, as in the ECS console');
  await start.check();
  await shot(p, 'sp07-roll-back-start-after');
  await dlg.getByRole('button', { name: 'Roll Back' }).click();
  await dlg.waitFor({ state: 'detached' });
  await p.getByText('The disk was rolled back; the instance is starting.').waitFor();
  const after = await p.evaluate(async ({ id, sys }) => {
    await t.until('DescribeInstances', { InstanceIds: [id] }, (r) => r.Instances.Instance[0].Status, 'Running');
    await t.until('DescribeDisks', { DiskIds: [sys] }, (r) => r.Disks.Disk[0].Status, 'In_use');
    return [...await ecs.readDisk(sys, 4 << 20, 8192)];
  }, { id, sys });
  assert.ok(after.every((b) => b === 0x11), 'the disk holds the snapshot\'s bytes');
  await nav(p, 'Instances');
  await p.getByRole('row').filter({ hasText: id }).getByText('Running').waitFor();
  await shot(p, 'sp08-instance-running-after-rollback');
  // Without the box the instance stays stopped.
  await p.evaluate(async (id) => {
    await ecs.request('StopInstance', { InstanceId: id });
    await t.until('DescribeInstances', { InstanceIds: [id] }, (r) => r.Instances.Instance[0].Status, 'Stopped');
  }, id);
  await p.goto(server.url + `#/snapshots/${snap}`);
  await p.getByRole('button', { name: 'Roll Back Disk' }).click();
  await dlg.getByText('must be stopped (Stopped)').waitFor({ timeout: 10000 });
  await dlg.getByRole('button', { name: 'Roll Back' }).click();
  await dlg.waitFor({ state: 'detached' });
  await p.getByText('The disk was rolled back.', { exact: true }).waitFor();
  await p.evaluate(() => t.sleep(1500));
  const status = await p.evaluate(async (id) => (await ecs.request('DescribeInstances', { InstanceIds: [id] })).Instances.Instance[0].Status, id);
  assert.equal(status, 'Stopped');
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('Create Custom Image of a system-disk snapshot and a local data-disk snapshot (DiskDeviceMapping.N); its snapshot is kept past its retention', async () => {
  const context = await browser.newContext();
  const p = await openConsoleAt(server.url, context, '#/snapshots');
  const { disks } = await p.evaluate((image) => t.run({ ImageId: image, DataDisk: [{ Size: 20, Category: 'cloud_essd' }] }), IMAGE);
  const [sys, data] = disks.map((d) => d.DiskId);
  const { sysSnap, dataSnap } = await p.evaluate(async ({ sys, data }) => {
    await ecs.writeDisk(data, 1 << 20, new TextEncoder().encode('seed 000: a local snapshot makes an image as a data disk'));
    const sysSnap = (await ecs.request('CreateSnapshot', { DiskId: sys, SnapshotName: 'sys-1d', RetentionDays: 1 })).SnapshotId;
    const dataSnap = (await ecs.request('CreateSnapshot', { DiskId: data, SnapshotName: 'data-local', Category: 'flash' })).SnapshotId;
    await t.until('DescribeSnapshots', { SnapshotIds: [sysSnap] }, (r) => r.Snapshots.Snapshot[0].Status, 'accomplished');
    return { sysSnap, dataSnap };
  }, { sys, data });
  // From the local data-disk snapshot's row: it joins as a data disk; the system disk is chosen.
  const row = p.getByRole('row').filter({ hasText: 'data-local' });
  await row.getByRole('button', { name: 'Create Custom Image' }).click();
  const dlg = p.getByRole('dialog', { name: 'Create Custom Image' });
  await dlg.getByText('This snapshot is of a data disk').waitFor();
  assert.equal(await dlg.getByLabel(dataSnap).isChecked(), true);
  await dlg.getByLabel('Image Name').fill('with-data');
  await dlg.getByLabel('System Disk Snapshot').selectOption(sysSnap);
  await shot(p, 'sp09-custom-image-from-data-disk-snapshot');
  await dlg.getByRole('button', { name: 'OK' }).click();
  await dlg.waitFor({ state: 'detached' });
  const image = await p.evaluate(async () => (await ecs.request('DescribeImages', { ImageName: 'with-data' })).Images.Image[0]);
  assert.deepEqual(image.DiskDeviceMappings.DiskDeviceMapping.map((m) => [m.SnapshotId, m.Type]), [[sysSnap, 'system'], [dataSnap, 'data']]);
  // An instance of the image has the data disk's bytes.
  const text = await p.evaluate(async (imageId) => {
    await t.until('DescribeImages', { ImageId: imageId }, (r) => r.Images.Image[0].Status, 'Available');
    const { disks } = await t.run({ ImageId: imageId });
    return new TextDecoder().decode(await ecs.readDisk(disks[1].DiskId, 1 << 20, 56));
  }, image.ImageId);
  assert.equal(text, 'seed 000: a local snapshot makes an image as a data disk');
  await nav(p, 'Images');
  await p.getByRole('row').filter({ hasText: 'with-data' }).getByRole('cell', { name: '2', exact: true }).waitFor();
  // The Images page's button opens the same dialog with nothing chosen.
  await p.getByRole('button', { name: 'Create Custom Image' }).click();
  assert.equal(await dlg.getByLabel('System Disk Snapshot').inputValue(), '');
  assert.equal(await dlg.getByLabel(dataSnap).isChecked(), false);
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  // Two days on, the 1-day snapshot is kept for the image, and says so.
  await p.evaluate(() => ecs.advanceClock(2 * 86400));
  await nav(p, 'Snapshots');
  await p.getByRole('row').filter({ hasText: 'sys-1d' }).getByText(`Kept: used by image ${image.ImageId}`).waitFor();
  await shot(p, 'sp10-kept-for-image');
  await p.goto(server.url + `#/snapshots/${sysSnap}`);
  await p.getByText(`1 days (Kept: used by image ${image.ImageId})`).waitFor();
  assert.deepEqual(p.errors, []);
  await context.close();
});
