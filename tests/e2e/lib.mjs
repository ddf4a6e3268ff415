// Shared helpers: a static server for dist/ and a browser that works on this closed network:
// Debian's Chromium (Playwright over CDP), or with ROWSNAP_BROWSER=firefox Debian's stock Firefox
// ESR (Playwright over WebDriver BiDi: playwright-core-bidi, playwright-core 1.64.1, the newest
// whose BiDi commands Firefox ESR 153 knows). The same scenarios run in both.
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { firefox } from 'playwright-core-bidi';
import { serveDir } from '../../scripts/serve.mjs';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const DIST = process.env.ROWSNAP_DIST || path.join(ROOT, 'dist');
/** 'chromium' (the default) or 'firefox' (ROWSNAP_BROWSER). */
export const BROWSER = process.env.ROWSNAP_BROWSER || 'chromium';
if (!['chromium', 'firefox'].includes(BROWSER)) throw new Error(`ROWSNAP_BROWSER=${BROWSER}: chromium or firefox`);
/** Screenshots: target/e2e/ for Chromium, target/e2e/firefox/ for Firefox. */
export const SHOTS = path.join(ROOT, BROWSER === 'firefox' ? 'target/e2e/firefox' : 'target/e2e');

/**
 * Serves dist/ on loopback; unknown paths get index.html (the app routes). `port`: 0 (the
 * default) takes a free one; a fixed port gives a fixed origin (for CORS rules).
 */
export async function serve({ port = 0 } = {}) {
  return serveDir(DIST, { port });
}

export async function launch() {
  if (BROWSER === 'firefox') {
    const browser = await firefox.launch({
      channel: 'moz-firefox',
      executablePath: process.env.FIREFOX || '/usr/bin/firefox-esr',
      headless: true,
      // Nothing of Firefox's own reaches for the network (closed here); persistent storage is
      // left to ask the person, as for a real one (the console must not wait on it).
      // Release builds take services.settings.server only with MOZ_REMOTE_SETTINGS_DEVTOOLS set;
      // a data: URL is never looked up (checked with strace: no connection leaves loopback).
      env: { ...process.env, MOZ_REMOTE_SETTINGS_DEVTOOLS: '1', MOZ_CRASHREPORTER_DISABLE: '1' },
      firefoxUserPrefs: {
        'services.settings.server': 'data:,#remote-settings-dummy/v1',
        'app.update.disabledForTesting': true,
        'browser.safebrowsing.malware.enabled': false,
        'browser.safebrowsing.phishing.enabled': false,
        'network.captive-portal-service.enabled': false,
        'network.connectivity-service.enabled': false,
        'datareporting.policy.dataSubmissionEnabled': false,
      },
    });
    console.error(`e2e: Firefox ${browser.version()} (WebDriver BiDi)`);
    const probe = await browser.newContext();
    patchFill(Object.getPrototypeOf((await probe.newPage()).locator('body')));
    await probe.close();
    return browser;
  }
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  return browser;
}

/**
 * Playwright's fill over BiDi appends to an <input type=number> in Firefox 153 ('30' filled with
 * '2' gives '302'; a plain HTML input does it too, so it is the driver, not the console): in
 * Firefox a number input is filled as a person does it, select all and type.
 */
function patchFill(proto) {
  if (proto.fill.patched) return;
  const fill = proto.fill;
  proto.fill = async function (value, options) {
    if (await this.evaluate((el) => el instanceof HTMLInputElement && el.type === 'number', null, options)) {
      await this.click(options);
      await this.press('Control+a');
      await this.press('Delete');
      if (value !== '') await this.pressSequentially(String(value));
      return;
    }
    return fill.call(this, value, options);
  };
  proto.fill.patched = true;
}

/**
 * The bytes of the file the console hands the browser when `click()` runs: in Chromium the
 * download itself (Playwright's download event); in Firefox, where Playwright's BiDi delivers no
 * download event (checked on a plain page: none for an <a download> of a Blob), the Blob behind
 * the <a download> the console clicks, read in the page, and its file name.
 */
