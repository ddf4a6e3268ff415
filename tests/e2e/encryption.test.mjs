// Encrypted disks in the real page (headless Chromium, real IndexedDB, real
// WebCrypto): a recognisable pattern written to an encrypted disk, snapshotted
// and uploaded, is found nowhere in a raw scan of every IndexedDB record (the
// same scan finds it for an unencrypted disk); passphrase keys: a wrong
// passphrase is refused, a locked key blocks its disks only, a reload relocks,
// unlocking reads the bytes back exactly; exports are refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve, launch, page, shot } from './lib.mjs';

let server, browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

async function open(p) {
  await p.goto(server.url);
  await p.waitForFunction(() => window.ecs !== undefined);
  await p.evaluate(() => window.ecs.ready);
  await p.evaluate(HELPERS);
}

const HELPERS = `
  window.t = {
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    async until(action, params, pick, want) {
      for (let i = 0; i < 200; i++) {
        const v = pick(await ecs.request(action, params));
        if (v === want) return;
        await t.sleep(100);
      }
      throw new Error(action + ' never reached ' + want);
    },
    async run(dataDisk) {
      const r = await ecs.request('RunInstances', { ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd', ZoneId: 'cn-hangzhou-i', DataDisk: [dataDisk] });
      const id = r.InstanceIdSets.InstanceIdSet[0];
      await t.until('DescribeInstances', { InstanceIds: [id] }, (r) => r.Instances.Instance[0].Status, 'Running');
      const d = await ecs.request('DescribeDisks', { InstanceId: id });
      return d.Disks.Disk.sort((a, b) => a.Device.localeCompare(b.Device))[1];
    },
    pattern() {
      const unit = new TextEncoder().encode('ROWSNAP-E2E-SECRET-PATTERN-');
      const out = new Uint8Array(128 << 10);
      for (let i = 0; i < out.length; i++) out[i] = unit[i % unit.length];
      return out;
    },
    // Every value of every object store of every database of this origin, raw.
    async scan(needle) {
      const hit = (u8) => {
        outer: for (let i = 0; i + needle.length <= u8.length; i++) {
          for (let j = 0; j < needle.length; j++) if (u8[i + j] !== needle[j]) continue outer;
          return true;
        }
        return false;
      };
      const bytesOf = (v) => v instanceof Uint8Array ? v : v instanceof ArrayBuffer ? new Uint8Array(v)
        : ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
        : typeof v === 'string' ? new TextEncoder().encode(v) : new TextEncoder().encode(JSON.stringify(v) ?? '');
      let found = [], values = 0;
      for (const info of await indexedDB.databases()) {
        const db = await new Promise((ok, ko) => { const r = indexedDB.open(info.name); r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });
        for (const name of db.objectStoreNames) {
          const all = await new Promise((ok, ko) => { const r = db.transaction(name).objectStore(name).getAll(); r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });
          for (const v of all) { values++; if (hit(bytesOf(v))) found.push(info.name + '/' + name); }
        }
        db.close();
      }
      return { found: [...new Set(found)], values };
    },
  };
`;

