// make bench: the guest (Linux in the page) on a rowsnap disk vs the same image in an in-memory
// buffer, in the same page and run, both cold: boot to the shell prompt, and in the guest a 32 MiB
// write synced, read back after dropping caches, and 2,000 files of 4 KiB made and synced.
// Prints BENCH_JSON (merged into target/bench/engine.json by scripts/bench_report.py).
import { serve, launch, openConsoleAt } from './lib.mjs';
import { installGuest, bootMemory, run, downloadBytes, GUEST_PATH, BOOT_TIMEOUT_MS } from './guest-lib.mjs';

// The write and the read are the best of three runs each (after removing the file, after
// dropping the caches); the small files once. The workloads, each a shell command line; the time is taken on the host, from sending the line
// to its end marker on the serial console (the same way for both disks).
const PREP = 'head -c 1048576 /dev/urandom > /root/src; sync';
const WRITE = 'for i in $(seq 32); do cat /root/src; done > /root/big; sync';
const DROP = 'sync; echo 3 > /proc/sys/vm/drop_caches';
const READ = 'cat /root/big > /dev/null';
const SMALL = "mkdir -p /root/s; i=0; while [ $i -lt 2000 ]; do printf '%4096s' $i > /root/s/f$i; i=$((i+1)); done; sync";
// 200 appends of 4 KiB, each followed by fsync (dd's conv=fsync): a database's commit loop. The
// rowsnap disk has a write cache whose flush commits strictly; the in-memory one has none.
const FSYNCS = 200;
const FSYNC = `rm -f /root/log; i=0; while [ $i -lt ${FSYNCS} ]; do dd if=/dev/zero of=/root/log bs=4096 count=1 seek=$i conv=notrunc,fsync 2>/dev/null || echo fsync-failed; i=$((i+1)); done`;

const server = await serve();
const browser = await launch();
const context = await browser.newContext();
const p = await openConsoleAt(server.url, context, '#/instances');
await installGuest(p, server.url + GUEST_PATH);

async function timed(f) {
  const t = performance.now();
  await f();
  return (performance.now() - t) / 1000;
}

/** The best of three runs of `f` after `before` (the machine is shared and noisy: the best is the least disturbed). */
async function best3(before, f) {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    await before();
    best = Math.min(best, await timed(f));
  }
  return best;
}

// 1. In memory.
const mem = await bootMemory(p, 'mem');
await run(p, 'mem', PREP);
const memWrite = await best3(() => run(p, 'mem', 'rm -f /root/big; sync'), () => run(p, 'mem', WRITE, 600_000));
const memRead = await best3(() => run(p, 'mem', DROP), () => run(p, 'mem', READ, 600_000));
const memSmall = await timed(() => run(p, 'mem', SMALL, 900_000));
const memFsync = await best3(() => run(p, 'mem', 'sync'), () => run(p, 'mem', FSYNC, 600_000));
await p.evaluate(() => guest.destroy('mem'));
console.log(`memory: boot ${mem.promptSeconds.toFixed(1)} s, write ${memWrite.toFixed(2)} s, read ${memRead.toFixed(2)} s, small files ${memSmall.toFixed(2)} s, ${(FSYNCS / memFsync).toFixed(1)} fsync/s`);

