// The guest (Linux in the page, scripts/guest/build.sh) booted by v86 from an in-memory disk:
// the proof that the built guest boots, and the in-memory baseline the benchmarks compare the
// rowsnap disk with. Everything the page loads is under dist/guest/ (target/guest/www, copied by trunk).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { DIST } from './lib.mjs';

/** Where the guest's files are, relative to the page. */
export const GUEST_PATH = 'guest/';
/** Explicit time-outs, sized for a loaded 2-core machine (a cold boot is 20-60 s there). */
export const BOOT_TIMEOUT_MS = 240_000;
export const AGENT_TIMEOUT_MS = 60_000;

// Evaluated in the page: window.guest.
const GUEST_HELPERS = `
  window.guest = {
    base: null,
    manifest: null,
    vms: {},
    async fetchBytes(rel) {
      const r = await fetch(guest.base + rel);
      if (!r.ok) throw new Error(rel + ': HTTP ' + r.status);
      return new Uint8Array(await r.arrayBuffer());
    },
    async gunzip(u8) {
      const stream = new Blob([u8]).stream().pipeThrough(new DecompressionStream('gzip'));
      return new Uint8Array(await new Response(stream).arrayBuffer());
    },
    /** v86 0.5.462's disk object over bytes in memory (the interface is internal: see
     *  shared/reference/v86-guest.md). delayMs > 0 answers reads from a timer, as an
     *  asynchronous store would; 0 answers at once, as v86's own in-memory buffer does. */
    memoryDisk(u8, delayMs = 0) {
      const disk = {
        bytes: u8,
        byteLength: u8.length,
        reads: 0, readBytes: 0, writes: 0, writeBytes: 0,
        onload: undefined,
        onprogress: undefined,
        load() { this.onload && this.onload({}); },
        get(start, len, cb) {
          this.reads++; this.readBytes += len;
          const out = u8.slice(start, start + len);
          if (delayMs > 0) setTimeout(() => cb(out), delayMs); else cb(out);
        },
        set(start, data, cb) {
          // v86 reuses the buffer it hands over: copy now.
          this.writes++; this.writeBytes += data.length;
          u8.set(data, start);
          if (cb) { if (delayMs > 0) setTimeout(cb, delayMs); else cb(); }
        },
        get_and_cache(start, len, cb) { this.get(start, len, cb); },
        get_from_cache(start, len) { return u8.slice(start, start + len); },
        get_state() { return [u8.length, new Uint8Array(0)]; },
        set_state() {},
      };
      return disk;
    },
    /** Loads the manifest and the boot files (once). */
    async prepare(base) {
      if (guest.files) return;
      guest.base = base;
      guest.manifest = await (await fetch(base + 'manifest.json')).json();
      const [bios, vgaBios, bzimage, initrd] = await Promise.all(
        ['bios/bios.bin', 'bios/vgabios-stdvga.bin', 'linux/vmlinuz', 'linux/initramfs.img'].map((f) => guest.fetchBytes(f)));
      guest.files = { bios, vgaBios, bzimage, initrd };
    },
    /** The system disk image's bytes, fresh (the gunzipped base image). */
    async image() {
      return guest.gunzip(await guest.fetchBytes(guest.manifest.image.path));
    },
    /** Starts a VM named name with hda (a disk object); its serial output is kept per port. */
    start(name, hda, { memoryBytes = 128 << 20, cmdlineExtra = '' } = {}) {
      const f = guest.files;
      const vm = { name, out: ['', ''], t0: performance.now(), hda };
      vm.emulator = new V86({
        wasm_path: guest.base + 'v86/v86.wasm',
        memory_size: memoryBytes,
        vga_memory_size: 2 << 20,
        bios: { buffer: f.bios.slice().buffer },
        vga_bios: { buffer: f.vgaBios.slice().buffer },
        bzimage: { buffer: f.bzimage.slice().buffer },
        initrd: { buffer: f.initrd.slice().buffer },
        cmdline: guest.manifest.cmdline + (cmdlineExtra ? ' ' + cmdlineExtra : ''),
        hda,
        uart1: true,
        autostart: true,
        disable_keyboard: true,
        disable_mouse: true,
        disable_speaker: true,
      });
      vm.emulator.add_listener('serial0-output-byte', (b) => { vm.out[0] += String.fromCharCode(b); });
      vm.emulator.add_listener('serial1-output-byte', (b) => { vm.out[1] += String.fromCharCode(b); });
      guest.vms[name] = vm;
      return name;
    },
    /** Waits until the text appears on a serial port after index from; resolves with the seconds
     *  since the VM started and the index after the match. */
    async wait(name, port, text, from, timeoutMs) {
      const vm = guest.vms[name];
      const t = performance.now();
      for (;;) {
        const i = vm.out[port].indexOf(text, from);
        if (i >= 0) return { seconds: (performance.now() - vm.t0) / 1000, index: i + text.length };
        if (performance.now() - t > timeoutMs) {
          throw new Error('guest ' + name + ': no ' + JSON.stringify(text) + ' on serial' + port + ' in ' + timeoutMs + ' ms; serial0 ends with: '
            + JSON.stringify(vm.out[0].slice(-800)) + '; serial1: ' + JSON.stringify(vm.out[1].slice(-300)));
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    send(name, port, text) {
      guest.vms[name].emulator.serial_send_bytes(port, new TextEncoder().encode(text));
    },
    async destroy(name) {
      const vm = guest.vms[name];
      if (!vm) return;
      await vm.emulator.stop();
      await vm.emulator.destroy();
      delete guest.vms[name];
    },
  };
`;

