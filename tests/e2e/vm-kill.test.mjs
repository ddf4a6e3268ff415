// Issue 24: the guest's fsync means durable. A guest writes and syncs numbered files in a loop;
// the browser's whole process group is SIGKILLed at a random instant (no unload, no last
// commit); Chromium restarts on the same profile; the instance, Running before, boots by itself;
// every file whose sync had returned is whole and ext4 logs no error. Several kills, on a plain
// and on an encrypted system disk; at the end the instance is stopped, its disk snapshotted, and
// `e2fsck -fn` of the file system read out of the snapshot is clean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serve, openConsoleAt, shot, seedGuestStates, keepGuestStates, serialSays, until, BROWSER, startChromium as start, killChromium as kill, consoleText as serial } from './lib.mjs';

const LINUX = 'rowsnap_linux_i386_busybox';
const KILLS = 3;


/** The files each round synced (round r: /root/w/r<r>-f0..f<n>): the guest checks them all. */
function checkCommand(rounds) {
  const loops = rounds.map((n, r) => `for i in $(seq 0 ${n}); do [ "$(cat /root/w/r${r}-f$i 2>/dev/null)" = "round-${r}-content-$i" ] && ok=$((ok+1)); done;`).join(' ');
  return `ok=0; ${loops} echo "kept=$ok"; echo "errors=$(dmesg | grep -ci 'ext4-fs error')"; dmesg | grep -i 'ext4-fs (sda' | tail -3; echo checked-$((6*7))\n`;
}

