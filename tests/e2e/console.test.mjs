// The console, clicked through as seeds 001 and 004 describe, with a
// screenshot of every step in target/e2e/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve, launch, page, shot, downloadOf } from './lib.mjs';

let server, browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

async function openConsole(context) {
  const p = await page(context);
  await p.setViewportSize({ width: 1440, height: 900 });
  await p.goto(server.url + '#/instances');
  await p.getByTestId('db-status').filter({ hasText: 'Database ready' }).waitFor({ timeout: 20000 });
  return p;
}

async function createInstance(p) {
  await p.getByRole('button', { name: 'Create Instance' }).click();
  const dlg = p.getByRole('dialog', { name: 'Create Instance' });
  await dlg.getByLabel('Instance Name').fill('web-1');
  await shot(p, 'c01-create-instance');
  await dlg.getByRole('button', { name: 'Create' }).click();
  const row = p.getByRole('row').filter({ hasText: 'web-1' });
  await row.getByText('Running').waitFor({ timeout: 10000 });
  return row;
}

test('seed 001: create a local snapshot from the instance\'s Cloud Disk tab, then see it on the Snapshots tab', async () => {
  const context = await browser.newContext();
  const p = await openConsole(context);
  const row = await createInstance(p);
  await shot(p, 'c02-instances');
  // Step 4: click the instance ID (or Manage).
  await row.getByRole('link', { name: 'Manage' }).click();
  // Step 5: the Cloud Disk tab.
  await p.getByRole('tab', { name: 'Cloud Disk' }).click();
  const dataDisk = p.getByRole('row').filter({ hasText: 'Data Disk' });
  await dataDisk.waitFor();
  await shot(p, 'c03-cloud-disk-tab');
  // Step 6: Create Snapshot in the Actions column of an ESSD.
  await dataDisk.getByRole('button', { name: 'Create Snapshot' }).click();
  const dlg = p.getByRole('dialog', { name: 'Create Snapshot' });
  // Step 7: name, Create Local Snapshot, Retention Period, tags, Create.
  await dlg.getByLabel('Snapshot Name').fill('before-upgrade');
  await dlg.getByLabel('Create Local Snapshot').check();
  await dlg.getByLabel('Retained for').check();
  await dlg.getByLabel('Retention Days').fill('2');
  await dlg.getByLabel('Tag Key').fill('owner');
  await dlg.getByLabel('Tag Value').fill('ops');
  await shot(p, 'c04-create-snapshot-dialog');
  await dlg.getByRole('button', { name: 'Create' }).click();
  await dlg.waitFor({ state: 'detached' });
  // Step 8: the Snapshots tab shows it, local, released after 2 days (highlighted).
  await p.getByRole('tab', { name: 'Snapshots' }).click();
  const snap = p.getByRole('row').filter({ hasText: 'before-upgrade' });
  await snap.getByText('Local Snapshot').waitFor();
  await snap.getByText('Released After 2 Days').waitFor();
  assert.ok(await snap.locator('.soon').count() === 1, 'retention highlighted when 3 days or fewer remain');
  await shot(p, 'c05-instance-snapshots-tab');
  // A refused action shows its ECS code: a local snapshot cannot make an image from a data disk alone.
  await snap.getByRole('button', { name: 'Create Custom Image' }).click();
  const img = p.getByRole('dialog', { name: 'Create Custom Image' });
  await img.getByText('This snapshot is of a data disk').waitFor();
  await img.getByRole('button', { name: 'OK' }).click();
  await img.getByText('OperationDenied').waitFor();
  await shot(p, 'c06-refused-with-code');
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('seed 004: Create Disk Snapshot on the Snapshots page, watch the upload, then roll back, create a disk, an image, boot it and delete', async () => {
  const context = await browser.newContext();
  const p = await openConsole(context);
  await createInstance(p);
  await p.evaluate(() => ecs.setUploadRate(256 * 1024));
  // Put some data on the system disk so the upload takes a moment.
  await p.evaluate(async () => {
    const d = (await ecs.request('DescribeDisks', { DiskType: 'system' })).Disks.Disk[0].DiskId;
    await ecs.writeDisk(d, 0, new Uint8Array(2 * 1048576).fill(7));
  });
  await p.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Snapshots' }).click();
  await p.getByRole('tab', { name: 'Disk Snapshots' }).click();
  await p.getByRole('button', { name: 'Create Disk Snapshot' }).click();
  const dlg = p.getByRole('dialog', { name: 'Create Snapshot' });
  await dlg.getByRole('radio', { name: 'Cloud Disk' }).check();
  const select = dlg.getByLabel('Select Cloud Disk');
  const sysOption = await select.locator('option', { hasText: 'system disk' }).first().getAttribute('value');
  await select.selectOption(sysOption);
  await dlg.getByLabel('Snapshot Name').fill('nightly-1');
  await dlg.getByLabel('Permanent Retention').check();
  await dlg.getByText('Advanced Configuration').click();
  await dlg.getByLabel('Instant Access').check();
  await shot(p, 'c07-create-disk-snapshot-dialog');
  await dlg.getByRole('button', { name: 'OK' }).click();
  const row = p.getByRole('row').filter({ hasText: 'nightly-1' });
  await row.getByText(/Upload to OSS: ([1-9]|[1-9]\d)%/).waitFor({ timeout: 20000 });
  const title = await row.getByText(/Upload to OSS/).getAttribute('title');
  assert.match(title, /Estimated remaining time: \d+ s/);
  await shot(p, 'c08-upload-progress');
  await p.evaluate(() => ecs.setUploadRate(null));
  await row.getByText('Upload to OSS: 100%').waitFor({ timeout: 20000 });
  await shot(p, 'snapshots-page');
  // The table fits a 1440 px window: nothing scrolls sideways.
  const fit = await p.evaluate(() => {
    const box = document.querySelector('.table-scroll');
    return { table: box.scrollWidth, box: box.clientWidth, page: document.documentElement.scrollWidth, window: window.innerWidth };
  });
  assert.ok(fit.table <= fit.box && fit.page <= fit.window, `the Snapshots table fits the window: ${JSON.stringify(fit)}`);
  // Roll Back Disk: the instance must be stopped; the dialog offers to stop it.
  await row.getByRole('button', { name: 'Roll Back Disk' }).click();
  const rb = p.getByRole('dialog', { name: 'Roll Back Disk' });
  await rb.getByRole('button', { name: 'Stop Instance' }).click();
  await rb.getByText('must be stopped (Stopped)').waitFor({ timeout: 10000 });
  await shot(p, 'c09-roll-back-dialog');
  await rb.getByRole('button', { name: 'Roll Back' }).click();
  await rb.waitFor({ state: 'detached' });
  // Create Disk from it.
  await row.getByRole('button', { name: 'Create Disk' }).click();
  const cd = p.getByRole('dialog', { name: 'Create Disk' });
  await cd.getByRole('button', { name: 'OK' }).click();
  await cd.waitFor({ state: 'detached' });
  // Create Custom Image, then boot it from the Instances page.
  await row.getByRole('button', { name: 'Create Custom Image' }).click();
  const ci = p.getByRole('dialog', { name: 'Create Custom Image' });
  await ci.getByLabel('Image Name').fill('golden-nightly');
  await ci.getByRole('button', { name: 'OK' }).click();
  await ci.waitFor({ state: 'detached' });
  await shot(p, 'c10-after-actions');
  await p.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Instances' }).click();
  await p.getByRole('button', { name: 'Create Instance' }).click();
  const ni = p.getByRole('dialog', { name: 'Create Instance' });
  const golden = ni.getByLabel('Image').locator('option', { hasText: 'golden-nightly' });
  await p.waitForFunction(() => document.querySelector('option[disabled]') === null || ![...document.querySelectorAll('option')].some((o) => o.textContent.includes('golden-nightly') && o.disabled));
  const imgValue = await golden.getAttribute('value');
  await ni.getByLabel('Image').selectOption(imgValue);
  await ni.getByLabel('Instance Name').fill('from-golden');
  await ni.getByRole('button', { name: 'Create' }).click();
  try {
    await p.getByRole('row').filter({ hasText: 'from-golden' }).getByText('Running').waitFor({ timeout: 10000 });
  } catch (e) {
    await shot(p, 'debug-boot');
    throw e;
  }
  const bytes = await p.evaluate(async () => {
    const i = (await ecs.request('DescribeInstances', { InstanceName: 'from-golden' })).Instances.Instance[0].InstanceId;
    const d = (await ecs.request('DescribeDisks', { InstanceId: i, DiskType: 'system' })).Disks.Disk[0].DiskId;
    return Array.from(await ecs.readDisk(d, 1048576 - 2, 4));
  });
  assert.deepEqual(bytes, [7, 7, 7, 7], 'the booted image has the snapshot\'s bytes');
  await shot(p, 'c11-booted-from-image');
  // Delete: refused while the image uses it, with the code shown.
  await p.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Snapshots' }).click();
  await row.getByRole('button', { name: 'Delete' }).click();
  const del = p.getByRole('dialog', { name: 'Delete Snapshot' });
  await del.getByText('Custom images use this snapshot').waitFor();
  await del.getByRole('button', { name: 'Delete' }).click();
  await del.getByText('SnapshotCreatedImage').waitFor();
  await shot(p, 'c12-delete-refused');
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('disk page: block map, space chart and data panel; settings: clock, upload rate, delete all data; images', async () => {
  const context = await browser.newContext({ acceptDownloads: true });
  const p = await openConsole(context);
  await createInstance(p);
  // Data and two snapshots through the API; the console shows what they hold.
  const disk = await p.evaluate(async () => {
    const d = (await ecs.request('DescribeDisks', { DiskType: 'data' })).Disks.Disk[0].DiskId;
    await ecs.writeDisk(d, 0, new Uint8Array(4 * 1048576).fill(1));
    const s1 = (await ecs.request('CreateSnapshot', { DiskId: d, Category: 'flash', SnapshotName: 'first' })).SnapshotId;
    await ecs.writeDisk(d, 1048576, new Uint8Array(1048576).fill(2));
    await ecs.request('CreateSnapshot', { DiskId: d, Category: 'flash', SnapshotName: 'second' });
    await ecs.writeDisk(d, 3 * 1048576, new Uint8Array(65536).fill(3));
    return d;
  });
  await p.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Disks' }).click();
  await p.getByRole('link', { name: disk }).click();
  const map = p.getByRole('img', { name: /Block map of/ });
  await map.waitFor();
  const titles = await map.locator('.cell').evaluateAll((cells) => cells.map((c) => c.title));
  assert.ok(titles.some((t) => t.includes('first captured by s-')), 'cells owned by a snapshot');
  assert.ok(titles.some((t) => t.includes('never written')), 'unwritten cells');
  if (!titles.some((t) => t.includes('written since the last snapshot'))) { await shot(p, 'debug-map'); console.log(JSON.stringify(titles.filter((t) => !t.includes('never')).slice(0, 12))); }
  assert.ok(titles.some((t) => t.includes('written since the last snapshot')), 'cells written since the last snapshot');
  await p.getByText(/exclusive \(freed by deleting it\)/).waitFor();
  await p.getByLabel('Offset', { exact: true }).fill('1048570');
  await p.getByRole('button', { name: 'View as Hex' }).click();
  const hex = await p.getByLabel('Hex view').textContent();
  assert.match(hex, /0000000ffffa  01 01 01 01 01 01 02 02/);
  await shot(p, 'c13-disk-block-map');
  // Upload a local file into the disk at an offset, then download that range.
  await p.getByLabel('Offset', { exact: true }).fill('8192');
  await p.getByLabel('Upload File at Offset').setInputFiles({ name: 'boot.bin', mimeType: 'application/octet-stream', buffer: Buffer.from('rowsnap data panel!') });
  await p.getByText(/Wrote 19 B at offset 8192/).waitFor();
  await p.getByRole('button', { name: 'View as Hex' }).click();
  await p.getByLabel('Hex view').getByText(/rowsnap data pan/).waitFor();
  await p.getByLabel('Length', { exact: true }).fill('19');
  const dl = await downloadOf(p, () => p.getByRole('button', { name: 'Download Range' }).click());
  assert.equal(dl.bytes.toString(), 'rowsnap data panel!');
  // Settings.
  await p.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Settings' }).click();
  await p.getByLabel('Days to advance').fill('2');
  await p.getByRole('button', { name: 'Advance Clock' }).click();
  await p.getByText('2.0 days ahead of real time').waitFor();
  await p.getByLabel('Upload rate in KiB/s').fill('128');
  await p.getByRole('button', { name: 'Set Upload Rate' }).click();
  await p.getByText('capped at 128.0 KiB/s').waitFor();
  await shot(p, 'c14-settings');
  // Images.
  await p.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Images' }).click();
  const ubuntu = p.getByRole('row').filter({ hasText: 'Ubuntu 22.04' });
  await ubuntu.getByRole('button', { name: 'Create Instance' }).click();
  const launch = p.getByRole('dialog', { name: 'Create Instance' });
  assert.match(await launch.getByLabel('Image').locator('option:checked').textContent(), /Ubuntu 22.04/);
  await launch.getByRole('button', { name: 'Cancel' }).click();
  // Delete all data, confirmed.
  await p.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Settings' }).click();
  await p.getByRole('button', { name: 'Delete all data' }).click();
  await p.getByRole('dialog', { name: 'Delete all data' }).getByRole('button', { name: 'Delete everything' }).click();
  await p.getByText('All data was deleted.').waitFor();
  const left = await p.evaluate(() => ecs.request('DescribeDisks', {}).then((r) => r.TotalCount));
  assert.equal(left, 0);
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('OSS page: create a bucket, upload a file with progress, download it, delete it; snapshots: search and Modify', async () => {
  const context = await browser.newContext({ acceptDownloads: true });
  const p = await openConsole(context);
  await p.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'OSS' }).click();
  await p.getByLabel('New bucket name').fill('my-files');
  await p.getByRole('button', { name: 'Create Bucket' }).click();
  await p.getByText('Bucket my-files created.').waitFor();
  const content = Buffer.alloc(9 * 1048576 + 5);
  for (let i = 0; i < content.length; i += 4096) content[i] = (i / 4096) & 255;
  await p.getByLabel('Upload File').setInputFiles({ name: 'disk.img', mimeType: 'application/octet-stream', buffer: content });
  const row = p.getByRole('row').filter({ hasText: 'disk.img' });
  await row.waitFor({ timeout: 20000 });
  await row.getByText('9.0 MiB').waitFor();
  await shot(p, 'c15-oss-page');
  const download = await downloadOf(p, () => row.getByRole('button', { name: 'Download' }).click());
  assert.equal(download.name, 'disk.img');
  const got = download.bytes;
  assert.equal(got.length, content.length);
  assert.ok(got.equals(content), 'the downloaded file has the uploaded bytes');
  await p.getByLabel('Search objects').fill('no-such-key');
  await p.getByText('No object matches the search.').waitFor();
  await p.getByText('0 of 1 objects').waitFor();
  await p.getByLabel('Search objects').fill('');
  await row.getByRole('button', { name: 'Delete' }).click();
  const delObj = p.getByRole('dialog', { name: 'Delete Object' });
  await delObj.getByText(/Its data is gone for good/).waitFor();
  await delObj.getByRole('button', { name: 'Delete' }).click();
  await row.waitFor({ state: 'detached' });
  // Snapshots: search and Modify (extend retention).
  await createInstanceViaApi(p);
  await p.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Snapshots' }).click();
  await p.getByRole('row').filter({ hasText: 'keep-me' }).waitFor();
  await p.getByLabel('Search snapshots').fill('other');
  await p.getByRole('row').filter({ hasText: 'keep-me' }).waitFor({ state: 'detached' });
  await p.getByLabel('Search snapshots').fill('');
  await p.getByLabel('Source Disk Type').selectOption('data');
  await p.getByText('0 of 2 snapshots').waitFor();
  await p.getByLabel('Source Disk Type').selectOption('system');
  await p.getByText('2 of 2 snapshots').waitFor();
  const firstRow = () => p.getByRole('row').nth(1).textContent();
  assert.match(await firstRow(), /other-one/, 'newest first');
  await p.getByRole('button', { name: 'Sort by creation time' }).click();
  assert.match(await firstRow(), /keep-me/, 'oldest first');
  const snap = p.getByRole('row').filter({ hasText: 'keep-me' });
  await snap.getByText('Released After 2 Days').waitFor();
  await snap.getByRole('button', { name: 'Modify' }).click();
  const dlg = p.getByRole('dialog', { name: 'Modify Snapshot' });
  await dlg.getByLabel('Retention Days').fill('30');
  await dlg.getByLabel('Snapshot Name').fill('kept-longer');
  await dlg.getByRole('button', { name: 'OK' }).click();
  await p.getByRole('row').filter({ hasText: 'kept-longer' }).getByText('Released After 30 Days').waitFor();
  await shot(p, 'c16-modified');
  assert.deepEqual(p.errors, []);
  await context.close();
});

async function createInstanceViaApi(p) {
  await p.evaluate(async () => {
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    const vm = (await ecs.request('RunInstances', { ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd' })).InstanceIdSets.InstanceIdSet[0];
    for (let i = 0; i < 50 && (await ecs.request('DescribeInstances', { InstanceIds: [vm] })).Instances.Instance[0].Status !== 'Running'; i++) await sleep(100);
    const d = (await ecs.request('DescribeDisks', { InstanceId: vm })).Disks.Disk[0].DiskId;
    await ecs.request('CreateSnapshot', { DiskId: d, SnapshotName: 'keep-me', Category: 'flash', RetentionDays: 2 });
    await ecs.request('CreateSnapshot', { DiskId: d, SnapshotName: 'other-one', Category: 'flash' });
  });
}

test('the region selector scopes every page', async () => {
  const context = await browser.newContext();
  const p = await openConsole(context);
  await createInstance(p);
  await p.getByLabel('Region').selectOption('cn-shanghai');
  await p.getByText('No instances yet').waitFor();
  await p.getByRole('button', { name: 'Create Instance' }).click();
  const zones = await p.getByRole('dialog', { name: 'Create Instance' }).getByLabel('Zone').locator('option').allTextContents();
  assert.deepEqual(zones, ['cn-shanghai-e', 'cn-shanghai-f', 'cn-shanghai-g']);
  await p.keyboard.press('Escape');
  await p.getByRole('dialog', { name: 'Create Instance' }).waitFor({ state: 'detached' });
  await p.getByLabel('Region').selectOption('cn-hangzhou');
  await p.getByRole('row').filter({ hasText: 'web-1' }).waitFor();
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('a snapshot has its own page: details, block map, actions; the URL survives a reload', async () => {
  const context = await browser.newContext();
  const p = await openConsole(context);
  await createInstance(p);
  const { disk, snap } = await p.evaluate(async () => {
    const d = (await ecs.request('DescribeDisks', { DiskType: 'system' })).Disks.Disk[0].DiskId;
    await ecs.writeDisk(d, 8 * 1048576, new Uint8Array(1048576).fill(9));
    const s = (await ecs.request('CreateSnapshot', { DiskId: d, SnapshotName: 'page-of-its-own', Category: 'flash' })).SnapshotId;
    return { disk: d, snap: s };
  });
  await p.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Snapshots' }).click();
  await p.getByRole('link', { name: snap }).click();
  await p.waitForURL(new RegExp(`#/snapshots/${snap}$`));
  const details = p.getByRole('table', { name: 'Snapshot Details' });
  await details.getByRole('row').filter({ hasText: 'Snapshot Name' }).getByText('page-of-its-own').waitFor();
  await details.getByRole('row').filter({ hasText: 'Category' }).getByText('Local Snapshot').waitFor();
  await details.getByRole('link', { name: disk }).waitFor();
  const map = p.getByRole('img', { name: /^Block map of \d+ blocks/ });
  await map.waitFor();
  // The 1 MiB written at 8 MiB is in the map, first captured by this snapshot.
  const owned = await map.locator('.cell').evaluateAll((cells, id) => cells.filter((c) => c.title.includes(`first captured by ${id}`)).length, snap);
  assert.ok(owned > 0, 'cells owned by the snapshot');
  await shot(p, 'c15-snapshot-page');
  await p.reload();
  await details.getByText('page-of-its-own').waitFor({ timeout: 20000 });
  // Its actions are there: Delete from the page.
  await p.getByRole('button', { name: 'Delete' }).click();
  const del = p.getByRole('dialog', { name: 'Delete Snapshot' });
  await del.getByRole('button', { name: 'Delete' }).click();
  await p.getByText('This snapshot does not exist').waitFor();
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('settings: the machine limits (most machines at once, memory) are shown, saved, and bad values refused with their code', async () => {
  const context = await browser.newContext();
  const p = await openConsole(context);
  await p.goto(server.url + '#/settings');
  const line = p.getByTestId('machine-limits');
  await line.filter({ hasText: 'At most 2 machines' }).waitFor({ timeout: 20000 });
  assert.match(await line.textContent(), /128 MiB/);
  await p.getByLabel('Most machines at once').fill('3');
  await p.getByLabel('Memory per machine in MiB').fill('192');
  await p.getByRole('button', { name: 'Save Machine Limits' }).click();
  await p.locator('.toast.ok').filter({ hasText: 'machine limits were saved' }).waitFor();
  await line.filter({ hasText: 'At most 3 machines' }).waitFor();
  assert.match(await line.textContent(), /192 MiB/);
  assert.deepEqual(await p.evaluate(() => ecs.describeMachineLimits()), { MaxMachines: 3, MemoryMiB: 192, MachinesAlive: 0 });
  await p.getByLabel('Most machines at once').fill('99');
  await p.getByRole('button', { name: 'Save Machine Limits' }).click();
  await p.locator('.toast.err').filter({ hasText: 'InvalidParameter' }).waitFor();
  const e = await p.evaluate(() => ecs.setMachineLimits({ MemoryMiB: 'lots' }).then(() => null, (e) => e.Code));
  assert.equal(e, 'InvalidParameter');
  await shot(p, 'c-settings-machines');
  assert.deepEqual(p.errors, []);
  await context.close();
});