/** Loads libv86.js and window.guest into the page; base is the URL of dist/guest/. */
export async function installGuest(p, base) {
  await p.addScriptTag({ url: base + 'v86/libv86.js' });
  await p.evaluate(GUEST_HELPERS);
  await p.evaluate((b) => guest.prepare(b), base);
}

/** Waits for text on serial port (0: the console, 1: the agent) after index from. */
export const waitSerial = (p, name, port, text, from = 0, timeoutMs = BOOT_TIMEOUT_MS) =>
  p.evaluate(([n, po, t, f, ms]) => guest.wait(n, po, t, f, ms), [name, port, text, from, timeoutMs]);
export const sendSerial = (p, name, port, text) => p.evaluate(([n, po, t]) => guest.send(n, po, t), [name, port, text]);
export const serialOut = (p, name, port) => p.evaluate(([n, po]) => guest.vms[n].out[po], [name, port]);

/** Cold-boots the base image from an in-memory disk to the shell prompt; resolves with the seconds
 *  from new V86 to `rowsnap# ` on serial0 and to `rowsnap: up` on serial1. */
export async function bootMemory(p, name = 'mem', { delayMs = 0, memoryBytes = 128 << 20 } = {}) {
  await p.evaluate(async ([n, d, m]) => {
    const hda = guest.memoryDisk(await guest.image(), d);
    guest.start(n, hda, { memoryBytes: m });
  }, [name, delayMs, memoryBytes]);
  const prompt = await waitSerial(p, name, 0, 'rowsnap# ', 0, BOOT_TIMEOUT_MS);
  const agent = await waitSerial(p, name, 1, 'rowsnap: up', 0, AGENT_TIMEOUT_MS);
  return { promptSeconds: prompt.seconds, agentSeconds: agent.seconds, promptIndex: prompt.index };
}

/** Runs a command line in the shell on serial0; resolves with its output (CR LF made LF). */
export async function run(p, name, command, timeoutMs = AGENT_TIMEOUT_MS) {
  const marker = `rowsnap-done-${Math.random().toString(36).slice(2, 8)}`;
  const from = (await serialOut(p, name, 0)).length;
  // The marker is printed split, so the echoed command line does not match it.
  await sendSerial(p, name, 0, `${command}; echo "${marker.slice(0, 7)}""${marker.slice(7)}"\n`);
  const end = await waitSerial(p, name, 0, `${marker}\r\n`, from, timeoutMs);
  const out = (await serialOut(p, name, 0)).slice(from, end.index).replace(/\r\n/g, '\n');
  // Drop the echoed command line (it ends with the marker's quoted tail; a long line may wrap)
  // and the marker line.
  const echoed = out.indexOf(`${marker.slice(7)}"`);
  return out.slice(out.indexOf('\n', echoed) + 1, out.lastIndexOf(marker));
}

/** Asks the guest's agent (serial1) to stop: sync, read-only root, power off. */
export async function stopGuest(p, name, timeoutMs = AGENT_TIMEOUT_MS) {
  const from = (await serialOut(p, name, 1)).length;
  await sendSerial(p, name, 1, 'stop\n');
  return waitSerial(p, name, 1, 'rowsnap: stopped', from, timeoutMs);
}

/** The bytes a user downloads for a first boot, gzip over the wire: each file gzipped (level 9)
 *  unless it is already compressed (the image is .gz; vmlinuz is XZ inside: whichever is smaller). */
export function downloadBytes(dir = path.join(DIST, GUEST_PATH)) {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json')));
  const files = ['v86/libv86.js', 'v86/v86.wasm', 'bios/bios.bin', 'bios/vgabios-stdvga.bin', 'linux/vmlinuz', 'linux/initramfs.img', manifest.image.path];
  const each = {};
  for (const f of files) {
    const raw = fs.readFileSync(path.join(dir, f));
    each[f] = f.endsWith('.gz') || f.endsWith('initramfs.img') ? raw.length : Math.min(raw.length, zlib.gzipSync(raw, { level: 9 }).length);
  }
  return { total: Object.values(each).reduce((a, b) => a + b, 0), each };
}
