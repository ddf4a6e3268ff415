// Issue 24: storage full never bricks the console, and a guest's synced files survive it. As it
// was found: Chromium on a profile on a small tmpfs (the tests run as root); a Linux guest writes
// and syncs files; the store is filled from a plain disk until StorageQuotaExceeded; the guest
// writes and syncs on: it pauses (StorageFull) instead of going on as if stored; the tab is closed
// and reopened while full; deleting the filler instance succeeds and frees space; the guest goes
// on by itself; every file whose sync returned is whole and ext4 logs no error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serve, openConsoleAt, shot, serialSays, until, BROWSER, startChromium, killChromium, consoleText as serial } from './lib.mjs';

const LINUX = 'rowsnap_linux_i386_busybox';
const SIMULATED = 'aliyun_3_x64_20G_alibase_20240819.vhd';
const TMPFS_MB = 300;

const lastSynced = (out) => Math.max(-1, ...[...out.matchAll(/synced=(\d+)\r\n/g)].map((m) => Number(m[1])));
const vmOf = (p, id) => p.evaluate(async (id) => {
  const i = (await ecs.request('DescribeInstances', { InstanceIds: [id] })).Instances.Instance[0];
  return `${i.VmStatus}/${i.VmPauseReason || ''}`;
}, id);
const usage = (p) => p.evaluate(async () => (await navigator.storage.estimate()).usage);
/** The guest's loop: files f$i with known content and 1 MiB of noise each, each followed by sync. */
const writeLoop = (from, to) => `i=${from}; while [ $i -lt ${to} ]; do echo "content-$i" > /root/w/f$i; dd if=/dev/urandom of=/root/w/pad$i bs=64k count=16 2>/dev/null; sync; echo "synced=$i"; i=$((i+1)); done\n`;

// Not in make test yet (make test-full runs them; issue 24's note): LevelDB gives a delete's room
// back when it compacts, at once in most runs and minutes later in some, so the guest's resume
// after the delete is not bounded in time; and a file system that fills mid-commit makes
// Chromium delete the site's IndexedDB data (electron#41877), which nothing in a page prevents.
const FULL = process.env.ROWSNAP_FULL || '';
const SKIP = (BROWSER !== 'chromium' && 'Chromium only: started by hand on a tmpfs profile')
  || (process.getuid() !== 0 && 'needs root to mount a tmpfs');

test('the store at its quota: the guest pauses, the tab reopens, a delete frees space, the guest goes on with every synced file',
  { timeout: 1_200_000, skip: SKIP || (!FULL && 'make test-full runs it') }, () => full(null));

// The file system fills before the browser's quota (another program's file takes the room).
test('the file system full: the same, through the closed connection',
  { timeout: 1_200_000, skip: SKIP || (FULL !== 'fs' && 'Chromium deletes the data (electron#41877): ROWSNAP_FULL=fs shows it') }, () => full(64));