for (const encrypted of [false, true]) {
  const kind = encrypted ? 'an encrypted' : 'a plain';
  test(`SIGKILL of the browser while ${kind} disk's guest syncs files: every synced file is whole, e2fsck clean`, { timeout: 1_200_000, skip: BROWSER !== 'chromium' && 'Chromium only: its process group is killed and restarted by hand' }, async () => {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'rowsnap-kill-'));
    const server = await serve();
    let b = { ...(await start(profile)), profile };
    try {
      let p = await openConsoleAt(server.url, b.context, '#/instances');
      await seedGuestStates(p);
      await until(p, async (img) => (await ecs.request('DescribeImages', { ImageId: img })).Images.Image.length === 1, LINUX, 60_000, 'the Linux image');
      const id = await p.evaluate(async ([img, encrypted]) => (await ecs.request('RunInstances', {
        ImageId: img, InstanceType: 'ecs.t6-c1m1.large', ...(encrypted ? { 'SystemDisk.Encrypted': true } : {}),
      })).InstanceIdSets.InstanceIdSet[0], [LINUX, encrypted]);
      const rounds = []; // the last file each round saw synced
      for (let k = 0; k < KILLS; k++) {
        await serialSays(p, id, `rowsnap: boot #${k + 1}`);
        await serialSays(p, id, 'rowsnap# ');
        if (k > 0) {
          // After the kill: the files of every round so far are whole, and ext4 logged no error.
          await p.evaluate(([id, c]) => ecs.consoleWrite(id, c), [id, checkCommand(rounds)]);
          await serialSays(p, id, 'checked-42', 120_000);
          const out = await serial(p, id);
          const want = rounds.reduce((s, n) => s + n + 1, 0);
          assert.match(out, new RegExp(`kept=${want}\\r\\n`), `after kill ${k}, every file synced before a kill (rounds ${JSON.stringify(rounds)}) is whole:\n${out.slice(-1500)}`);
          assert.match(out, /errors=0\r\n/, 'no ext4 error in the kernel log');
          assert.match(out, /EXT4-fs \(sda\): recovery complete/, 'the journal was replayed at mount (the browser died mid-write)');
        }
        // Files written and synced one after another (the number is the shell's: the typed
        // line's echo has "$i", never a digit).
        await p.evaluate(([id, r]) => ecs.consoleWrite(id,
          `mkdir -p /root/w; i=0; while true; do echo "round-${r}-content-$i" > /root/w/r${r}-f$i; dd if=/dev/zero of=/root/w/r${r}-pad$i bs=4k count=8 2>/dev/null; sync; echo "r${r}-synced=$i"; i=$((i+1)); done\n`), [id, k]);
        await until(p, async ([id, r]) => new RegExp(`r${r}-synced=2\\r\\n`).test(await ecs.consoleRead(id)), [id, k], 120_000, 'three files synced');
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 3000)));
        const out = await serial(p, id);
        rounds.push(Math.max(...[...out.matchAll(new RegExp(`r${k}-synced=(\\d+)\\r\\n`, 'g'))].map((m) => Number(m[1]))));
        assert.ok(await p.evaluate((id) => rowsnapHost.flushes(id), id) > 0, 'the guest sent FLUSH CACHE');
        // The whole browser dies at once, mid-write.
        await kill(b);
        b = { ...(await start(profile)), profile };
        p = await openConsoleAt(server.url, b.context, '#/instances');
      }
      // The last kill's files, then a clean stop; the disk's file system checked out of a snapshot.
      await serialSays(p, id, `rowsnap: boot #${KILLS + 1}`);
      await serialSays(p, id, 'rowsnap# ');
      await p.evaluate(([id, c]) => ecs.consoleWrite(id, c), [id, checkCommand(rounds)]);
      await serialSays(p, id, 'checked-42', 120_000);
      const out = await serial(p, id);
      assert.match(out, new RegExp(`kept=${rounds.reduce((s, n) => s + n + 1, 0)}\\r\\n`), `every synced file is whole:\n${out.slice(-1500)}`);
      assert.match(out, /errors=0\r\n/);
      await shot(p, `vm-kill-${encrypted ? 'encrypted' : 'plain'}`);
      const sid = await p.evaluate(async (id) => {
        await ecs.request('StopInstance', { InstanceId: id });
        for (let i = 0; i < 300 && (await ecs.request('DescribeInstances', { InstanceIds: [id] })).Instances.Instance[0].Status !== 'Stopped'; i++) await t.sleep(200);
        const disk = (await ecs.request('DescribeDisks', { InstanceId: id })).Disks.Disk.find((d) => d.Type === 'system');
        const sid = (await ecs.request('CreateSnapshot', { DiskId: disk.DiskId, SnapshotName: 'after-kills' })).SnapshotId;
        for (let i = 0; i < 600 && (await ecs.request('DescribeSnapshots', { SnapshotIds: [sid] })).Snapshots.Snapshot[0].Status !== 'accomplished'; i++) await t.sleep(200);
        return sid;
      }, id);
      const image = await readFileSystem(p, sid);
      const file = path.join(profile, 'after-kills.ext4');
      fs.writeFileSync(file, image);
      // e2fsprogs comes with scripts/install.sh (the guest build needs it); /usr/sbin may be off PATH.
      const e2fsck = ['/usr/sbin/e2fsck', '/sbin/e2fsck'].find((f) => fs.existsSync(f)) || 'e2fsck';
      const fsck = spawnSync(e2fsck, ['-fn', file], { encoding: 'utf8' });
      assert.equal(fsck.status, 0, `e2fsck -fn of the disk read out of the snapshot:\n${fsck.stdout}${fsck.stderr}`);
      assert.deepEqual(p.errors, []);
      await keepGuestStates(p);
    } finally {
      await kill(b).catch(() => {});
      await server.close();
      fs.rmSync(profile, { recursive: true, force: true });
    }
  });
}

/** The ext4 file system at the start of the snapshot's disk (its size from the superblock). */
async function readFileSystem(p, sid) {
  const piece = async (offset, length) => Buffer.from(await p.evaluate(async ([sid, offset, length]) => {
    const a = await ecs.readSnapshot(sid, offset, length);
    let s = '';
    for (let i = 0; i < a.length; i += 0x8000) s += String.fromCharCode(...a.subarray(i, i + 0x8000));
    return btoa(s);
  }, [sid, offset, length]), 'base64');
  const sb = await piece(1024, 1024);
  assert.equal(sb.readUInt16LE(56), 0xEF53, 'an ext4 superblock');
  const bytes = sb.readUInt32LE(4) * (1024 << sb.readUInt32LE(24));
  const parts = [];
  for (let at = 0; at < bytes; at += 4 << 20) parts.push(await piece(at, Math.min(4 << 20, bytes - at)));
  return Buffer.concat(parts);
}
