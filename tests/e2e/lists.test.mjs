// The console's lists and dialogs as a console user expects them: the Disks
// page's search and filters, the Snapshots table's creation-date range, and
// dialogs that keep the keyboard focus (Tab / Shift+Tab cycle inside, Escape
// closes, the focus goes back to the button that opened them). Screenshots
// in target/e2e/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve, launch, shot, openConsoleAt, nav, exactly } from './lib.mjs';

let server, browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

const openConsole = (context, route) => openConsoleAt(server.url, context, route);

/** The ids of the rows the table shows (data-disk or data-snapshot). */
const shownIds = (p, attr) => p.locator(`tr[data-${attr}]`).evaluateAll((rows, a) => rows.map((r) => r.getAttribute(`data-${a}`)).sort(), attr);

test('Disks page: search by ID or name, filters by status, category and disk type, alone and combined', async () => {
  const context = await browser.newContext();
  const p = await openConsole(context);
  // An instance (an ESSD system disk and an ultra-disk data disk, both In_use)
  // and two unattached disks (Available): a standard SSD and an ESSD.
  const ids = await p.evaluate(async () => {
    const vm = await t.run({ ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd', InstanceName: 'alpha', DataDisk: [{ Size: 40, Category: 'cloud_efficiency' }] });
    const zone = vm.disks[0].ZoneId;
    const ssd = await t.disk({ ZoneId: zone, DiskCategory: 'cloud_ssd', Size: 20, DiskName: 'spare-ssd' });
    const essd = await t.disk({ ZoneId: zone, DiskCategory: 'cloud_essd', Size: 20, DiskName: 'spare-essd' });
    return { sys: vm.disks[0].DiskId, data: vm.disks[1].DiskId, ssd, essd };
  });
  const all = await p.evaluate(() => ecs.request('DescribeDisks', { PageSize: 100 }).then((r) => r.Disks.Disk));
  assert.equal(all.length, 4);
  // What each choice must show, from the API's own fields.
  const want = (pred) => all.filter(pred).map((d) => d.DiskId).sort();
  assert.deepEqual(want((d) => d.Type === 'system'), [ids.sys], 'the setup has one system disk');
  assert.deepEqual(want((d) => d.Status === 'Available'), [ids.ssd, ids.essd].sort(), 'the setup has two unattached disks');

  await nav(p, 'Disks');
  const count = (n) => p.getByText(exactly(`${n} of 4 disks`)).waitFor();
  await count(4);
  assert.deepEqual(await shownIds(p, 'disk'), Object.values(ids).sort());
  await shot(p, 'l01-disks-all');

  const expect = async (pred, what) => {
    const ids = want(pred);
    await count(ids.length);
    assert.deepEqual(await shownIds(p, 'disk'), ids, what);
    return ids;
  };
  const search = p.getByLabel('Search disks');
  // Search: by name (any case), by a whole ID, by part of an ID.
  await search.fill('SPARE');
  await expect((d) => d.DiskName.toLowerCase().includes('spare'), 'search by name, any case');
  await search.fill('spare-ssd');
  assert.deepEqual(await expect((d) => d.DiskName === 'spare-ssd', 'search by a full name'), [ids.ssd]);
  await search.fill(ids.data);
  assert.deepEqual(await expect((d) => d.DiskId === ids.data, 'search by disk ID'), [ids.data]);
  await search.fill(ids.data.slice(0, -2).toUpperCase());
  assert.ok((await expect((d) => d.DiskId.toLowerCase().includes(ids.data.slice(0, -2).toLowerCase()), 'search by part of an ID')).includes(ids.data));
  await search.fill('no-such-disk');
  await count(0);
  await p.getByText('No disk matches the search and filters.').waitFor();
  await shot(p, 'l02-disks-search-none');
  await search.fill('');
  await count(4);

  // Status.
  const status = p.getByLabel('Status');
  await status.selectOption('In_use');
  assert.deepEqual(await expect((d) => d.Status === 'In_use', 'status In_use'), [ids.sys, ids.data].sort());
  await status.selectOption('Available');
  assert.deepEqual(await expect((d) => d.Status === 'Available', 'status Available'), [ids.ssd, ids.essd].sort());
  await shot(p, 'l03-disks-available');
  await status.selectOption('Creating');
  await expect(() => false, 'status Creating: none');
  await status.selectOption('');
  await count(4);

  // Category.
  const category = p.getByLabel('Category');
  await category.selectOption('cloud_essd');
  assert.deepEqual(await expect((d) => d.Category === 'cloud_essd', 'category ESSD'), [ids.sys, ids.essd].sort());
  await category.selectOption('cloud_ssd');
  assert.deepEqual(await expect((d) => d.Category === 'cloud_ssd', 'category standard SSD'), [ids.ssd]);
  await category.selectOption('cloud_efficiency');
  assert.deepEqual(await expect((d) => d.Category === 'cloud_efficiency', 'category ultra disk'), [ids.data]);
  await category.selectOption('cloud');
  await expect(() => false, 'category basic disk: none');
  await category.selectOption('');
  await count(4);

  // Disk type.
  const kind = p.getByLabel('Disk Type');
  await kind.selectOption('system');
  assert.deepEqual(await expect((d) => d.Type === 'system', 'system disks'), [ids.sys]);
  await kind.selectOption('data');
  assert.deepEqual(await expect((d) => d.Type === 'data', 'data disks'), [ids.data, ids.ssd, ids.essd].sort());

  // Combined: data disks that are ESSDs, then also In_use (none), then a search on top.
  await category.selectOption('cloud_essd');
  assert.deepEqual(await expect((d) => d.Type === 'data' && d.Category === 'cloud_essd', 'data + ESSD'), [ids.essd]);
  await shot(p, 'l04-disks-data-essd');
  await status.selectOption('In_use');
  await expect(() => false, 'data + ESSD + In_use: none');
  await status.selectOption('Available');
  await search.fill('spare-ssd');
  await expect(() => false, 'data + ESSD + Available + "spare-ssd": none');
  await search.fill('spare-essd');
  assert.deepEqual(await expect((d) => d.DiskName === 'spare-essd', 'every filter and the search together'), [ids.essd]);
  // Back to all.
  await search.fill('');
  await status.selectOption('');
  await category.selectOption('');
  await kind.selectOption('');
  await count(4);
  assert.deepEqual(await shownIds(p, 'disk'), Object.values(ids).sort());
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('Snapshots table: a creation-date range, combined with the other filters; clearing it shows all', async () => {
  const context = await browser.newContext();
  const p = await openConsole(context);
  // Snapshot "early", then three days later on the console's clock, snapshot "late".
  const snaps = await p.evaluate(async () => {
    const vm = await t.run({ ImageId: 'ubuntu_22_04_x64_20G_alibase_20240819.vhd', DataDisk: [{ Size: 20, Category: 'cloud_essd' }] });
    const early = (await ecs.request('CreateSnapshot', { DiskId: vm.disks[0].DiskId, SnapshotName: 'early', Category: 'flash' })).SnapshotId;
    await ecs.advanceClock(3 * 86400);
    const late = (await ecs.request('CreateSnapshot', { DiskId: vm.disks[1].DiskId, SnapshotName: 'late', Category: 'flash' })).SnapshotId;
    const r = await ecs.request('DescribeSnapshots', { PageSize: 100 });
    const day = (id) => r.Snapshots.Snapshot.find((s) => s.SnapshotId === id).CreationTime.slice(0, 10);
    return { early, late, earlyDay: day(early), lateDay: day(late) };
  });
  const shift = (day, n) => new Date(Date.parse(`${day}T00:00:00Z`) + n * 86400000).toISOString().slice(0, 10);
  assert.equal(snaps.lateDay, shift(snaps.earlyDay, 3), 'the console clock moved three days');
  const today = snaps.lateDay; // the console's today

  await nav(p, 'Snapshots');
  const count = (n) => p.getByText(exactly(`${n} of 2 snapshots`)).waitFor();
  await count(2);
  const from = p.getByLabel('Created from');
  const to = p.getByLabel('Created to');
  assert.equal(await from.getAttribute('type'), 'date');
  assert.equal(await to.getAttribute('type'), 'date');
  const range = async (a, b, want, what) => {
    await from.fill(a);
    await to.fill(b);
    await count(want.length);
    assert.deepEqual(await shownIds(p, 'snapshot'), [...want].sort(), what);
  };
  // Ranges that exclude today (and the early day) hide every row.
  await range(shift(today, 1), shift(today, 30), [], 'from tomorrow on');
  await shot(p, 'l05-snapshots-range-after-today');
  await range(shift(snaps.earlyDay, -10), shift(snaps.earlyDay, -1), [], 'before the first snapshot');
  await range(shift(snaps.earlyDay, 1), shift(today, -1), [], 'between the two days');
  // Ranges that include today show today's snapshot; one covering both shows both.
  await range(today, today, [snaps.late], 'today only');
  await shot(p, 'l06-snapshots-range-today');
  await range(snaps.earlyDay, snaps.earlyDay, [snaps.early], 'the early day only');
  await range(shift(snaps.earlyDay, -1), shift(today, 1), [snaps.early, snaps.late], 'both days');
  // Open-ended ranges.
  await range(today, '', [snaps.late], 'from today on');
  await range('', snaps.earlyDay, [snaps.early], 'up to the early day');
  // A start after the end: nothing, and a hint says why.
  await range(today, snaps.earlyDay, [], 'backwards range');
  await p.getByText('The start date is after the end date.').waitFor();
  // Combined with the other filters and the search.
  await range(snaps.earlyDay, today, [snaps.early, snaps.late], 'both days again');
  await p.getByLabel('Source Disk Type').selectOption('data');
  await count(1);
  assert.deepEqual(await shownIds(p, 'snapshot'), [snaps.late], 'dates + data disks');
  await p.getByLabel('Source Disk Type').selectOption('');
  await p.getByLabel('Search snapshots').fill('early');
  await count(1);
  assert.deepEqual(await shownIds(p, 'snapshot'), [snaps.early], 'dates + search');
  await to.fill(shift(today, -1));
  await count(1);
  await from.fill(shift(snaps.earlyDay, 1));
  await count(0);
  await p.getByLabel('Search snapshots').fill('');
  await count(0); // the dates alone still hide both
  await shot(p, 'l07-snapshots-range-none');
  // Clear dates shows all again; so does emptying the inputs by hand.
  await p.getByRole('button', { name: 'Clear dates' }).click();
  await count(2);
  assert.equal(await from.inputValue(), '');
  assert.equal(await to.inputValue(), '');
  assert.equal(await p.getByRole('button', { name: 'Clear dates' }).count(), 0, 'nothing to clear');
  await range(shift(today, 1), '', [], 'after today again');
  await from.fill('');
  await count(2);
  assert.deepEqual(await shownIds(p, 'snapshot'), [snaps.early, snaps.late].sort());
  await shot(p, 'l08-snapshots-cleared');
  assert.deepEqual(p.errors, []);
  await context.close();
});

/** Where the focus is: inside the open dialog or not, and which control. */
const focusInfo = (p) => p.evaluate(() => {
  const a = document.activeElement;
  return {
    inside: !!a && !!a.closest('[role=dialog]'),
    dialog: a?.getAttribute('role') === 'dialog',
    name: a ? (a.getAttribute('aria-label') || a.labels?.[0]?.textContent || a.textContent || a.tagName).trim().slice(0, 40) : null,
    tag: a?.tagName,
  };
});

/** Presses `key` n times; every step the focus must stay inside the dialog. Returns the names visited. */
async function cycle(p, key, n) {
  const seen = [];
  for (let i = 0; i < n; i++) {
    await p.keyboard.press(key);
    const f = await focusInfo(p);
    assert.ok(f.inside, `${key} #${i + 1} left the dialog: focus on ${f.tag} "${f.name}" after ${JSON.stringify(seen)}`);
    seen.push(f.name);
  }
  return seen;
}

test('dialogs keep the focus: Tab and Shift+Tab cycle inside, Escape closes, the focus returns to the opener', async () => {
  const context = await browser.newContext();
  const p = await openConsole(context);
  await p.evaluate(async () => {
    const vm = await t.run({ ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd' });
    await ecs.request('CreateSnapshot', { DiskId: vm.disks[0].DiskId, SnapshotName: 'trap-me', Category: 'flash' });
  });
  await nav(p, 'Snapshots');
  await p.getByRole('row').filter({ hasText: 'trap-me' }).waitFor();

  // Opened from the keyboard: the dialog takes the focus.
  const opener = p.getByRole('button', { name: 'Create Disk Snapshot' });
  await opener.focus();
  await p.keyboard.press('Enter');
  const dlg = p.getByRole('dialog', { name: 'Create Snapshot' });
  await dlg.waitFor();
  assert.ok((await focusInfo(p)).inside, 'the dialog takes the focus when it opens');
  // The controls Tab reaches, in order, once round.
  const forward = await cycle(p, 'Tab', 40);
  assert.equal(forward[0], 'Close', 'Tab from the dialog goes to its first control');
  const round = forward.indexOf('Close', 1);
  assert.ok(round > 3, `Tab comes back round to the first control: ${JSON.stringify(forward)}`);
  const order = forward.slice(0, round);
  assert.equal(order.at(-1), 'Cancel', 'the last control is Cancel');
  for (const name of ['Cloud Disk', 'Select Cloud Disk', 'Snapshot Name', 'Permanent Retention', 'Advanced Configuration', 'Tag Key 1', 'Tag Value 1', 'Add Tag', 'OK']) {
    assert.ok(order.includes(name), `Tab reaches ${name}: ${JSON.stringify(order)}`);
  }
  assert.ok(!order.includes('Instant Access'), 'a control in the closed Advanced Configuration is not a tab stop');
  assert.equal(new Set(order).size, order.length, `each control once a round: ${JSON.stringify(order)}`);
  forward.forEach((name, i) => assert.equal(name, order[i % order.length], `Tab #${i + 1} repeats the ring`));
  await shot(p, 'l09-dialog-tab-cycles');
  // Shift+Tab walks the same ring backwards, from the last control.
  await p.keyboard.press('Escape');
  await dlg.waitFor({ state: 'detached' });
  let f = await focusInfo(p);
  assert.equal(f.name, 'Create Disk Snapshot', 'Escape closes and the focus returns to the opener');
  await p.keyboard.press('Enter');
  await dlg.waitFor();
  const backward = await cycle(p, 'Shift+Tab', 40);
  assert.equal(backward[0], 'Cancel', 'Shift+Tab from the dialog goes to its last control');
  const reversed = [...order].reverse();
  backward.forEach((name, i) => assert.equal(name, reversed[i % reversed.length], `Shift+Tab #${i + 1} walks the ring backwards`));

  // Opening Advanced Configuration adds its controls to the ring.
  await dlg.getByText('Advanced Configuration').click();
  const withAdvanced = await cycle(p, 'Tab', 2 * order.length + 6);
  assert.ok(withAdvanced.includes('Instant Access') && withAdvanced.includes('Resource Group'), 'opened details are tab stops');
  // Focus moved outside by a script comes back.
  await p.evaluate(() => document.querySelector('nav a').focus());
  await p.waitForFunction(() => !!document.activeElement?.closest('[role=dialog]'), null, { timeout: 2000 });
  assert.equal((await focusInfo(p)).name, 'Close', 'focus moved to the page behind comes back to the dialog\'s first control');
  // Focus lost to the body (a removed control): Tab still stays inside.
  await p.evaluate(() => document.activeElement.blur());
  assert.equal(await p.evaluate(() => document.activeElement === document.body), true);
  await cycle(p, 'Tab', 3);
  await p.evaluate(() => document.activeElement.blur());
  await cycle(p, 'Shift+Tab', 3);
  // Escape from the body closes it too.
  await p.evaluate(() => document.activeElement.blur());
  await p.keyboard.press('Escape');
  await dlg.waitFor({ state: 'detached' });

  // A row action's dialog: closed with its Cancel button, the focus returns to the row's button.
  const row = p.getByRole('row').filter({ hasText: 'trap-me' });
  await row.getByRole('button', { name: 'Delete' }).click();
  const del = p.getByRole('dialog', { name: 'Delete Snapshot' });
  await del.waitFor();
  const ring = await cycle(p, 'Tab', 9);
  assert.deepEqual(ring.slice(0, 3), ['Close', 'Delete', 'Cancel']);
  assert.deepEqual(ring.slice(3, 9), ['Close', 'Delete', 'Cancel', 'Close', 'Delete', 'Cancel']);
  assert.deepEqual(await cycle(p, 'Shift+Tab', 4), ['Delete', 'Close', 'Cancel', 'Delete']);
  await shot(p, 'l10-delete-dialog-trap');
  await del.getByRole('button', { name: 'Cancel' }).click();
  await del.waitFor({ state: 'detached' });
  f = await focusInfo(p);
  assert.equal(f.name, 'Delete', 'the focus returns to the row\'s Delete button');
  assert.equal(await p.evaluate(() => document.activeElement.closest('tr')?.dataset.snapshot?.startsWith('s-')), true);
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('Snapshots page: lists of more than 100 are read page by page, none left out', async () => {
  const context = await browser.newContext();
  const p = await openConsole(context);
  const count = await p.evaluate(async () => {
    const { disks } = await t.run({ ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd', DataDisk: [{ Size: 20, Category: 'cloud_essd' }] });
    // 60 snapshots of each disk (the quota is 64 a disk): 120 in all.
    // A disk takes one normal snapshot at a time: both disks in turn, each
    // waiting for its previous upload (of nothing: the disks are empty).
    for (let i = 0; i < 60; i++) {
      const ids = [];
      for (const d of disks) ids.push((await ecs.request('CreateSnapshot', { DiskId: d.DiskId, SnapshotName: `many-${d.Device.slice(-1)}-${i}` })).SnapshotId);
      for (const id of ids) await t.until('DescribeSnapshots', { SnapshotIds: [id] }, (r) => r.Snapshots.Snapshot[0].Status, 'accomplished');
    }
    return (await ecs.request('DescribeSnapshots', { PageSize: 10 })).TotalCount;
  });
  assert.equal(count, 120);
  await nav(p, 'Snapshots');
  await p.getByText('120 of 120 snapshots').waitFor({ timeout: 20000 });
  // The oldest one (past the first 100) is found by the search.
  await p.getByLabel('Search snapshots').fill('many-a-0');
  await p.getByText('1 of 120 snapshots').waitFor();
  await p.getByRole('row').filter({ hasText: 'many-a-0' }).waitFor();
  await shot(p, 'l11-120-snapshots');
  assert.deepEqual(p.errors, []);
  await context.close();
});
