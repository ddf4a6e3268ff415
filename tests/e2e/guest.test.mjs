// The guest (scripts/guest/build.sh) boots in the console page: v86 from dist/guest/, the system
// disk image in memory, a shell on serial0 writes a file and syncs, the agent on serial1 stops it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve, launch, openConsoleAt } from './lib.mjs';
import { GUEST_PATH, installGuest, bootMemory, run, stopGuest, downloadBytes } from './guest-lib.mjs';

let server, browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

test('the guest cold-boots from an in-memory disk to a root shell, writes a file and stops', { timeout: 600_000 }, async () => {
  const context = await browser.newContext();
  const p = await openConsoleAt(server.url, context, '#/instances');
  await installGuest(p, server.url + GUEST_PATH);

  const boot = await bootMemory(p, 'mem');
  console.log(`guest: cold boot to the shell prompt ${boot.promptSeconds.toFixed(1)} s (agent up at ${boot.agentSeconds.toFixed(1)} s)`);
  const log = await p.evaluate(() => guest.vms.mem.out[0]);
  assert.match(log, /rowsnap: boot #1\r?\n/, 'the system disk\'s init ran once');

  const out = await run(p, 'mem', 'echo hello-from-guest > /root/x; sync; cat /etc/bootcount; cat /root/x; mount | grep " / "');
  const lines = out.trim().split('\n');
  assert.equal(lines[0], '1', `bootcount: ${out}`);
  assert.equal(lines[1], 'hello-from-guest');
  assert.match(lines[2], /^\/dev\/sda on \/ type ext4 \(rw/, 'root is the ext4 system disk, read-write');

  await stopGuest(p, 'mem');
  // After the stop, the disk's bytes hold the file and the count (the guest synced and went read-only).
  const found = await p.evaluate(() => {
    const d = guest.vms.mem.hda.bytes;
    const has = (s) => { const n = new TextEncoder().encode(s); outer: for (let i = 0; i + n.length <= d.length; i += 1) { if (d[i] !== n[0]) continue; for (let j = 1; j < n.length; j++) if (d[i + j] !== n[j]) continue outer; return true; } return false; };
    return { file: has('hello-from-guest\n'), reads: guest.vms.mem.hda.reads, readBytes: guest.vms.mem.hda.readBytes, writes: guest.vms.mem.hda.writes, writeBytes: guest.vms.mem.hda.writeBytes };
  });
  assert.ok(found.file, 'the written file is in the disk image');
  console.log(`guest: disk I/O ${found.reads} reads ${found.readBytes} B, ${found.writes} writes ${found.writeBytes} B`);
  await p.evaluate(() => guest.destroy('mem'));

  const dl = downloadBytes();
  console.log(`guest: first-boot download ${dl.total} bytes gzip ${JSON.stringify(dl.each)}`);
  assert.deepEqual(p.errors.filter((e) => e.startsWith('pageerror')), []);
  await context.close();
});