test('no byte of an encrypted disk, its snapshot or its upload is stored in plaintext; the scan finds a plain disk', async () => {
  for (const encrypted of [false, true]) {
    const context = await browser.newContext();
    const p = await page(context);
    await open(p);
    const r = await p.evaluate(async (encrypted) => {
      const d = await t.run({ Size: 20, Category: 'cloud_essd', Encrypted: encrypted });
      const pat = t.pattern();
      await ecs.writeDisk(d.DiskId, 5 << 20, pat);
      const s = (await ecs.request('CreateSnapshot', { DiskId: d.DiskId, SnapshotName: 'enc-check' })).SnapshotId;
      await t.until('DescribeSnapshots', { SnapshotIds: [s] }, (r) => r.Snapshots.Snapshot[0].Status, 'accomplished');
      const back = await ecs.readSnapshot(s, 5 << 20, pat.length);
      const same = back.length === pat.length && back.every((b, i) => b === pat[i]);
      const snap = (await ecs.request('DescribeSnapshots', { SnapshotIds: [s] })).Snapshots.Snapshot[0];
      const scan = await t.scan(pat.slice(0, 27));
      let exportCode = null;
      await oss.createBucket('enc-exports').catch(() => {});
      try { await ecs.request('ExportSnapshot', { SnapshotId: s, OSSBucket: 'enc-exports' }); } catch (e) { exportCode = e.Code; }
      return { same, scan, encrypted: d.Encrypted, key: d.KMSKeyId, snapKey: snap.KMSKeyId, snapEncrypted: snap.Encrypted, exportCode };
    }, encrypted);
    assert.equal(r.same, true, 'the snapshot reads back');
    assert.equal(r.encrypted, encrypted);
    assert.equal(r.snapEncrypted, encrypted);
    assert.ok(r.scan.values > 50, `the scan read ${r.scan.values} values`);
    if (encrypted) {
      assert.deepEqual(r.scan.found, [], 'no plaintext anywhere');
      assert.match(r.key, /^[0-9a-f-]{36}$/);
      assert.equal(r.snapKey, r.key);
      assert.equal(r.exportCode, 'InvalidOperation.EncryptedNotSupported');
    } else {
      assert.ok(r.scan.found.length > 0, 'the scan finds the plain disk\'s pattern');
    }
    await shot(p, `encryption-scan-${encrypted ? 'encrypted' : 'plain'}`);
    await context.close();
  }
});

test('a passphrase key: wrong passphrase refused, locked blocks its disks only, a reload relocks, unlock reads back', async () => {
  const context = await browser.newContext();
  const p = await page(context);
  await open(p);
  const first = await p.evaluate(async () => {
    const { KeyId } = await ecs.createKey('e2e-team', 'correct horse battery');
    const locked = await t.run({ Size: 20, Category: 'cloud_essd', Encrypted: true, KMSKeyId: KeyId });
    const other = await t.run({ Size: 20, Category: 'cloud_essd', Encrypted: true });
    await ecs.writeDisk(locked.DiskId, 4096, t.pattern().slice(0, 8192));
    await ecs.writeDisk(other.DiskId, 4096, t.pattern().slice(0, 8192));
    await ecs.lockKey(KeyId);
    const err = await ecs.readDisk(locked.DiskId, 4096, 16).then(() => null, (e) => ({ code: e.Code, status: e.HttpStatus, msg: e.Message }));
    const otherOk = (await ecs.readDisk(other.DiskId, 4096, 8)).length === 8;
    const wrong = await ecs.unlockKey(KeyId, 'wrong horse battery').then(() => null, (e) => e.Code);
    const keys = (await ecs.listKeys()).Keys;
    return { KeyId, locked: locked.DiskId, err, otherOk, wrong, listed: keys.find((k) => k.KeyId === KeyId) };
  });
  assert.deepEqual([first.err.code, first.err.status], ['InvalidKMSKeyId.Locked', 403]);
  assert.match(first.err.msg, /alias\/e2e-team/);
  assert.equal(first.otherOk, true, 'the default key\'s disk still reads');
  assert.equal(first.wrong, 'InvalidKMSKeyId.WrongPassphrase');
  assert.equal(first.listed.Locked, true);
  await p.evaluate((id) => ecs.unlockKey(id, 'correct horse battery'), first.KeyId);
  assert.equal(await p.evaluate(async (d) => (await ecs.readDisk(d, 4096, 27)).length, first.locked), 27);
  // A reload: the passphrase key is locked again; unlocking gives the exact bytes.
  await open(p);
  const again = await p.evaluate(async ({ KeyId, locked }) => {
    const before = await ecs.readDisk(locked, 4096, 16).then(() => 'read', (e) => e.Code);
    const listed = (await ecs.listKeys()).Keys.find((k) => k.KeyId === KeyId).Locked;
    await ecs.unlockKey(KeyId, 'correct horse battery');
    const back = await ecs.readDisk(locked, 4096, 8192);
    const pat = t.pattern().slice(0, 8192);
    return { before, listed, same: back.every((b, i) => b === pat[i]) };
  }, first);
  assert.deepEqual(again, { before: 'InvalidKMSKeyId.Locked', listed: true, same: true });
  await shot(p, 'encryption-keys');
  await context.close();
});