export async function downloadOf(p, click) {
  if (BROWSER !== 'firefox') {
    const [dl] = await Promise.all([p.waitForEvent('download'), click()]);
    return { name: dl.suggestedFilename(), bytes: fs.readFileSync(await dl.path()) };
  }
  await p.evaluate(() => {
    window.__downloads = [];
    if (window.__downloadHook) return;
    window.__downloadHook = true;
    const click = HTMLAnchorElement.prototype.click;
    HTMLAnchorElement.prototype.click = function () {
      if (this.download && this.href.startsWith('blob:')) {
        window.__downloads.push(fetch(this.href).then((r) => r.arrayBuffer()).then((b) => ({ name: this.download, b64: btoaBytes(new Uint8Array(b)) })));
      }
      return click.call(this);
    };
    function btoaBytes(a) {
      let s = '';
      for (let i = 0; i < a.length; i += 0x8000) s += String.fromCharCode(...a.subarray(i, i + 0x8000));
      return btoa(s);
    }
  });
  await click();
  const got = await p.evaluate(async () => {
    for (let i = 0; i < 300 && window.__downloads.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    return window.__downloads.length ? window.__downloads[0] : null;
  });
  if (!got) throw new Error('the console handed the browser no file to download within 30 s');
  return { name: got.name, bytes: Buffer.from(got.b64, 'base64') };
}

/** A page that records every page error and console error. */
export async function page(context) {
  const p = await context.newPage();
  p.errors = [];
  p.on('pageerror', (e) => p.errors.push(`pageerror: ${e.message}`));
  p.on('console', (m) => { if (m.type() === 'error') p.errors.push(`console: ${m.text()}`); });
  return p;
}

export async function shot(p, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await p.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

// Helpers evaluated in the page (window.t).
export const PAGE_HELPERS = `
  window.t = {
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    async until(action, params, pick, want) {
      for (let i = 0; i < 100; i++) {
        if (pick(await ecs.request(action, params)) === want) return;
        await t.sleep(100);
      }
      throw new Error(action + ' never reached ' + want);
    },
    async run(params) {
      const id = (await ecs.request('RunInstances', params)).InstanceIdSets.InstanceIdSet[0];
      const r = params.RegionId ? { RegionId: params.RegionId } : {};
      await t.until('DescribeInstances', { ...r, InstanceIds: [id] }, (r) => r.Instances.Instance[0].Status, 'Running');
      const disks = (await ecs.request('DescribeDisks', { ...r, InstanceId: id })).Disks.Disk;
      for (const d of disks) await t.until('DescribeDisks', { ...r, DiskIds: [d.DiskId] }, (r) => r.Disks.Disk[0].Status, 'In_use');
      return { id, disks: disks.sort((a, b) => a.Device.localeCompare(b.Device)) };
    },
    async disk(params) {
      const id = (await ecs.request('CreateDisk', params)).DiskId;
      await t.until('DescribeDisks', { DiskIds: [id] }, (r) => r.Disks.Disk[0].Status, 'Available');
      return id;
    },
  };
`;


/** Opens the console at `route` once its database is ready, with PAGE_HELPERS installed. */
export async function openConsoleAt(url, context, route = '#/instances') {
  const p = await page(context);
  await p.setViewportSize({ width: 1440, height: 900 });
  await p.goto(url + route);
  await p.getByTestId('db-status').filter({ hasText: 'Database ready' }).waitFor({ timeout: 20000 });
  await p.evaluate(PAGE_HELPERS);
  return p;
}

/** Clicks a link of the left navigation. */
export const nav = (p, name) => p.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name }).click();
/** A regular expression matching exactly `text`. */
export const exactly = (text) => new RegExp(`^${text}$`);

// The saved machine states (the guest's fast boot) travel between the guest tests, each in
// its own browser profile: the first cold boot of a disk layout saves one, later tests boot
// from it (issue 12: at most one cold boot per disk layout in a test run). Kept by key (the
// guest build, memory, disk sizes) under target/e2e/guest-state/.
const STATE_DIR = path.join(ROOT, 'target/e2e/guest-state');

/** Gives the page's database the machine states earlier tests kept; returns their keys. */
export async function seedGuestStates(p) {
  if (!fs.existsSync(STATE_DIR)) return [];
  const files = fs.readdirSync(STATE_DIR);
  for (const f of files) {
    const b64 = fs.readFileSync(path.join(STATE_DIR, f)).toString('base64');
    await p.evaluate(async ([k, b64]) => {
      const bin = atob(b64);
      const a = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) a[i] = bin.charCodeAt(i);
      await ecs.guest.saveState(k, a);
    }, [decodeURIComponent(f), b64]);
  }
  return files.map(decodeURIComponent);
}

/** Whether `keys` hold a machine state of this guest build for one disk of `bytes` (128 MiB machines). */
export function holdsOneDiskState(keys, bytes) {
  const build = JSON.parse(fs.readFileSync(path.join(DIST, 'guest/manifest.json'))).build;
  return keys.includes(`${build}-128-${bytes}-wce1`);
}