/** The scenario; with `leaveMiB`, a file on the profile's file system leaves only that much free before the fill. */
async function full(leaveMiB) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rowsnap-full-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_MB}m`, 'tmpfs', dir], { encoding: 'utf8' });
  assert.equal(mounted.status, 0, `mount a ${TMPFS_MB} MB tmpfs: ${mounted.stderr}`);
  const profile = path.join(dir, 'profile');
  fs.mkdirSync(profile);
  const server = await serve();
  const b = { ...(await startChromium(profile)), profile };
  const free = () => `${(fs.statfsSync(dir).bavail * fs.statfsSync(dir).bsize) >> 20} MiB free`;
  let chromeSaid = '';
  b.child.stderr.on('data', (d) => { chromeSaid += d; });
  try {
    // Persistent storage, as a person who keeps disks here grants it: otherwise Chromium may evict
    // the whole site when its usage nears the quota (a best-effort bucket).
    const cdp = await b.browser.newBrowserCDPSession();
    await cdp.send('Browser.grantPermissions', { origin: new URL(server.url).origin, permissions: ['durableStorage'] });
    let p = await openConsoleAt(server.url, b.context, '#/instances');
    const early = [];
    p.on('console', (m) => early.push(`${m.type()}: ${m.text()}`));
    assert.equal(await p.evaluate(() => navigator.storage.persist()), true, 'persistent storage granted');
    await until(p, async (img) => (await ecs.request('DescribeImages', { ImageId: img })).Images.Image.length === 1, LINUX, 60_000, 'the Linux image');
    const id = await p.evaluate(async (img) => (await ecs.request('RunInstances', { ImageId: img, InstanceType: 'ecs.t6-c1m1.large' })).InstanceIdSets.InstanceIdSet[0], LINUX);
    await serialSays(p, id, 'rowsnap# ');
    // Files synced while there is room.
    await p.evaluate(([id, cmd]) => ecs.consoleWrite(id, cmd), [id, `mkdir -p /root/w; ${writeLoop(0, 4)}`]);
    await serialSays(p, id, 'synced=3', 120_000);

    if (leaveMiB) {
      const hog = Math.max(0, fs.statfsSync(dir).bavail * fs.statfsSync(dir).bsize - (leaveMiB << 20));
      const fd = fs.openSync(path.join(dir, 'hog'), 'w');
      for (let left = hog; left > 0; left -= 1 << 20) fs.writeSync(fd, Buffer.alloc(Math.min(left, 1 << 20), 1));
      fs.closeSync(fd);
      console.error(`vm-full: another program's file leaves ${free()}`);
    }
    // The filler: a simulated instance's data disk written with incompressible 4 MiB pieces
    // until the browser refuses (the profile's file system is full, whatever the quota says).
    const fill = await p.evaluate(async (img) => {
      const filler = (await ecs.request('RunInstances', { ImageId: img, InstanceType: 'ecs.g7.large', DataDisk: [{ Size: 2000, Category: 'cloud_essd' }] })).InstanceIdSets.InstanceIdSet[0];
      for (let i = 0; i < 200 && (await ecs.request('DescribeInstances', { InstanceIds: [filler] })).Instances.Instance[0].Status !== 'Running'; i++) await t.sleep(100);
      const disk = (await ecs.request('DescribeDisks', { InstanceId: filler })).Disks.Disk.find((d) => d.Type === 'data').DiskId;
      const piece = new Uint8Array(4 << 20);
      let at = 0;
      for (;;) {
        for (let k = 0; k < piece.length; k += 65536) crypto.getRandomValues(piece.subarray(k, k + 65536));
        try { await ecs.writeDisk(disk, at, piece); } catch (e) { return { filler, disk, at, code: e.Code, kind: e.Kind, estimate: await navigator.storage.estimate() }; }
        at += piece.length;
        if (at > (1 << 30)) return { filler, disk, at, code: 'never refused' };
      }
    }, SIMULATED);
    console.error(`vm-full: ${free()} after the fill`);
    console.error(early.join('\n'));
    console.error(`vm-full: filled ${fill.at >> 20} MiB, then ${fill.code} (usage ${fill.estimate && fill.estimate.usage >> 20} MiB, reported quota ${fill.estimate && fill.estimate.quota >> 20} MiB)`);
    assert.deepEqual([fill.code, fill.kind], ['StorageQuotaExceeded', 'QuotaExceeded']);
    assert.ok(fill.at > 64 << 20, `the filler wrote ${fill.at >> 20} MiB before the refusal`);

    // The guest writes and syncs on: it pauses at its first commit that does not fit.
    await p.evaluate(([id, cmd]) => ecs.consoleWrite(id, cmd), [id, writeLoop(4, 1000)]);
    await until(p, async (id) => (await ecs.request('DescribeInstances', { InstanceIds: [id] })).Instances.Instance[0].VmStatus === 'paused', id, 120_000, 'the machine paused');
    assert.equal(await vmOf(p, id), 'paused/StorageFull');
    const synced = lastSynced(await serial(p, id));
    console.error(`vm-full: the guest paused after synced=${synced}; ${free()}`);
    assert.ok(synced >= 3);
    await p.goto(`${server.url}#/instances`);
    await p.getByTestId('vm-paused').filter({ hasText: 'paused: browser storage is full' }).waitFor({ timeout: 20_000 });
    await shot(p, 'vm-full-paused');

    // The tab is closed and reopened while full: the console opens and answers; the instance
    // boots again in it (the closed tab's machine is gone with the writes no flush covered).
    await p.close();
    p = await openConsoleAt(server.url, b.context, '#/instances');
    const said = [];
    p.on('console', (m) => said.push(`${m.type()}: ${m.text()}`));
    const dump = async () => console.error(`vm-full: ${await vmOf(p, id).catch((e) => e.message)} ${JSON.stringify(await p.evaluate(async (id) => (await ecs.request('DescribeInstances', { InstanceIds: [id] })).Instances.Instance[0], id).catch((e) => e.message))}\n${said.join('\n')}`);
    await p.getByTestId('db-status').filter({ hasText: 'Database ready' }).waitFor({ timeout: 60_000 });
    await p.getByText(id).first().waitFor({ timeout: 30_000 });
    await until(p, async (id) => ['live', 'paused'].includes((await ecs.request('DescribeInstances', { InstanceIds: [id] })).Instances.Instance[0].VmStatus), id, 240_000, 'the machine booting again').catch(async (e) => { await dump(); throw e; });
    await shot(p, 'vm-full-reopened');

    // Deleting the filler (and its disk) succeeds and frees space; the guest goes on by itself.
    console.error(`vm-full: reopened, ${free()}`);
    const before = await usage(p);
    await p.evaluate(async (filler) => ecs.request('DeleteInstance', { InstanceId: filler, Force: true }), fill.filler);
    // LevelDB gives deleted records' room back as it compacts: a part at once, the rest later.
    await until(p, async (want) => (await navigator.storage.estimate()).usage < want, before - (16 << 20), 120_000, 'the space freed').catch(async (e) => {
      for (let i = 0; i < 12; i++) { console.error(`vm-full: usage ${(await usage(p)) >> 20} MiB, ${free()}`); await p.waitForTimeout(10_000); }
      await dump(); throw e;
    });
    console.error(`vm-full: deleted, ${free()}`);
    console.error(`vm-full: usage ${before >> 20} MiB -> ${(await usage(p)) >> 20} MiB after the delete`);
    await serialSays(p, id, 'rowsnap# ', 240_000).catch(async (e) => { await dump(); console.error((await serial(p, id)).slice(-3000)); throw e; });
    assert.equal(await vmOf(p, id), 'live/');
    await p.evaluate(([id, n]) => ecs.consoleWrite(id,
      `ok=0; for i in $(seq 0 ${n}); do [ "$(cat /root/w/f$i)" = "content-$i" ] && ok=$((ok+1)); done; echo "kept=$ok"; echo "errors=$(dmesg | grep -ci -e 'ext4-fs error' -e 'I/O error' -e 'ata.*failed')"; echo checked-$((6*7))\n`), [id, synced]);
    await serialSays(p, id, 'checked-42', 120_000);
    const out = await serial(p, id);
    assert.match(out, new RegExp(`kept=${synced + 1}\\r\\n`), `every file synced before the storage filled is whole:\n${out.slice(-1500)}`);
    assert.match(out, /errors=0\r\n/, out.slice(-1500));
    // And the disk takes writes again.
    await p.evaluate(([id, cmd]) => ecs.consoleWrite(id, cmd), [id, `echo again > /root/w/again; sync; echo "again=$(cat /root/w/again)"\n`]);
    await serialSays(p, id, 'again=again', 120_000);
    await shot(p, 'vm-full-after');
    assert.deepEqual(p.errors, []);
  } finally {
    console.error(`vm-full: Chromium said:\n${chromeSaid.split('\n').filter((l) => /indexed|leveldb|quota|evict|corrupt|space|storage/i.test(l) && !/CONSOLE/.test(l)).slice(-60).join('\n')}`);
    await killChromium(b).catch(() => {});
    await server.close();
    spawnSync('umount', [dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
