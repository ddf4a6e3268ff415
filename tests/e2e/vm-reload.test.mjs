// Issue 12: a reload in the middle of guest writes. The guest writes and syncs numbered files
// in a loop; the page is reloaded (the tab dies mid-write, as a host crash would); the instance,
// Running before, boots again by itself; the kernel replays ext4's journal and reports no
// error, and every file whose sync had returned before the reload is there with its content
// (the disks have a write cache that the guest's FLUSH CACHE commits: static/guest-host.js).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve, launch, openConsoleAt, shot, seedGuestStates, keepGuestStates, holdsOneDiskState, until, serialSays, consoleText as serial } from './lib.mjs';

let server, browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

const LINUX = 'rowsnap_linux_i386_busybox';

/** The highest n of the guest's "synced=n" lines so far (-1: none). */
const lastSynced = (out) => Math.max(-1, ...[...out.matchAll(/synced=(\d+)\r\n/g)].map((m) => Number(m[1])));

test('a reload in the middle of guest writes: journal replayed, no file system error, every file whose sync returned is there', { timeout: 900_000 }, async () => {
  const context = await browser.newContext();
  const p = await openConsoleAt(server.url, context, '#/instances');
  // The machine states earlier guest tests saved (one cold boot per disk layout in a run).
  const seeded = await seedGuestStates(p);
  await until(p, async (img) => (await ecs.request('DescribeImages', { ImageId: img })).Images.Image.length === 1, LINUX, 60_000, 'the Linux image');
  const id = await p.evaluate(async (img) => (await ecs.request('RunInstances', { ImageId: img, InstanceType: 'ecs.t6-c1m1.large' })).InstanceIdSets.InstanceIdSet[0], LINUX);
  await serialSays(p, id, 'rowsnap# ');
  const sysBytes = await p.evaluate(async (id) => (await ecs.request('DescribeDisks', { InstanceId: id })).Disks.Disk[0].Size * 2 ** 30, id);
  assert.equal(await p.evaluate((id) => rowsnapHost.warm(id), id), holdsOneDiskState(seeded, sysBytes), 'a machine state an earlier test kept is used');
  // Files written and synced one after another, each said once synced (the number is the
  // shell's: the echo of the typed line has "$i", never a digit).
  await p.evaluate((id) => ecs.consoleWrite(id,
    'mkdir -p /root/w; i=0; while true; do echo "content-$i" > /root/w/f$i; dd if=/dev/zero of=/root/w/pad$i bs=4k count=16 2>/dev/null; sync; echo "synced=$i"; i=$((i+1)); done\n'), id);
  await until(p, async (id) => /synced=8\r\n/.test(await ecs.consoleRead(id)), id, 120_000, 'eight files synced');
  // The guest flushes its disk's write cache on sync (FLUSH CACHE held until the commit).
  assert.ok(await p.evaluate((id) => rowsnapHost.flushes(id), id) > 0, 'the guest sent FLUSH CACHE');
  const before = lastSynced(await serial(p, id));
  // The tab dies mid-write, at once: a sync that returned is on disk (no grace period).
  await p.reload();
  await p.getByTestId('db-status').filter({ hasText: 'Database ready' }).waitFor({ timeout: 30_000 });
  await serialSays(p, id, 'rowsnap: boot #2');
  await serialSays(p, id, 'rowsnap# ');
  const check = `echo "wce=$(dmesg | grep -c 'Write cache: enabled')"; echo "errors=$(dmesg | grep -ci 'ext4-fs error')"; ok=0; for i in $(seq 0 ${before}); do [ "$(cat /root/w/f$i)" = "content-$i" ] && ok=$((ok+1)); done; echo "kept=$ok"; dmesg | grep -i 'ext4-fs (sda' | tail -3; echo done-$((6*7))\n`;
  await p.evaluate(([id, check]) => ecs.consoleWrite(id, check), [id, check]);
  await serialSays(p, id, 'done-42', 60_000);
  const out = await serial(p, id);
  assert.match(out, new RegExp(`kept=${before + 1}\\r\\n`), `every file synced before the reload (0..${before}) is whole:\n${out.slice(-1500)}`);
  assert.match(out, /errors=0\r\n/, 'no ext4 error in the kernel log');
  assert.match(out, /wce=[1-9]\d*\r\n/, 'Linux sees the disk\'s write cache enabled');
  assert.match(out, /EXT4-fs \(sda\): recovery complete/, 'the journal was replayed at mount (the tab died mid-write)');
  await shot(p, 'vm-reload-after');
  await keepGuestStates(p);
  await context.close();
});