/** Keeps the machine states the page's database holds that no earlier test kept. */
export async function keepGuestStates(p) {
  fs.mkdirSync(STATE_DIR, { recursive: true });
  for (const k of await p.evaluate(() => ecs.guest.stateKeys())) {
    const file = path.join(STATE_DIR, encodeURIComponent(k));
    if (fs.existsSync(file)) continue;
    const b64 = await p.evaluate(async (k) => {
      const a = await ecs.guest.loadState(k);
      let s = '';
      for (let i = 0; i < a.length; i += 0x8000) s += String.fromCharCode(...a.subarray(i, i + 0x8000));
      return btoa(s);
    }, k);
    fs.writeFileSync(file, Buffer.from(b64, 'base64'));
  }
}

// The machines of the guest tests: a cold boot is 20-60 s on a loaded 2-core machine.
export const BOOT_MS = 240_000;

/** Polls `fn(arg)` (async, in the page) every 500 ms until it is true, at most `ms`. */
export async function until(p, fn, arg, ms, what) {
  const end = Date.now() + ms;
  while (!(await p.evaluate(fn, arg))) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await p.waitForTimeout(500);
  }
}

/** Instance `id`'s serial output since its boot ('' while it has no machine). */
export const consoleText = (p, id) => p.evaluate(async (id) => { try { return await ecs.consoleRead(id); } catch (e) { return ''; } }, id);

/** Waits until instance `id`'s serial output since boot contains `text`; on a
 * time-out the error carries the serial output's end and the instance's status. */
export async function serialSays(p, id, text, ms = BOOT_MS) {
  try {
    await until(p, async ([id, text]) => {
      try { return (await ecs.consoleRead(id)).includes(text); } catch (e) { return false; }
    }, [id, text], ms, `"${text}" on ${id}'s serial console`);
  } catch (e) {
    const seen = await p.evaluate(async (id) => {
      const status = await ecs.request('DescribeInstances', { InstanceIds: [id] }).then((r) => r.Instances.Instance[0].Status, (x) => x.Code);
      const out = await ecs.consoleRead(id).then((o) => o.slice(-1500), (x) => `(no serial output: ${x.Code || x.message})`);
      return `status ${status}; the serial output ends with:\n${out}`;
    }, id).catch((x) => `(the page did not answer: ${x.message})`);
    e.message += `\n${seen}`;
    throw e;
  }
}

/** Waits until instance `id` is `want`. */
export const statusIs = (p, id, want, ms = BOOT_MS) => until(p, async ([id, want]) =>
  (await ecs.request('DescribeInstances', { InstanceIds: [id] })).Instances.Instance[0].Status === want, [id, want], ms, `${id} ${want}`);

// Chromium started by hand (vm-kill, vm-full): its whole process group can be SIGKILLed and it
// restarts on the same profile; Playwright drives it over CDP.
/** Chromium on `profile` (a folder of its own), in its own process group (so all of it can be killed at once), over CDP. */
export async function startChromium(profile) {
  const child = spawn(process.env.CHROMIUM || '/usr/bin/chromium', [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', `--user-data-dir=${profile}`,
    '--remote-debugging-port=0', ...(process.env.CHROMIUM_LOG ? ['--enable-logging=stderr', '--v=0', '--vmodule=*indexed_db*=2,*quota*=2,*leveldb*=2'] : []), 'about:blank',
  ], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  const ws = await new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`Chromium gave no DevTools endpoint in 30 s:\n${err}`)), 30_000);
    child.stderr.on('data', (d) => {
      err += d;
      const m = err.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`Chromium exited (${code}):\n${err}`)); });
  });
  const browser = await chromium.connectOverCDP(ws);
  return { child, browser, context: browser.contexts()[0] };
}

/** SIGKILL to every process of the browser (its process group, and any that left it). */
export async function killChromium({ child, profile }) {
  if (child.exitCode === null && child.signalCode === null) {
    const gone = new Promise((r) => child.once('exit', r));
    process.kill(-child.pid, 'SIGKILL');
    await gone;
  }
  for (let i = 0; i < 50; i++) {
    const left = pidsOf(profile);
    if (left.length === 0) return;
    for (const pid of left) { try { process.kill(pid, 'SIGKILL'); } catch (e) { /* gone */ } }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The processes whose command line names `profile` (read from /proc: no procps needed). */
function pidsOf(profile) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(`--user-data-dir=${profile}`)) out.push(Number(d));
    } catch (e) { /* gone meanwhile */ }
  }
  return out;
}
