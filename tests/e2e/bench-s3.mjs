// make bench: normal snapshots uploaded to a real S3-compatible server (SeaweedFS on
// loopback) from the console page, against plain PUTs of the same bytes from the same page
// (presigned URLs, 1 MiB objects: the size of rowsnap's packs), measured alternately.
// s3_upload_vs_raw_put (target >= 0.7), s3_upload_mb_s and s3_restore_first_read_ms (the
// first 4 KiB read of a released snapshot: one ranged pack fetch). Prints BENCH_JSON.
import { serve, launch, openConsoleAt } from './lib.mjs';
import { startS3, createBucket, presign, freePorts } from './s3-lib.mjs';

const MIB = 24;
const ROUNDS = 3;
const BUCKET = 'rowsnap-bench';
const [port] = await freePorts(1);
const server = await serve({ port });
const origin = new URL(server.url).origin;
const s3 = await startS3({ origins: [origin] });
await createBucket(s3, BUCKET, { corsOrigins: [origin] });
const browser = await launch();
try {
  const context = await browser.newContext();
  const p = await openConsoleAt(server.url, context, '#/settings');
  await p.evaluate((c) => ecs.setObjectStore(c), {
    Endpoint: s3.endpoint, Region: s3.region, Bucket: BUCKET, PathStyle: true,
    AccessKeyId: s3.accessKeyId, AccessKeySecret: s3.secretAccessKey,
  });
  const setup = await p.evaluate(async (mib) => {
    const { id, disks } = await t.run({ ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd', DataDisk: [{ Size: 20, Category: 'cloud_essd' }] });
    window.bench = {
      disk: disks[1].DiskId,
      bytes(n, seed) { const b = new Uint8Array(n); let x = seed >>> 0; for (let i = 0; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; b[i] = x >>> 24; } return b; },
    };
    return { id, mib };
  }, MIB);
  const up = [];
  const raw = [];
  let sid;
  for (let round = 0; round < ROUNDS; round++) {
    // Fresh bytes each round (nothing deduplicated), written before the clock starts.
    const urls = Array.from({ length: MIB }, (_, i) => presign(s3, { method: 'PUT', bucket: BUCKET, key: `raw/${round}/${i}` }));
    raw.push(await p.evaluate(async ({ urls, round }) => {
      const data = bench.bytes(1 << 20, 1000 + round);
      const t0 = performance.now();
      for (const u of urls) {
        const r = await fetch(u, { method: 'PUT', body: data });
        if (!r.ok) throw new Error('raw PUT ' + r.status);
        data[0]++; // another object's bytes
      }
      return performance.now() - t0;
    }, { urls, round }));
    const r = await p.evaluate(async ({ mib, round }) => {
      await ecs.writeDisk(bench.disk, 0, bench.bytes(mib << 20, 7 + round));
      const t0 = performance.now();
      const id = (await ecs.request('CreateSnapshot', { DiskId: bench.disk, InstantAccessRetentionDays: 1 })).SnapshotId;
      for (;;) {
        const s = (await ecs.request('DescribeSnapshots', { SnapshotIds: [id] })).Snapshots.Snapshot[0];
        if (s.Status === 'accomplished') { window.lastUploaded = s.UploadedBytes; break; }
        await new Promise((r) => setTimeout(r, 100)); // each poll is a request that competes with the upload
      }
      return { ms: performance.now() - t0, id, uploaded: window.lastUploaded };
    }, { mib: MIB, round });
    up.push(r.ms);
    if (r.uploaded < MIB << 20) throw new Error(`the snapshot uploaded ${r.uploaded} bytes, not ${MIB} MiB`);
    sid = r.id;
  }
  // The first read of a released snapshot: its pack comes from the bucket.
  const first = await p.evaluate(async (sid) => {
    await ecs.advanceClock(2 * 86400); // past its instant-access retention: released
    const s = (await ecs.request('DescribeSnapshots', { SnapshotIds: [sid] })).Snapshots.Snapshot[0];
    if (!s.LocalCopyReleased) throw new Error('not released');
    const t0 = performance.now();
    await ecs.readSnapshot(sid, 12 << 20, 4096);
    return performance.now() - t0;
  }, sid);
  const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  const ratio = med(raw) / med(up);
  console.log(`s3 upload of ${MIB} MiB: ${up.map((x) => x.toFixed(0)).join(', ')} ms; plain PUTs: ${raw.map((x) => x.toFixed(0)).join(', ')} ms; ratio ${ratio.toFixed(2)}; first read ${first.toFixed(1)} ms`);
  console.log(`BENCH_JSON ${JSON.stringify({
    s3_upload_vs_raw_put: Number(ratio.toFixed(3)),
    s3_upload_mb_s: Number((MIB / (med(up) / 1000)).toFixed(1)),
    s3_raw_put_mb_s: Number((MIB / (med(raw) / 1000)).toFixed(1)),
    s3_restore_first_read_ms: Number(first.toFixed(1)),
  })}`);
  await context.close();
} finally {
  await browser.close();
  await server.close();
  await s3.close();
}
