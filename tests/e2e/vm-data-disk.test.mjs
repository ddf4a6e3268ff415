// Issue 12: a data disk made in one guest and read in another. Linux boots in the page with a
// data disk; in the guest the disk gets a file system and a file; a snapshot of the disk is
// taken; a disk made from that snapshot is attached to a second instance, which mounts it
// after its next boot and reads the file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve, launch, shot, openConsoleAt, seedGuestStates, keepGuestStates, BOOT_MS, until, serialSays, statusIs } from './lib.mjs';

let server, browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

const LINUX = 'rowsnap_linux_i386_busybox';

test('a file system made on a data disk in one guest is read in another from a disk made from its snapshot', { timeout: 900_000 }, async () => {
  const context = await browser.newContext();
  const p = await openConsoleAt(server.url, context, '#/instances');
  // The machine states earlier guest tests saved (one cold boot per disk layout in a run).
  await seedGuestStates(p);
  await until(p, async (img) => (await ecs.request('DescribeImages', { ImageId: img })).Images.Image.length === 1, LINUX, 60_000, 'the Linux image');
  const a = await p.evaluate(async (img) => {
    const id = (await ecs.request('RunInstances', { ImageId: img, InstanceType: 'ecs.t6-c1m1.large', ZoneId: 'cn-hangzhou-h',
      DataDisk: [{ Size: 20, Category: 'cloud_essd' }] })).InstanceIdSets.InstanceIdSet[0];
    const disks = (await ecs.request('DescribeDisks', { InstanceId: id })).Disks.Disk.sort((x, y) => x.Device.localeCompare(y.Device));
    return { id, data: disks[1].DiskId };
  }, LINUX);
  await statusIs(p, a.id, 'Running');
  // The data disk is named after the system disk: the guest's /init probes the disks in IDE order
  // (when the SCSI disk driver probed them in parallel, the data disk was sda in 2 of 5 cold boots).
  await serialSays(p, a.id, 'rowsnap# ');
  await p.evaluate((id) => ecs.consoleWrite(id, 'readlink /sys/block/sda/device; readlink /sys/block/sdb/device; echo named-$((2+3))\n'), a.id);
  await serialSays(p, a.id, 'named-5', 60_000);
  assert.match(await p.evaluate((id) => ecs.consoleRead(id), a.id), /\/0:0:0:0\r\n[^\r\n]*\/0:0:1:0\r\n/);
  // A 16 MiB ext2 file system at the start of the 20 GiB disk, a file on it, unmounted.
  await p.evaluate((id) => ecs.consoleWrite(id,
    'mke2fs -q /dev/sdb 16384 && mkdir -p /mnt/d && mount /dev/sdb /mnt/d && echo made-in-guest-a > /mnt/d/hello.txt && sync && umount /mnt/d && echo made-$((3+4))\n'), a.id);
  await serialSays(p, a.id, 'made-7', 120_000);
  // Its snapshot (the guest's writes applied first), a disk from it, a second instance.
  const b = await p.evaluate(async ({ data, img }) => {
    const sid = (await ecs.request('CreateSnapshot', { DiskId: data, SnapshotName: 'fs-made', Category: 'flash' })).SnapshotId;
    await t.until('DescribeSnapshots', { SnapshotIds: [sid] }, (r) => r.Snapshots.Snapshot[0].Status, 'accomplished');
    const disk = await t.disk({ ZoneId: 'cn-hangzhou-h', SnapshotId: sid, DiskCategory: 'cloud_essd', DiskName: 'copy-of-fs' });
    const id = (await ecs.request('RunInstances', { ImageId: img, InstanceType: 'ecs.t6-c1m1.large', ZoneId: 'cn-hangzhou-h' })).InstanceIdSets.InstanceIdSet[0];
    return { id, disk, sid };
  }, { data: a.data, img: LINUX });
  await statusIs(p, b.id, 'Running');
  await serialSays(p, b.id, 'rowsnap# ');
  // Attached while it runs: the disk appears at the next boot (IDE has no hot plug).
  await p.evaluate(async ({ id, disk }) => {
    await ecs.request('AttachDisk', { DiskId: disk, InstanceId: id });
    await t.until('DescribeDisks', { DiskIds: [disk] }, (r) => r.Disks.Disk[0].Status, 'In_use');
    await ecs.request('RebootInstance', { InstanceId: id });
  }, b);
  await until(p, async (id) => { try { return (await ecs.consoleRead(id)).includes('rowsnap: boot #2'); } catch (e) { return false; } }, b.id, BOOT_MS, 'the second boot');
  await serialSays(p, b.id, 'rowsnap# ');
  await p.evaluate((id) => ecs.consoleWrite(id, 'mkdir -p /mnt/d && mount /dev/sdb /mnt/d && cat /mnt/d/hello.txt && echo read-$((4+5))\n'), b.id);
  await serialSays(p, b.id, 'read-9', 120_000);
  const out = await p.evaluate((id) => ecs.consoleRead(id), b.id);
  assert.match(out, /\r\nmade-in-guest-a\r\n/);
  // The first guest's disk is untouched by the second's mount (it is another disk).
  assert.equal(await p.evaluate(async (d) => (await ecs.request('DescribeDisks', { DiskIds: [d] })).Disks.Disk[0].InstanceId, b.disk), b.id);
  await p.goto(`${server.url}#/instances`);
  await shot(p, 'vm-data-disk-two-guests');
  assert.deepEqual(p.errors, []);
  await keepGuestStates(p);
  await context.close();
});