// 2. On a rowsnap disk: an instance of the Linux image, through the ECS layer and the host.
const id = await p.evaluate(async () => {
  for (let i = 0; i < 120 && (await ecs.request('DescribeImages', { ImageId: 'rowsnap_linux_i386_busybox' })).Images.Image.length === 0; i++) await t.sleep(500);
  return (await ecs.request('RunInstances', { ImageId: 'rowsnap_linux_i386_busybox', InstanceType: 'ecs.t6-c1m1.large' })).InstanceIdSets.InstanceIdSet[0];
});
/** Seconds from the machine's making to the shell prompt (polled every 50 ms). */
const promptAfter = () => p.evaluate(async ([id, ms]) => {
  const end = performance.now() + ms;
  for (;;) {
    const out = await ecs.consoleRead(id).catch(() => '');
    if (out.includes('rowsnap# ')) return rowsnapHost.since(id);
    if (performance.now() > end) throw new Error('no prompt');
    await new Promise((r) => setTimeout(r, 50));
  }
}, [id, BOOT_TIMEOUT_MS]);
const rowsnapBoot = await promptAfter();
/** Runs a command line on the instance's serial console (consoleWrite/consoleRead), to its marker. */
const vmRun = (command, ms = 600_000) => p.evaluate(async ([id, command, ms]) => {
  const marker = `bench-done-${Math.random().toString(36).slice(2, 8)}`;
  const from = (await ecs.consoleRead(id)).length;
  await ecs.consoleWrite(id, `${command}; echo "${marker.slice(0, 6)}""${marker.slice(6)}"\n`);
  const end = performance.now() + ms;
  while (!(await ecs.consoleRead(id)).slice(Math.max(0, from - 100)).includes(marker + '\r\n')) {
    if (performance.now() > end) throw new Error('no ' + marker);
    await new Promise((r) => setTimeout(r, 50));
  }
}, [id, command, ms]);
await vmRun(PREP);
const vmWrite = await best3(() => vmRun('rm -f /root/big; sync'), () => vmRun(WRITE));
const vmRead = await best3(() => vmRun(DROP), () => vmRun(READ));
const vmSmall = await timed(() => vmRun(SMALL, 900_000));
const flushesBefore = await p.evaluate((id) => rowsnapHost.flushes(id), id);
const vmFsync = await best3(() => vmRun('sync'), () => vmRun(FSYNC));
const flushesPerFsync = ((await p.evaluate((id) => rowsnapHost.flushes(id), id)) - flushesBefore) / (3 * FSYNCS);
if (!(flushesPerFsync >= 1)) throw new Error(`the guest sent ${flushesPerFsync} FLUSH CACHE per fsync: the write cache is not in use`);
// 3. Warm: stopped and started again, the machine is restored from the state its cold boot saved.
await p.evaluate(async (id) => {
  await ecs.request('StopInstance', { InstanceId: id });
  while ((await ecs.request('DescribeInstances', { InstanceIds: [id] })).Instances.Instance[0].Status !== 'Stopped') await t.sleep(200);
  await ecs.request('StartInstance', { InstanceId: id });
  while (!globalThis.rowsnapHost.live(id)) await t.sleep(50);
}, id);
const warmBoot = await promptAfter();
const warm = await p.evaluate((id) => rowsnapHost.warm(id), id);
console.log(`rowsnap: boot ${rowsnapBoot.toFixed(1)} s (warm ${warmBoot.toFixed(1)} s, restored: ${warm}), write ${vmWrite.toFixed(2)} s, read ${vmRead.toFixed(2)} s, small files ${vmSmall.toFixed(2)} s, ${(FSYNCS / vmFsync).toFixed(1)} fsync/s (${flushesPerFsync.toFixed(2)} FLUSH CACHE each)`);

const figures = {
  guest_boot_ratio_rowsnap_vs_memory: rowsnapBoot / mem.promptSeconds,
  guest_boot_cold_s: rowsnapBoot,
  guest_boot_cold_memory_s: mem.promptSeconds,
  guest_boot_warm_s: warmBoot,
  // Throughput ratios: the in-memory time over the rowsnap time (1 = as fast as memory).
  guest_write_ratio_rowsnap_vs_memory: memWrite / vmWrite,
  guest_read_ratio_rowsnap_vs_memory: memRead / vmRead,
  guest_small_files_ratio_rowsnap_vs_memory: memSmall / vmSmall,
  guest_fsync_per_s_rowsnap: FSYNCS / vmFsync,
  guest_fsync_per_s_memory: FSYNCS / memFsync,
  guest_fsync_ratio_rowsnap_vs_memory: memFsync / vmFsync,
  guest_flushes_per_fsync: flushesPerFsync,
  guest_download_bytes: downloadBytes().total,
};
console.log(`BENCH_JSON ${JSON.stringify(figures)}`);
await browser.close();
await server.close();
