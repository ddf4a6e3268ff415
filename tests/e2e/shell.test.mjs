// The console's shell: it loads with no page error, opens its database, navigates,
// and a second tab neither writes behind the first one's back nor is stuck.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve, launch, page, shot, BROWSER } from './lib.mjs';

let server, browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

test('the console loads, opens its database and navigates', async () => {
  const context = await browser.newContext();
  const p = await page(context);
  await p.goto(server.url);
  await p.getByTestId('db-status').filter({ hasText: 'Database ready' }).waitFor({ timeout: 20000 });
  const nav = p.getByRole('navigation', { name: 'Main navigation' });
  for (const name of ['Instances', 'Disks', 'Snapshots', 'Images']) {
    await nav.getByRole('link', { name }).waitFor();
  }
  await assert.doesNotReject(p.getByTestId('db-summary').filter({ hasText: /Database ready \(0 instances, 0 disks, 0 snapshots when this tab opened it\)/ }).waitFor());
  // Ready whatever the answer to the request for persistent storage: Chromium answers at once;
  // Firefox asks the person, and headless nobody answers (the console must not wait for it).
  const summary = p.getByTestId('db-summary');
  if (BROWSER === 'firefox') {
    const storage = await summary.getByText(/^Storage: /).textContent();
    assert.match(storage, /not persistent yet: rowsnap asked the browser to keep it/);
    assert.equal(await p.evaluate(() => Promise.race([navigator.storage.persist().then(() => 'answered'), new Promise((r) => setTimeout(() => r('waiting'), 2000))])), 'waiting',
      'Firefox has not answered the request: the console is Ready with the prompt unanswered');
  } else {
    await summary.getByText(/^Storage: .* available to this site; (persistent \(the browser will not evict it\)|not persistent \(the browser may evict it under pressure\))\.$/).waitFor();
  }
  await shot(p, 'shell-instances');
  await nav.getByRole('link', { name: 'Snapshots' }).click();
  await p.getByRole('heading', { name: 'Snapshots' }).waitFor();
  assert.match(p.url(), /#\/snapshots$/);
  await p.reload();
  await p.getByRole('heading', { name: 'Snapshots' }).waitFor();
  await p.getByTestId('db-status').filter({ hasText: 'Database ready' }).waitFor();
  await shot(p, 'shell-snapshots-after-reload');
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('a second tab says rowsnap is open elsewhere and can take over', async () => {
  const context = await browser.newContext();
  const first = await page(context);
  await first.goto(server.url);
  await first.getByTestId('db-status').filter({ hasText: 'Database ready' }).waitFor({ timeout: 20000 });
  const second = await page(context);
  await second.goto(server.url);
  await second.getByText('rowsnap is open in another tab').waitFor({ timeout: 20000 });
  await shot(second, 'second-tab-waits');
  await second.getByRole('button', { name: 'Take over here' }).click();
  await second.getByTestId('db-status').filter({ hasText: 'Database ready' }).waitFor({ timeout: 20000 });
  await first.getByText('took over the database').waitFor({ timeout: 20000 });
  await shot(first, 'first-tab-taken-over');
  assert.deepEqual(first.errors, []);
  assert.deepEqual(second.errors, []);
  await context.close();
});

test('when another tab deletes or upgrades the database, this tab closes it and says so', async () => {
  const context = await browser.newContext();
  const first = await page(context);
  await first.goto(server.url);
  await first.getByTestId('db-status').filter({ hasText: 'Database ready' }).waitFor({ timeout: 20000 });
  const other = await context.newPage();
  await other.goto(server.url + 'no-such-file.txt'); // same origin, no app (it gets index.html but we act first)
  await other.evaluate(() => new Promise((resolve, reject) => {
    const req = indexedDB.deleteDatabase('rowsnap');
    req.onsuccess = () => resolve();
    req.onerror = () => reject(req.error);
  }));
  await first.getByText('upgraded or deleted by another tab').waitFor({ timeout: 20000 });
  await shot(first, 'database-closed-by-another-tab');
  await context.close();
});
