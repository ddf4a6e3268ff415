// A real S3-compatible server for the tests: SeaweedFS (`weed mini`, installed into
// target/s3 by `scripts/install.sh test`), on loopback only, with a fresh data dir under
// target/s3-data/, one static identity and exact CORS origins; plus SigV4 signing in Node
// (header-signed requests and presigned URLs, path style) for the tests' own admin calls.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const WEED = process.env.ROWSNAP_WEED || path.join(ROOT, 'target/s3/bin/weed');
export const S3_DATA = path.join(ROOT, 'target/s3-data');
export const ACCESS_KEY = 'rowsnap-test';
export const SECRET_KEY = 'rowsnap-test-secret-0123456789abcdef';
export const REGION = 'us-east-1';

// Every weed still running, killed when this process exits, whatever the reason (its
// watchdog, below, then removes its sockets and data dir).
const live = new Set();
const killAll = () => { for (const c of live) try { c.kill('SIGKILL'); } catch {} };
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, function onSignal() {
    killAll();
    process.removeListener(sig, onSignal);
    // Someone else's handler (node:test's) decides what happens next; otherwise die of it.
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  });
}

async function listenOn(port) {
  const s = net.createServer();
  try {
    await new Promise((res, rej) => { s.once('error', rej); s.listen(port, '127.0.0.1', res); });
    return s;
  } catch { return null; }
}

/** `n` distinct free loopback ports (held together while picked, so they differ). */
export async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) servers.push(await listenOn(0));
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

/**
 * `n` free ports p whose p+10000 is free too. SeaweedFS puts each gRPC listener at its
 * HTTP port + 10000, and some of its clients assume that even when told otherwise (mini's
 * worker dials the admin server at admin.port+10000), so keep to that rule. Picked from
 * 10000-22767, so that p and p+10000 stay below Linux's ephemeral range (32768 and up)
 * where outgoing connections take their ports.
 */
