// KMS keys in the console, by clicking: a passphrase key made in Settings,
// an instance whose disks it encrypts (Create Instance), a disk made from
// their snapshot under it (Create Disk), shown with its key on the Disks
// list and the disk's and snapshot's pages; locking the key makes the disk
// unreadable (InvalidKMSKeyId.Locked), a wrong passphrase does not unlock it
// (its code in a toast), the right one does. Screenshots in target/e2e/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve, launch, shot, openConsoleAt, nav, exactly } from './lib.mjs';

const PASS = 'correct horse battery';
let server, browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

test('a passphrase key: create, encrypt an instance and a disk with it, lock, wrong passphrase, unlock', async () => {
  const context = await browser.newContext();
  const p = await openConsoleAt(server.url, context, '#/instances');
  await nav(p, 'Settings');
  await p.getByRole('heading', { name: 'Keys (KMS)' }).waitFor();
  // Create Key: refused until the passphrases match.
  await p.getByLabel('Key Alias').fill('team');
  await p.getByLabel('Key Passphrase').fill(PASS);
  await p.getByLabel('Confirm Passphrase').fill(PASS + '!');
  const create = p.getByRole('button', { name: 'Create Key' });
  assert.equal(await create.isDisabled(), true, 'Create Key waits for matching passphrases');
  await p.getByText('cannot be recovered').waitFor();
  await p.getByLabel('Confirm Passphrase').fill(PASS);
  await create.click();
  await p.locator('.toast.ok').filter({ hasText: 'Key team was created' }).waitFor({ timeout: 20000 });
  const keys = p.getByRole('table', { name: 'Keys' });
  const keyRow = keys.getByRole('row').filter({ hasText: 'alias/team' });
  await keyRow.getByRole('cell', { name: 'Unlocked', exact: true }).waitFor();
  await keyRow.getByRole('cell', { name: 'Passphrase', exact: true }).waitFor();
  assert.equal(await p.getByLabel('Key Alias').inputValue(), '', 'the form is emptied');
  const keyId = await keyRow.getAttribute('data-key');
  assert.match(keyId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  await shot(p, 'kms01-settings-key-created');

  // Create Instance, Encrypted under the key.
  await nav(p, exactly('Instances'));
  await p.getByRole('button', { name: 'Create Instance' }).click();
  const ci = p.getByRole('dialog', { name: 'Create Instance' });
  await ci.getByLabel('Instance Name').fill('sealed-vm');
  await ci.getByLabel('Data Disk Size (GiB)').fill('0');
  assert.equal(await ci.getByLabel('Encryption key').count(), 0, 'no key to choose until Encrypted is ticked');
  await ci.getByLabel('Encrypted').check();
  const keySelect = ci.getByLabel('Encryption key');
  await keySelect.locator('option', { hasText: 'alias/team' }).waitFor({ state: 'attached' });
  assert.deepEqual(await keySelect.locator('option').allTextContents(), ['alias/acs/ecs (default key)', 'alias/team']);
  await keySelect.selectOption({ label: 'alias/team' });
  await shot(p, 'kms02-create-instance-encrypted');
  await ci.getByRole('button', { name: 'Create' }).click();
  await ci.waitFor({ state: 'detached' });
  await p.getByRole('row').filter({ hasText: 'sealed-vm' }).getByText('Running').waitFor({ timeout: 15000 });
  const sys = await p.evaluate(async () => {
    const inst = (await ecs.request('DescribeInstances', { InstanceName: 'sealed-vm' })).Instances.Instance[0];
    const d = (await ecs.request('DescribeDisks', { InstanceId: inst.InstanceId })).Disks.Disk;
    return { instance: inst.InstanceId, disks: d.map((x) => [x.DiskId, x.Encrypted, x.KMSKeyId]) };
  });
  assert.equal(sys.disks.length, 1);
  assert.deepEqual(sys.disks[0].slice(1), [true, keyId], 'the system disk is encrypted under the key');
  // Its snapshot (made by script), then Create Disk from it by clicking.
  const snap = await p.evaluate(async (disk) => (await ecs.request('CreateSnapshot', { DiskId: disk, SnapshotName: 'sealed-snap', InstantAccess: true })).SnapshotId, sys.disks[0][0]);
  await nav(p, 'Snapshots');
  const snapRow = p.getByRole('row').filter({ hasText: 'sealed-snap' });
  await snapRow.getByRole('button', { name: 'Create Disk' }).click();
  const cd = p.getByRole('dialog', { name: 'Create Disk' });
  assert.equal(await cd.getByLabel('Encrypted').isChecked(), true, 'a disk from an encrypted snapshot is encrypted');
  assert.equal(await cd.getByLabel('Encrypted').isDisabled(), true);
  await cd.getByLabel('Encryption key').locator('option', { hasText: 'alias/team' }).waitFor({ state: 'attached' });
  assert.equal(await cd.getByLabel('Encryption key').inputValue(), keyId, "the snapshot's key is chosen first");
  await cd.getByLabel('Encryption key').selectOption({ label: 'alias/team' });
  await shot(p, 'kms03-create-disk-encrypted');
  await cd.getByRole('button', { name: 'OK' }).click();
  await cd.waitFor({ state: 'detached' });
  const disk = await p.evaluate(async (snap) => {
    const all = (await ecs.request('DescribeDisks', {})).Disks.Disk;
    return all.find((d) => d.SourceSnapshotId === snap && d.Type === 'data');
  }, snap);
  assert.ok(disk, 'Create Disk made a disk from the snapshot');
  assert.deepEqual([disk.Encrypted, disk.KMSKeyId], [true, keyId]);

  // Listed as encrypted with its key, on the list and its page; the snapshot's page too.
  await nav(p, 'Disks');
  const cell = p.locator(`tr[data-disk="${disk.DiskId}"] td[title="${keyId}"]`);
  await cell.getByText('alias/team').waitFor();
  assert.match(await cell.textContent(), /^Yes\s*alias\/team$/);
  await shot(p, 'kms04-disks-list-key');
  await p.locator(`tr[data-disk="${disk.DiskId}"]`).getByRole('link', { name: disk.DiskId }).click();
  await p.getByText(`Encrypted: Yes, key alias/team (${keyId})`, { exact: true }).waitFor();
  await p.goto(server.url + `#/snapshots/${snap}`);
  const details = p.getByRole('table', { name: 'Snapshot Details' });
  await details.getByRole('row', { name: /Encrypted/ }).getByText(`Yes, key alias/team (${keyId})`).waitFor();

  // Attached to the Running instance, it reads.
  const read = (id) => p.evaluate(async (id) => {
    try { return { ok: (await ecs.readDisk(id, 0, 16)).length }; } catch (e) { return { code: e.Code }; }
  }, id);
  await p.evaluate(async ({ instance, disk }) => {
    await t.until('DescribeDisks', { DiskIds: [disk] }, (r) => r.Disks.Disk[0].Status, 'Available');
    await ecs.request('AttachDisk', { InstanceId: instance, DiskId: disk });
    await t.until('DescribeDisks', { DiskIds: [disk] }, (r) => r.Disks.Disk[0].Status, 'In_use');
  }, { instance: sys.instance, disk: disk.DiskId });
  assert.deepEqual(await read(disk.DiskId), { ok: 16 });

  // Lock: the disk can no longer be read.
  await nav(p, 'Settings');
  await keyRow.getByRole('button', { name: 'Lock' }).click();
  await p.locator('.toast.ok').filter({ hasText: 'Key alias/team was locked' }).waitFor();
  await keyRow.getByRole('cell', { name: 'Locked', exact: true }).waitFor();
  assert.deepEqual(await read(disk.DiskId), { code: 'InvalidKMSKeyId.Locked' });
  // The default key cannot be locked: it has no Lock button.
  const defaultRow = keys.getByRole('row').filter({ hasText: 'alias/acs/ecs' });
  if (await defaultRow.count()) assert.equal(await defaultRow.getByRole('button', { name: 'Lock' }).count(), 0);
  await shot(p, 'kms05-key-locked');

  // A wrong passphrase: refused with its code; the right one unlocks.
  await keyRow.getByLabel('Passphrase for alias/team').fill('not the passphrase');
  await keyRow.getByRole('button', { name: 'Unlock' }).click();
  const wrong = p.locator('.toast.err').filter({ hasText: 'InvalidKMSKeyId.WrongPassphrase' });
  await wrong.waitFor({ timeout: 20000 });
  await shot(p, 'kms06-wrong-passphrase');
  await keyRow.getByRole('cell', { name: 'Locked', exact: true }).waitFor();
  assert.deepEqual(await read(disk.DiskId), { code: 'InvalidKMSKeyId.Locked' });
  await keyRow.getByLabel('Passphrase for alias/team').fill(PASS);
  await keyRow.getByRole('button', { name: 'Unlock' }).click();
  await p.locator('.toast.ok').filter({ hasText: 'Key alias/team was unlocked' }).waitFor({ timeout: 20000 });
  await keyRow.getByRole('cell', { name: 'Unlocked', exact: true }).waitFor();
  assert.deepEqual(await read(disk.DiskId), { ok: 16 });
  await shot(p, 'kms07-key-unlocked');
  assert.deepEqual(p.errors, []);
  await context.close();
});
