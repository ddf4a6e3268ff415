// Issue 24: errors pause, never lie. A guest on a disk encrypted under a passphrase key writes
// and syncs files in a loop; the key is locked while it runs: the machine pauses (its request
// waits, its clock stands still), DescribeInstances and the console say why, the Resume button
// retries (and it stays paused: the key is still locked); after more than 2 minutes the key is
// unlocked and the machine goes on by itself. The guest noticed nothing: no ata or ext4 error,
// no I/O error, and every file whose sync returned is whole.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve, launch, openConsoleAt, shot, until, serialSays, consoleText as serial } from './lib.mjs';

let server, browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

const LINUX = 'rowsnap_linux_i386_busybox';
const PAUSE_MS = 130_000;
const RETRY_SLACK = 3000; // the host retries every 2 s

const lastSynced = (out) => Math.max(-1, ...[...out.matchAll(/synced=(\d+) /g)].map((m) => Number(m[1])));
/** The guest's uptime (s) when it said file n synced. */
const upAt = (out, n) => Number(out.match(new RegExp(`synced=${n} up=([\\d.]+)\r\n`))[1]);
const vm = (p, id) => p.evaluate(async (id) => {
  const i = (await ecs.request('DescribeInstances', { InstanceIds: [id] })).Instances.Instance[0];
  return { status: i.Status, vm: i.VmStatus, reason: i.VmPauseReason };
}, id);

test('a key locked under a running machine pauses it for minutes; unlocked, it goes on and the guest noticed nothing', { timeout: 900_000 }, async () => {
  const context = await browser.newContext();
  const p = await openConsoleAt(server.url, context, '#/instances');
  await until(p, async (img) => (await ecs.request('DescribeImages', { ImageId: img })).Images.Image.length === 1, LINUX, 60_000, 'the Linux image');
  const { id, key } = await p.evaluate(async (img) => {
    const { KeyId } = await ecs.createKey('vm-pause', 'pause passphrase');
    const id = (await ecs.request('RunInstances', { ImageId: img, InstanceType: 'ecs.t6-c1m1.large',
      'SystemDisk.Encrypted': true, 'SystemDisk.KMSKeyId': KeyId })).InstanceIdSets.InstanceIdSet[0];
    return { id, key: KeyId };
  }, LINUX);
  await serialSays(p, id, 'rowsnap# ');
  const disk = await p.evaluate(async (id) => (await ecs.request('DescribeDisks', { InstanceId: id })).Disks.Disk[0], id);
  assert.deepEqual([disk.Encrypted, disk.KMSKeyId], [true, key], 'the system disk is encrypted under the passphrase key');
  await p.evaluate((id) => ecs.consoleWrite(id,
    'mkdir -p /root/w; i=0; while true; do echo "content-$i" > /root/w/f$i; dd if=/dev/zero of=/root/w/pad$i bs=4k count=8 2>/dev/null; sync; echo "synced=$i up=$(cut -d" " -f1 /proc/uptime)"; i=$((i+1)); done\n'), id);
  await until(p, async (id) => /synced=3 /.test(await ecs.consoleRead(id)), id, 120_000, 'four files synced');

  // Locked under the running machine: it pauses at its next commit, and says why.
  await p.evaluate((k) => ecs.lockKey(k), key);
  const pausedAt = Date.now();
  await until(p, async (id) => (await ecs.request('DescribeInstances', { InstanceIds: [id] })).Instances.Instance[0].VmStatus === 'paused', id, 30_000, 'the machine paused');
  assert.deepEqual(await vm(p, id), { status: 'Running', vm: 'paused', reason: 'KeyLocked' }, 'ECS keeps Running; rowsnap says paused and why');
  assert.equal(await p.evaluate((id) => rowsnapHost.paused(id), id), 'KeyLocked');
  // It is really paused: the guest's loop does not move.
  const held = lastSynced(await serial(p, id));
  await p.waitForTimeout(10_000);
  assert.equal(lastSynced(await serial(p, id)), held, 'no sync returns while its commit waits');
  // The console says it in words; Resume retries now (still locked: still paused).
  await p.goto(`${server.url}#/instances`);
  await p.getByTestId('vm-paused').filter({ hasText: 'paused: a disk\'s KMS key is locked' }).waitFor({ timeout: 20_000 });
  await shot(p, 'vm-pause-list');
  await p.goto(`${server.url}#/instances/${id}`);
  await p.getByTestId('paused').filter({ hasText: 'Paused: a disk\'s KMS key is locked' }).waitFor({ timeout: 20_000 });
  await p.getByTestId('resume').click();
  await p.waitForTimeout(RETRY_SLACK);
  assert.deepEqual(await vm(p, id), { status: 'Running', vm: 'paused', reason: 'KeyLocked' }, 'Resume retried, the key is still locked');
  await shot(p, 'vm-pause-instance');

  // More than 2 minutes paused (past libata's 30 s and the 60 s of a flush), then unlocked.
  await p.waitForTimeout(Math.max(0, PAUSE_MS - (Date.now() - pausedAt)));
  assert.equal(lastSynced(await serial(p, id)), held, 'still held after 2 minutes');
  await p.evaluate((k) => ecs.unlockKey(k, 'pause passphrase'), key);
  await until(p, async (id) => (await ecs.request('DescribeInstances', { InstanceIds: [id] })).Instances.Instance[0].VmStatus === 'live', id, 30_000, 'the machine going on by itself');
  const resumedAt = Date.now();
  await until(p, async ([id, n]) => [...(await ecs.consoleRead(id)).matchAll(/synced=(\d+) /g)].some((m) => Number(m[1]) >= n), [id, held + 3], 120_000, 'three more files synced');
  // The guest's clock stood still: its uptime moved far less than the pause (the sync that
  // waited through it took a few seconds of its time).
  const seen = await serial(p, id);
  const guestGap = upAt(seen, held + 1) - upAt(seen, held);
  assert.ok(resumedAt - pausedAt > PAUSE_MS, 'paused for more than 2 minutes');
  assert.ok(guestGap < 30, `the guest's clock moved ${guestGap} s across a pause of ${(resumedAt - pausedAt) / 1000} s`);
  // The loop is stopped; the guest's kernel log has no trace of the pause.
  await p.evaluate((id) => ecs.consoleWrite(id, '\x03'), id);
  const last = lastSynced(await serial(p, id));
  await p.evaluate(([id, last]) => ecs.consoleWrite(id,
    `ok=0; for i in $(seq 0 ${last}); do [ "$(cat /root/w/f$i)" = "content-$i" ] && ok=$((ok+1)); done; echo "kept=$ok"; echo "trouble=$(dmesg | grep -ciE 'ata[0-9.]+: .*(timeout|failed|exception|reset)|ext4-fs error|I/O error|remount.*read-only|blocked for more than|hung_task')"; echo checked-$((6*7))\n`), [id, last]);
  await serialSays(p, id, 'checked-42', 60_000);
  const out = await serial(p, id);
  assert.match(out, new RegExp(`kept=${last + 1}\\r\\n`), `every synced file is whole:\n${out.slice(-1500)}`);
  assert.match(out, /trouble=0\r\n/, `no ata, ext4 or I/O error in the kernel log:\n${out.slice(-1500)}`);
  assert.deepEqual(p.errors, []);
  await context.close();
});