export async function freePortPairs(n) {
  const held = [];
  const picked = [];
  try {
    for (let tries = 0; picked.length < n; tries++) {
      if (tries > 2000) throw new Error('no free port pairs p, p+10000 in 10000-32767');
      const p = 10000 + crypto.randomInt(12768);
      if (picked.includes(p) || picked.includes(p - 10000) || picked.includes(p + 10000)) continue;
      const a = await listenOn(p);
      if (!a) continue;
      const b = await listenOn(p + 10000);
      if (!b) { await new Promise((r) => a.close(r)); continue; }
      held.push(a, b);
      picked.push(p);
    }
    return picked;
  } finally {
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const WATCHDOG = `
cat >/dev/null
pid=$1 dir=$2; shift 2
kill -TERM "$pid" 2>/dev/null
# Running, not a zombie waiting for whoever inherited it to reap it.
alive() {
  [ -d /proc/self ] || { kill -0 "$pid" 2>/dev/null; return; }
  s=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1); [ -n "$s" ] && [ "$s" != Z ]
}
i=0; while alive && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
alive && kill -KILL "$pid" 2>/dev/null && sleep 0.2
for p in "$@"; do rm -f /tmp/seaweedfs-*-"$p".sock; done
rm -rf "$dir"
`;

/** weed's Unix sockets, /tmp/seaweedfs-<what>-<port>.sock (a killed weed leaves them behind). */
function removeSockets(ports) {
  let names;
  try { names = fs.readdirSync('/tmp'); } catch { return; }
  const mine = new Set(Object.values(ports).map(String));
  for (const n of names) {
    const m = /^seaweedfs-[a-z0-9-]+-(\d+)\.sock$/.exec(n);
    if (m && mine.has(m[1])) fs.rmSync(path.join('/tmp', n), { force: true });
  }
}

/**
 * Starts `weed mini` on loopback with S3 on a free port. `origins`: the exact origins the
 * server-wide CORS fallback allows (bucket rules from createBucket take precedence).
 * Returns { endpoint, accessKeyId, secretAccessKey, region, stop, restart, close, dir, ports, timings, log }.
 * stop() keeps the data dir (restart() starts again on the same ports and data); close()
 * stops and removes the data dir. stop({ kill: true }) and restart({ kill: true }) SIGKILL
 * instead of SIGTERM, to cut off a request in flight.
 */
export async function startS3({ origins = [], timeoutMs = 60000 } = {}) {
  if (!fs.existsSync(WEED)) throw new Error(`${WEED} is missing: run scripts/install.sh test`);
  if (origins.some((o) => o.includes('*') && o !== '*')) throw new Error('SeaweedFS matches no wildcard-port origin; give exact origins');
  const dir = path.join(S3_DATA, `${Date.now().toString(36)}-${crypto.randomBytes(4).toString('hex')}`);
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
  const config = path.join(dir, 's3.json');
  fs.writeFileSync(config, JSON.stringify({
    identities: [{ name: 'rowsnap-test', credentials: [{ accessKey: ACCESS_KEY, secretKey: SECRET_KEY }], actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'] }],
  }));
  const logFile = path.join(dir, 'weed.log');
  // Every listener on its own free port: the defaults (8333, 8888, 9333, 9340, 23646 and
  // each +10000 for gRPC) may be taken by another run or another program.
  const [s3, filer, master, volume, admin] = await freePortPairs(5);
  const g = 10000;
  const ports = { s3, s3grpc: s3 + g, filer, filergrpc: filer + g, master, mastergrpc: master + g, volume, volumegrpc: volume + g, admin, admingrpc: admin + g };
  fs.mkdirSync(path.join(dir, 'logs'));
  const args = [
    `-logdir=${path.join(dir, 'logs')}`, // glog's files, else in /tmp
    'mini', `-dir=${path.join(dir, 'data')}`, '-ip=127.0.0.1', '-ip.bind=127.0.0.1',
    `-s3.config=${config}`, `-s3.allowedOrigins=${origins.length ? origins.join(',') : '*'}`,
    '-master.telemetry=false', '-webdav=false', '-admin.ui=false', '-s3.port.iceberg=0', '-s3.port.lance=0',
    // No grace for a cluster to redirect writes (there is none): stops in about 1 s, not 2.
    '-volume.preStopSeconds=0',
    ...['s3', 'filer', 'master', 'volume', 'admin'].flatMap((c) => [`-${c}.port=${ports[c]}`, `-${c}.port.grpc=${ports[c + 'grpc']}`]),
  ];
  const endpoint = `http://127.0.0.1:${s3}`;
  const timings = [];
  let child = null, watchdog = null, exited = null;

  const log = () => { try { return fs.readFileSync(logFile, 'utf8'); } catch { return ''; } };
  const tail = () => log().split('\n').slice(-60).join('\n');

  async function start() {
    const t0 = performance.now();
    const fd = fs.openSync(logFile, 'a');
    fs.writeSync(fd, `\n=== ${new Date().toISOString()} ${WEED} ${args.join(' ')}\n`);
    child = spawn(WEED, args, { cwd: dir, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    const c = child;
    live.add(c);
    exited = new Promise((resolve) => c.once('exit', (code, signal) => { live.delete(c); resolve({ code, signal }); }));
    c.once('error', () => {});
    // If this process ends without stop() (even by SIGKILL, where no exit hook runs), the
    // watchdog's stdin pipe closes: it stops weed, then removes weed's sockets and the data dir.
    watchdog = spawn('sh', ['-c', WATCHDOG, 'watchdog', String(c.pid), dir, ...Object.values(ports).map(String)],
      { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    watchdog.unref(); watchdog.stdin.unref?.(); watchdog.stdin.on('error', () => {});
    let died = null;
    exited.then((e) => { died = e; });
    const deadline = t0 + timeoutMs;
    let firstAnswer;
    for (;;) {
      if (died) throw new Error(`weed exited (${JSON.stringify(died)}) before S3 answered on ${endpoint}; log ${logFile}:\n${tail()}`);
      if (performance.now() > deadline) {
        await stop();
        const what = firstAnswer === undefined ? 'S3 did not answer' : `S3 answered after ${firstAnswer} ms but the master never listed the volume server`;
        throw new Error(`${what} on ${endpoint} within ${timeoutMs} ms; log ${logFile}:\n${tail()}`);
      }
      try {
        if (firstAnswer === undefined) {
          const r = await fetch(endpoint + '/', { signal: AbortSignal.timeout(2000) });
          await r.arrayBuffer(); // any HTTP status will do
          firstAnswer = Math.round(performance.now() - t0);
        }
        // S3 answering is not enough to read objects: about 1 restart in 10 here, the volume
        // server reaches the master's topology only ~4.5 s after S3 first answers, and until
        // then GETs of existing objects fail with 500 InternalError. Wait until the master
        // lists the volume server.
        const r = await fetch(`http://127.0.0.1:${ports.master}/dir/status`, { signal: AbortSignal.timeout(2000) });
        const nodes = JSON.stringify((await r.json()).Topology?.DataCenters ?? []);
        if (nodes.includes(`"Url":"127.0.0.1:${ports.volume}"`)) break;
      } catch {}
      await sleep(50);
    }
    timings.push({ what: 'start', ms: Math.round(performance.now() - t0), firstAnswerMs: firstAnswer });
  }

  /** SIGTERM and wait for exit (SIGKILL after 20 s); `kill: true` SIGKILLs at once (a crash). */
  async function stop({ kill = false } = {}) {
    if (!child) return;
    const c = child, w = watchdog;
    child = null; watchdog = null;
    const t0 = performance.now();
    if (c.exitCode === null && c.signalCode === null) {
      c.kill(kill ? 'SIGKILL' : 'SIGTERM');
      let timer;
      const done = await Promise.race([exited, new Promise((r) => { timer = setTimeout(r, 20000, null); })]);
      clearTimeout(timer);
      if (!done) { c.kill('SIGKILL'); await exited; }
    }
    // The watchdog's sh first, then its cat sees end of input and exits.
    try { w.kill('SIGKILL'); } catch {}
    w.stdin.destroy();
    removeSockets(ports);
    timings.push({ what: kill ? 'kill' : 'stop', ms: Math.round(performance.now() - t0) });
  }

  /** stop(options), then start again on the same ports and data dir. */
  async function restart(options) {
    await stop(options);
    await start();
  }

  async function close() {
    await stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }

  await start();
  return { endpoint, accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY, region: REGION, stop, restart, close, dir, ports, timings, log };
}

// ---- SigV4 (path style) ----

const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();
/** RFC 3986 encoding as SigV4 wants it (everything but A-Z a-z 0-9 - _ . ~). */
const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const amzDate = (d) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

function objectUrl(s3, bucket, key = '') {
  let p = '/' + enc(bucket);
  if (key) p += '/' + key.split('/').map(enc).join('/');
  return new URL(s3.endpoint + p);
}

function canonicalQuery(query) {
  return Object.entries(query).map(([k, v]) => [enc(k), enc(String(v))]).sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`).join('&');
}

function signature(s3, date, canonicalRequest) {
  const day = date.slice(0, 8);
  const scope = `${day}/${s3.region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', date, scope, sha256(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac('AWS4' + s3.secretAccessKey, day), s3.region), 's3'), 'aws4_request');
  return { scope, sig: crypto.createHmac('sha256', key).update(toSign).digest('hex') };
}

/** A presigned URL (query signing, only `host` signed, UNSIGNED-PAYLOAD). */
export function presign(s3, { method = 'GET', bucket, key, expires = 600, query = {}, date = new Date() }) {
  const url = objectUrl(s3, bucket, key);
  const t = amzDate(date);
  const q = {
    ...query,
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': `${s3.accessKeyId}/${t.slice(0, 8)}/${s3.region}/s3/aws4_request`,
    'X-Amz-Date': t,
    'X-Amz-Expires': String(expires),
    'X-Amz-SignedHeaders': 'host',
  };
  const cq = canonicalQuery(q);
  const creq = [method, url.pathname, cq, `host:${url.host}\n`, 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const { sig } = signature(s3, t, creq);
  return `${url.origin}${url.pathname}?${cq}&X-Amz-Signature=${sig}`;
}

/**
 * A header-signed request from Node: { status, headers, body (Buffer), text }.
 * `query` is an object ({ cors: '' } for ?cors); `headers` are signed too.
 */
export async function s3request(s3, { method = 'GET', bucket, key, query = {}, headers = {}, body }) {
  const url = objectUrl(s3, bucket, key);
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
  const t = amzDate(new Date());
  const h = { host: url.host, 'x-amz-date': t, 'x-amz-content-sha256': sha256(payload) };
  for (const [k, v] of Object.entries(headers)) h[k.toLowerCase()] = String(v).trim();
  const names = Object.keys(h).sort();
  const cq = canonicalQuery(query);
  const creq = [method, url.pathname, cq, names.map((n) => `${n}:${h[n]}\n`).join(''), names.join(';'), h['x-amz-content-sha256']].join('\n');
  const { scope, sig } = signature(s3, t, creq);
  const send = { ...h, authorization: `AWS4-HMAC-SHA256 Credential=${s3.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${sig}` };
  delete send.host; // fetch sets it, to the same value
  const r = await fetch(`${url.origin}${url.pathname}${cq ? '?' + cq : ''}`, { method, headers: send, body: body === undefined ? undefined : payload });
  const buf = Buffer.from(await r.arrayBuffer());
  return { status: r.status, headers: r.headers, body: buf, text: buf.toString('utf8') };
}

const xmlEscape = (s) => s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' }[c]));

/** The CORS rule the console needs: exact origins; methods, headers and exposed headers for multipart and ranged reads. */
export function corsXml(origins, {
  methods = ['GET', 'PUT', 'POST', 'DELETE', 'HEAD'],
  allowedHeaders = ['*'],
  exposeHeaders = ['ETag', 'Content-Range', 'x-amz-request-id'],
  maxAgeSeconds,
} = {}) {
  const tag = (name, values) => values.map((v) => `<${name}>${xmlEscape(v)}</${name}>`).join('');
  return '<?xml version="1.0" encoding="UTF-8"?>'
    + '<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><CORSRule>'
    + tag('AllowedOrigin', origins) + tag('AllowedMethod', methods) + tag('AllowedHeader', allowedHeaders) + tag('ExposeHeader', exposeHeaders)
    + (maxAgeSeconds === undefined ? '' : `<MaxAgeSeconds>${maxAgeSeconds}</MaxAgeSeconds>`)
    + '</CORSRule></CORSConfiguration>';
}

/** Creates bucket `name` and, when corsOrigins is given, sets its CORS rule (exact origins only). */
export async function createBucket(s3, name, { corsOrigins, ...cors } = {}) {
  const r = await s3request(s3, { method: 'PUT', bucket: name });
  if (r.status !== 200) throw new Error(`CreateBucket ${name}: ${r.status} ${r.text}`);
  if (corsOrigins) {
    if (corsOrigins.some((o) => o.includes('*') && o !== '*')) throw new Error('SeaweedFS matches no wildcard-port origin; give exact origins');
    const xml = corsXml(corsOrigins, cors);
    const c = await s3request(s3, {
      method: 'PUT', bucket: name, query: { cors: '' }, body: xml,
      headers: { 'content-type': 'application/xml', 'content-md5': crypto.createHash('md5').update(xml).digest('base64') },
    });
    if (c.status !== 200) throw new Error(`PutBucketCors ${name}: ${c.status} ${c.text}`);
  }
}
