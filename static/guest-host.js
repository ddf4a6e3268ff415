// rowsnap's in-page host: runs the machines of instances whose image boots in
// the browser (v86, an x86 emulator in WebAssembly), with the instances' own
// rowsnap disks as their IDE disks. Loaded by the console only when the first
// such instance is to run (the console's bundle does not carry it).
//
// The ECS layer decides (window.ecs.guest.orders: boot, reboot, stop,
// destroy); this file carries the orders out and reports back
// (guest.attach -> Starting, guest.running -> Running, guest.detach ->
// Stopped). The disks go through the ECS layer (guest.read / guest.write),
// one serial queue per disk: v86 reports a PIO write complete before it hands
// the bytes over and reuses its buffer, so the bytes are copied at once and a
// later read is queued behind the write.
(() => {
  'use strict';
  const BASE = (globalThis.rowsnapGuestBase || 'guest/');
  const OUTPUT_CAP = 1 << 20; // characters of serial output kept (consoleRead)
  const STOP_TIMEOUT_MS = 20000;

  let filesPromise = null;
  /** The guest build's files (fetched once): manifest, BIOS, kernel, initramfs, libv86 and its wasm (compiled). */
  function files() {
    if (!filesPromise) {
      const bin = async (p) => {
        const r = await fetch(BASE + p);
        if (!r.ok) throw new Error(`${BASE + p}: HTTP ${r.status}`);
        return r.arrayBuffer();
      };
      filesPromise = (async () => {
        const manifest = await (await fetch(BASE + 'manifest.json')).json();
        if (!globalThis.V86) {
          await new Promise((resolve, reject) => {
            const s = document.createElement('script');
            s.src = BASE + 'v86/libv86.js';
            s.onload = resolve;
            s.onerror = () => reject(new Error('v86 could not be loaded from ' + s.src));
            document.head.appendChild(s);
          });
        }
        const [bios, vga, kernel, initrd, wasm] = await Promise.all([
          bin('bios/bios.bin'), bin('bios/vgabios-stdvga.bin'), bin('linux/vmlinuz'), bin('linux/initramfs.img'),
          bin('v86/v86.wasm').then((b) => WebAssembly.compile(b)), // compiled once for every machine
        ]);
        return { manifest, bios, vga, kernel, initrd, wasm };
      })();
      filesPromise.catch(() => { filesPromise = null; });
    }
    return filesPromise;
  }

  // Reads go to the ECS layer in aligned 1 MiB chunks, and the last 32 of them
  // stay here (written through: a write updates a cached chunk as it is
  // queued): the guest's read-ahead of 4-128 KiB then costs one call per MiB,
  // not one each.
  const CHUNK = 1 << 20;
  const CACHED_CHUNKS = 32;
  const READ_AHEAD = 4;

  /** One of a machine's disks: v86's (internal, 0.5.462) disk-buffer interface over the ECS layer. */
  class GuestDisk {
    constructor(vm, index, bytes) {
      this.vm = vm;
      this.instance = vm.id;
      this.index = index;
      this.byteLength = bytes;
      this.cache = new Map(); // chunk index -> bytes (insertion order: least recent first)
      this.writes = 0;
      this.flushes = 0; // FLUSH CACHE commands the guest sent (see installWriteCache)
      this.chain = Promise.resolve();
      this.sector0 = undefined;
      this.onload = undefined;
      this.onprogress = undefined;
    }
    load() {
      // Sector 0 first: v86 asks for it synchronously (get_from_cache) for the geometry.
      this.get(0, 512, (b) => { this.sector0 = b; if (this.onload) this.onload({}); });
    }
    async chunk(n) {
      let c = this.cache.get(n);
      if (c) {
        this.cache.delete(n);
      } else {
        // A sequential stream (the chunk before is here) reads ahead: 4 chunks in one call.
        const ahead = this.cache.has(n - 1) ? READ_AHEAD : 1;
        const at = n * CHUNK;
        const writes = this.writes;
        const all = await ecs.guest.read(this.instance, this.index, at, Math.min(ahead * CHUNK, this.byteLength - at));
        c = all.subarray(0, CHUNK);
        // A write that came meanwhile is not in these bytes: they serve this read only.
        if (writes !== this.writes) return c;
        for (let k = 1; k * CHUNK < all.length; k++) {
          if (!this.cache.has(n + k)) this.put(n + k, all.slice(k * CHUNK, (k + 1) * CHUNK));
        }
        c = all.slice(0, CHUNK);
      }
      this.put(n, c);
      return c;
    }
    put(n, c) {
      this.cache.delete(n);
      if (this.cache.size >= CACHED_CHUNKS) this.cache.delete(this.cache.keys().next().value);
      this.cache.set(n, c);
    }
    async read(start, len) {
      const out = new Uint8Array(len);
      for (let n = Math.floor(start / CHUNK); n * CHUNK < start + len; n++) {
        const c = await this.chunk(n);
        const from = Math.max(start, n * CHUNK);
        const to = Math.min(start + len, n * CHUNK + c.length);
        out.set(c.subarray(from - n * CHUNK, to - n * CHUNK), from - start);
      }
      return out;
    }
    get(start, len, fn) {
      // A read that fails pauses the machine until it succeeds (never zeros for the guest).
      this.chain = this.chain
        .then(() => guarded(this.vm, 'read', () => this.read(start, len)))
        .then((b) => fn(b), (e) => console.warn('rowsnap: a guest read was dropped with its machine', e));
    }
    set(start, data, fn) {
      const copy = data.slice(); // v86 reuses its buffer
      this.writes++;
      // Cached chunks take the write at once (reads queued after it see it either way).
      for (let n = Math.floor(start / CHUNK); n * CHUNK < start + copy.length; n++) {
        const c = this.cache.get(n);
        if (!c) continue;
        const from = Math.max(start, n * CHUNK);
        const to = Math.min(start + copy.length, n * CHUNK + c.length);
        c.set(copy.subarray(from - start, to - start), from - n * CHUNK);
      }
      // Queued by the ECS layer even when the batch it completes fails to commit: then the
      // machine pauses until the queue commits (the queue never grows past one batch).
      this.chain = this.chain
        .then(() => ecs.guest.write(this.instance, this.index, start, copy).catch((e) => {
          if (e && e.Kind === 'Refused') throw e; // not queued: the machine is gone
          return guarded(this.vm, 'write', () => ecs.guest.flush(this.instance), e);
        }))
        .then(() => { if (fn) fn(); }, (e) => console.warn('rowsnap: a guest write was dropped with its machine', e));
    }
    /**
     * The guest's FLUSH CACHE: resolves once every write queued before it is committed to
     * IndexedDB (the ECS layer's queue applied in one transaction, strictly durable); rejects
     * only when the machine is dropped meanwhile.
     */
    flush() {
      this.flushes++;
      // Behind every write queued before it (not in the chain: later reads and writes go on); a
      // commit that fails pauses the machine until it succeeds.
      return this.chain.then(() => guarded(this.vm, 'write', () => ecs.guest.flush(this.instance)));
    }
    get_and_cache(start, len, fn) { this.get(start, len, fn); }
    get_from_cache(start, len) { return start === 0 && len === 512 ? this.sector0 : undefined; }
    // The disks stay out of v86's saved machine state: they are rowsnap's.
    get_state() { return [this.byteLength, new Uint8Array(0)]; }
    set_state() {}
    /** Resolves when every queued operation has been handed to the ECS layer. */
    settled() { return this.chain; }
  }

  // The disks' volatile write cache, as QEMU's cache=writeback gives one. v86 0.5.462's IDE disk
  // advertises FLUSH CACHE (word 83 bits 12-13) but no write cache, so Linux takes a completed
  // write as stable and never flushes; rowsnap completes writes once queued and commits them in
  // batches, so a synced file could be lost with the tab. Wrapped here (v86's method and field
  // names survive its minification; its drive objects are sealed, so the shared prototype is
  // patched, once): create_identify_packet also sets words 82 and 85 bit 5 (write cache supported
  // and enabled; never FUA, word 84/87 bit 6, which v86 aborts); ata_command holds FLUSH CACHE
  // (0xE7) and FLUSH CACHE EXT (0xEA) busy (status 0xC0, no interrupt, as v86's own reads wait)
  // until GuestDisk.flush() resolves (a commit that fails pauses the machine meanwhile: see
  // guarded), then completes it (0x50 and an interrupt), or aborts it (0x41, error 0x04) when the
  // machine is dropped meanwhile; SET FEATURES 02h/82h turn the cache on and off;
  // device_reset drops a completion still on its way. WRITE_CACHE is part of the saved machine
  // states' key: Linux reads IDENTIFY once, at its probe, before the state is saved.
  const WRITE_CACHE = 'wce1';
  function installWriteCache(emulator) {
    const ide = emulator.v86.cpu.devices.ide;
    const proto = Object.getPrototypeOf(ide.primary.master);
    const ours = (d) => !d.is_atapi && d.drive_connected && d.buffer && typeof d.buffer.flush === 'function';
    if (!proto.rowsnapWriteCache) {
      const state = new WeakMap(); // drive -> { wce, gen }
      const st = (d) => { let s = state.get(d); if (!s) state.set(d, s = { wce: true, gen: 0 }); return s; };
      const identify = proto.create_identify_packet;
      proto.create_identify_packet = function () {
        identify.call(this);
        if (!ours(this)) return;
        this.data[82 * 2] |= 0x20;
        if (st(this).wce) this.data[85 * 2] |= 0x20; else this.data[85 * 2] &= ~0x20;
      };
      const flush = (d, cmd) => {
        const s = st(d);
        const gen = s.gen;
        d.status_reg = 0xC0;
        let p;
        try { p = Promise.resolve(d.buffer.flush()); } catch (e) { p = Promise.reject(e); }
        p.then(() => true, (e) => { console.warn('rowsnap: a guest flush ended with its machine', e); return false; }).then((ok) => {
          if (s.gen !== gen || d.current_command !== cmd || !(d.status_reg & 0x80)) return; // reset meanwhile
          if (ok) {
            d.status_reg = 0x50;
          } else {
            d.error_reg = 0x04;
            d.status_reg = 0x41;
          }
          d.push_irq();
        });
      };
      const command = proto.ata_command;
      proto.ata_command = function (cmd) {
        if (!ours(this)) return command.call(this, cmd);
        if (cmd === 0xE7 || cmd === 0xEA) {
          this.current_command = cmd;
          this.error_reg = 0;
          return flush(this, cmd);
        }
        if (cmd === 0xEF) {
          const sub = this.features_reg & 0xFF;
          if (sub === 0x02) st(this).wce = true;
          else if (sub === 0x82) st(this).wce = false;
        }
        return command.call(this, cmd);
      };
      const reset = proto.device_reset;
      proto.device_reset = function () { st(this).gen++; return reset.call(this); };
      proto.rowsnapWriteCache = { flush };
    }
    // A state saved while a flush was held restores it busy: finish it.
    for (const ch of [ide.primary, ide.secondary]) {
      for (const d of ch ? [ch.master, ch.slave] : []) {
        if (ours(d) && (d.status_reg & 0x80) && (d.current_command === 0xE7 || d.current_command === 0xEA)) {
          proto.rowsnapWriteCache.flush(d, d.current_command);
        }
      }
    }
  }

  // The machines' clocks. v86 reads the time (its microtick) for its timers and the guest's TSC;
  // each machine's wasm gets a clock of its own (through v86's wasm_fn hook), which stands still
  // while the machine is paused: the guest never sees a request take longer than it took in its
  // own time (libata resets a disk after 30 s, and ext4 then turns read-only). v86's JS devices
  // (PIT, ACPI timer, RTC) read v86.microtick (set once, after the first machine is made): it
  // follows the clock of the machine whose wasm asked last (they run inside its slice).
  const realNow = performance.now.bind(performance);
  let currentClock = null;
  function machineClock() {
    const c = { offset: 0, stoppedAt: null };
    c.read = () => (c.stoppedAt === null ? realNow() : c.stoppedAt) - c.offset;
    c.now = () => { currentClock = c; return c.read(); };
    c.freeze = () => { if (c.stoppedAt === null) c.stoppedAt = realNow(); };
    c.thaw = () => { if (c.stoppedAt !== null) { c.offset += realNow() - c.stoppedAt; c.stoppedAt = null; } };
    return c;
  }
  // Errors pause, never lie (QEMU's rerror=stop/werror=stop). A read, a write or a flush the ECS
  // layer fails holds the guest's request and pauses the machine (its clock stands still); the
  // request is retried every RETRY_MS and at once on ResumeInstance, and the machine goes on
  // when it succeeds. Another tab taking the database destroys the machine (that tab runs it).
  const RETRY_MS = 2000;
  function pauseReason(what, e) {
    switch (e && e.Kind) {
      case 'QuotaExceeded': return 'StorageFull';
      case 'KeyLocked': return 'KeyLocked';
      case 'Closed': return 'DatabaseTaken';
      case 'Refused': return null; // the request itself is wrong (no machine, out of range)
      default: return what === 'read' ? 'ReadError' : 'WriteError';
    }
  }
  /** Runs `op` until it succeeds, the machine paused meanwhile; `first` is a failure already met. */
  async function guarded(vm, what, op, first) {
    let failed = false;
    let e = first;
    for (;;) {
      if (e === undefined) {
        try {
          const r = await op();
          if (failed && --vm.holds === 0) resume(vm);
          return r;
        } catch (x) { e = x; }
      }
      if (vms.get(vm.id) !== vm) throw e; // dropped meanwhile
      const reason = pauseReason(what, e);
      if (!reason) throw e;
      if (reason === 'DatabaseTaken') {
        console.warn(`rowsnap: another tab took the database; the machine of ${vm.id} is destroyed here (that tab runs it)`);
        vms.delete(vm.id);
        try { vm.emulator.destroy(); } catch (x) { /* gone */ }
        throw e;
      }
      if (!failed) { failed = true; vm.holds++; }
      pause(vm, reason, e);
      await new Promise((r) => { const t = setTimeout(r, RETRY_MS); vm.wake = () => { clearTimeout(t); r(); }; });
      e = undefined;
    }
  }
  function pause(vm, reason, e) {
    if (!vm.paused) {
      vm.clock.freeze();
      vm.stopping = vm.emulator.stop();
      console.warn(`rowsnap: the machine of ${vm.id} is paused (${reason}): ${e && e.message || e}`);
    }
    vm.paused = reason;
    ecs.guest.paused(vm.id, reason).catch(() => {});
  }
  async function resume(vm) {
    vm.paused = null;
    await vm.stopping;
    if (vms.get(vm.id) !== vm || vm.paused) return;
    vm.clock.thaw();
    vm.emulator.run();
    console.warn(`rowsnap: the machine of ${vm.id} goes on`);
    ecs.guest.resumed(vm.id).catch(() => {});
  }

  const vms = new Map(); // instance id -> machine
  const busy = new Set(); // instances with an order being carried out

  // v86 hands the serial output over a byte at a time, many in one of its
  // turns: they are gathered and decoded (and written to a terminal) once per
  // turn, not once per byte.
  function output(vm, byte) {
    vm.pending.push(byte);
    if (vm.pending.length === 1) queueMicrotask(() => flushOutput(vm));
  }

  function flushOutput(vm) {
    const chunk = Uint8Array.from(vm.pending);
    vm.pending = [];
    vm.text += vm.decoder.decode(chunk, { stream: true });
    if (vm.text.length > OUTPUT_CAP * 1.25) vm.text = vm.text.slice(-OUTPUT_CAP);
    for (const f of vm.subs) f(chunk);
  }

  function agentLine(vm, byte) {
    if (byte === 10) {
      const line = vm.agent.trim();
      vm.agent = '';
      if (line === 'rowsnap: ready for the disk' && vm.onReady) vm.onReady();
      for (const w of vm.waiters.splice(0)) w(line);
      return;
    }
    if (byte !== 13) vm.agent += String.fromCharCode(byte);
  }

  /** Waits for the agent's line `want` on the second serial line, at most `ms`. */
  function agentSays(vm, want, ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      const check = (line) => {
        if (line === want) { clearTimeout(timer); resolve(true); } else vm.waiters.push(check);
      };
      vm.waiters.push(check);
    });
  }

  const streamed = async (u8, stream) => new Uint8Array(await new Response(new Blob([u8]).stream().pipeThrough(stream)).arrayBuffer());

  // The fast boot. Every machine boots with `rowsnap.wait`: its initramfs loads
  // its modules, says "rowsnap: ready for the disk" on ttyS1 and waits there
  // before it mounts the disk. The first cold boot saves the machine's state at
  // that point (gzip, kept by the ECS layer under everything it depends on: the
  // guest build, the memory, the disks' sizes); later boots restore it and send
  // "go": the prompt in seconds instead of a cold boot.
  async function boot(id) {
    const info = await ecs.guest.attach(id);
    const f = await files();
    const vm = { id, text: '', pending: [], decoder: new TextDecoder(), subs: new Set(), agent: '', waiters: [],
      clock: machineClock(), paused: null, holds: 0, wake: null, stopping: null };
    const disks = info.Disks.slice(0, 2).map((d, i) => new GuestDisk(vm, i, d.Bytes));
    vm.disks = disks;
    const key = [f.manifest.build, info.MemoryMiB, ...disks.map((d) => d.byteLength), WRITE_CACHE].join('-');
    const saved = await ecs.guest.loadState(key).catch(() => null);
    const state = saved ? await streamed(saved, new DecompressionStream('gzip')) : null;
    vm.warm = !!state;
    vm.t0 = performance.now(); // the machine is made now (the benchmarks time boots from here)
    const go = () => emulator.serial_send_bytes(1, new TextEncoder().encode('go\n'));
    vm.onReady = async () => {
      vm.onReady = null;
      let s = null;
      if (!state && !info.Encrypted) {
        try { s = new Uint8Array(await emulator.save_state()); } catch (e) { console.warn('rowsnap: the machine state could not be saved', e); }
      }
      go();
      // Compressed and kept while the guest goes on.
      if (s) {
        streamed(s, new CompressionStream('gzip')).then((gz) => ecs.guest.saveState(key, gz))
          .catch((e) => console.warn('rowsnap: the machine state could not be kept (cold boots go on)', e));
      }
    };
    const emulator = new V86({
      // v86's wasm (compiled once, in files()) with the machine's own clock in its imports.
      wasm_fn: async (imports) => {
        imports.env.microtick = vm.clock.now;
        currentClock = vm.clock;
        return (await WebAssembly.instantiate(f.wasm, imports)).exports;
      },
      memory_size: info.MemoryMiB * 1024 * 1024,
      vga_memory_size: 2 * 1024 * 1024,
      bios: { buffer: f.bios },
      vga_bios: { buffer: f.vga },
      bzimage: { buffer: f.kernel },
      initrd: { buffer: f.initrd },
      cmdline: `${f.manifest.cmdline} rowsnap.wait rowsnap.disks=${disks.length}`,
      initial_state: state ? { buffer: state.buffer } : undefined,
      hda: disks[0],
      hdb: disks[1],
      uart1: true,
      autostart: true,
      disable_keyboard: true,
      disable_mouse: true,
      disable_speaker: true,
    });
    vm.emulator = emulator;
    vms.set(id, vm);
    emulator.add_listener('serial0-output-byte', (b) => output(vm, b));
    emulator.add_listener('serial1-output-byte', (b) => agentLine(vm, b));
    await new Promise((resolve) => emulator.add_listener('emulator-started', resolve));
    installWriteCache(emulator);
    const v86 = emulator.v86.constructor;
    if (!v86.rowsnapClocks) {
      v86.microtick = () => (currentClock ? currentClock.read() : realNow());
      v86.rowsnapClocks = true;
    }
    // Restored: the machine waits for "go" already (it said it was ready before it was saved).
    // Said again until the guest goes on (states saved by older guest builds could drop it).
    if (state) {
      vm.onReady = null;
      const seen = vm.text.length;
      for (let i = 0; i < 20 && vm.text.length === seen && vms.get(id) === vm; i++) {
        go();
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    await ecs.guest.running(id);
  }

  /** Drops the machine: stops the emulator, hands its last writes over, reports it gone. */
  async function drop(id) {
    const vm = vms.get(id);
    vms.delete(id);
    if (vm) {
      if (vm.wake) vm.wake(); // a held request sees the machine gone and ends
      try { await vm.emulator.stop(); } catch (e) { /* already stopped */ }
      try { vm.emulator.destroy(); } catch (e) { /* gone */ }
      await Promise.all(vm.disks.map((d) => d.settled()));
    }
    await ecs.guest.detach(id);
  }

  async function stop(id, force) {
    const vm = vms.get(id);
    if (vm && !force) {
      // The agent flushes and halts the guest; after the time-out it is stopped anyway.
      vm.emulator.serial_send_bytes(1, new TextEncoder().encode('stop\n'));
      await agentSays(vm, 'rowsnap: stopped', STOP_TIMEOUT_MS);
    }
    await drop(id);
  }

  async function carry(order) {
    const id = order.InstanceId;
    switch (order.Order) {
      case 'boot': return boot(id);
      case 'reboot': {
        const vm = vms.get(id);
        vms.delete(id);
        if (vm) {
          if (vm.wake) vm.wake();
          try { await vm.emulator.stop(); vm.emulator.destroy(); } catch (e) { /* gone */ }
          await Promise.all(vm.disks.map((d) => d.settled()));
        }
        return boot(id);
      }
      case 'stop': return stop(id, order.Force || !!(vms.get(id) && vms.get(id).paused));
      case 'resume': { const vm = vms.get(id); if (vm && vm.wake) vm.wake(); return undefined; }
      case 'destroy': return drop(id);
      default: return undefined;
    }
  }

  const host = {
    /** Carries out the ECS layer's orders (each instance one at a time). */
    apply(orders) {
      for (const order of orders) {
        const id = order.InstanceId;
        if (busy.has(id)) continue;
        busy.add(id);
        carry(order)
          .catch(async (e) => {
            console.error(`rowsnap: the machine of ${id} failed: ${e && e.message || e}`);
            const vm = vms.get(id);
            vms.delete(id);
            try { if (vm) vm.emulator.destroy(); } catch (x) { /* gone */ }
            try { await ecs.guest.detach(id); } catch (x) { /* the instance is gone */ }
          })
          .finally(() => busy.delete(id));
      }
    },
    live(id) { return vms.has(id); },
    /** Seconds since the instance's machine was made (null without one). */
    since(id) { const vm = vms.get(id); return vm ? (performance.now() - vm.t0) / 1000 : null; },
    /** Why the instance's machine is paused (null when it runs or has none). */
    paused(id) { const vm = vms.get(id); return vm ? vm.paused : null; },
    /** Whether the instance's machine booted from the saved state (warm) or cold. */
    warm(id) { const vm = vms.get(id); return vm ? vm.warm : null; },
    /** FLUSH CACHE commands the instance's machine sent to its disks since it booted (null without one). */
    flushes(id) { const vm = vms.get(id); return vm ? vm.disks.reduce((n, d) => n + d.flushes, 0) : null; },
    /** The serial console's output since the machine booted (the last 1 MiB). */
    consoleRead(id) {
      const vm = vms.get(id);
      if (!vm) return null;
      return vm.text.length > OUTPUT_CAP ? vm.text.slice(-OUTPUT_CAP) : vm.text;
    },
    /** Sends text (UTF-8) to the serial console. */
    consoleWrite(id, text) {
      const vm = vms.get(id);
      if (!vm) return false;
      vm.emulator.serial_send_bytes(0, new TextEncoder().encode(text));
      return true;
    },
    /** Shows the machine's serial console in `element` with xterm.js; returns a function that detaches it. */
    async attachTerminal(id, element) {
      await loadXterm();
      const vm = vms.get(id);
      const term = new globalThis.Terminal({ convertEol: false, scrollback: 5000, fontSize: 14, cursorBlink: true });
      term.open(element);
      if (vm) term.write(vm.text);
      const sub = (chunk) => term.write(chunk);
      if (vm) vm.subs.add(sub);
      const input = term.onData((d) => { const v = vms.get(id); if (v) v.emulator.serial_send_bytes(0, new TextEncoder().encode(d)); });
      term.focus();
      return () => { if (vm) vm.subs.delete(sub); input.dispose(); term.dispose(); };
    },
  };

  let xtermPromise = null;
  function loadXterm() {
    if (!xtermPromise) {
      xtermPromise = new Promise((resolve, reject) => {
        const css = document.createElement('link');
        css.rel = 'stylesheet';
        css.href = BASE + 'xterm/xterm.css';
        document.head.appendChild(css);
        const s = document.createElement('script');
        s.src = BASE + 'xterm/xterm.js';
        s.onload = resolve;
        s.onerror = () => reject(new Error('xterm.js could not be loaded from ' + s.src));
        document.head.appendChild(s);
      });
    }
    return xtermPromise;
  }

  globalThis.rowsnapHost = host;
})();
