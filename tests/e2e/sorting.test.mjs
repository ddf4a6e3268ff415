// The Instances and Disks lists sorted by creation time (newest first until
// the toggle is clicked, then oldest first), paged 20 a page after sorting,
// and the Instances page's Status, Zone and Instance Type filters, alone and
// combined. Resources are made through window.ecs with the console clock
// moved a minute between them, so every creation time differs. Screenshots
// in target/e2e/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serve, launch, shot, openConsoleAt, nav, exactly } from './lib.mjs';

let server, browser;
before(async () => { server = await serve(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

const openConsole = (context, route) => openConsoleAt(server.url, context, route);

/** The ids of the rows the table shows, in the order shown (data-instance or data-disk). */
const rowIds = (p, attr) => p.locator(`tr[data-${attr}]`).evaluateAll((rows, a) => rows.map((r) => r.getAttribute(`data-${a}`)), attr);

/** Waits (up to 5 s) for the table to show exactly `want`, in that order; then asserts it. */
async function expectRows(p, attr, want, what) {
  let got;
  for (let i = 0; i < 50; i++) {
    got = await rowIds(p, attr);
    if (JSON.stringify(got) === JSON.stringify(want)) break;
    await p.waitForTimeout(100);
  }
  assert.deepEqual(got, want, what);
}

const pad = (i) => String(i).padStart(2, '0');
const ZONES = ['cn-hangzhou-h', 'cn-hangzhou-i', 'cn-hangzhou-j', 'cn-hangzhou-k'];
const TYPES = ['ecs.g7.large', 'ecs.g7.xlarge', 'ecs.c7.large', 'ecs.r7.large', 'ecs.t6-c1m1.large'];

test('Instances list: newest first by default, the toggle reverses it (across pages); Status, Zone and Instance Type filters', async () => {
  const context = await browser.newContext();
  const p = await openConsole(context);
  // 22 instances, a minute apart on the console's clock: vm-00 the oldest.
  // Zones: i in 0, 3, 6, ... in cn-hangzhou-i, the rest in cn-hangzhou-h.
  // Types: TYPES[i % 4] (never ecs.t6-c1m1.large). vm-04 and vm-13 are then stopped.
  const setup = await p.evaluate(async ({ ZONES, TYPES }) => {
    const ids = [];
    for (let i = 0; i < 22; i++) {
      if (i > 0) await ecs.advanceClock(60);
      const r = await ecs.request('RunInstances', {
        ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd', InstanceName: `vm-${String(i).padStart(2, '0')}`,
        ZoneId: i % 3 === 0 ? ZONES[1] : ZONES[0], InstanceType: TYPES[i % 4],
      });
      ids.push(r.InstanceIdSets.InstanceIdSet[0]);
    }
    for (const id of ids) await t.until('DescribeInstances', { InstanceIds: [id] }, (r) => r.Instances.Instance[0].Status, 'Running');
    for (const i of [4, 13]) {
      await ecs.request('StopInstance', { InstanceId: ids[i] });
      await t.until('DescribeInstances', { InstanceIds: [ids[i]] }, (r) => r.Instances.Instance[0].Status, 'Stopped');
    }
    const all = (await ecs.request('DescribeInstances', { PageSize: 100 })).Instances.Instance;
    return { ids, all };
  }, { ZONES, TYPES });
  const { ids } = setup;
  // The setup as the API reports it: distinct, increasing creation times.
  const byId = new Map(setup.all.map((i) => [i.InstanceId, i]));
  assert.equal(byId.size, 22);
  const times = ids.map((id) => byId.get(id).CreationTime);
  for (let i = 1; i < times.length; i++) assert.ok(times[i - 1] < times[i], `vm-${pad(i)} was created after vm-${pad(i - 1)}: ${times[i - 1]} < ${times[i]}`);
  assert.deepEqual(ids.filter((id) => byId.get(id).Status === 'Stopped'), [ids[4], ids[13]]);
  assert.equal(byId.get(ids[3]).ZoneId, ZONES[1]);
  assert.equal(byId.get(ids[5]).InstanceType, TYPES[1]);

  const oldestFirst = ids; // creation order
  const newestFirst = [...ids].reverse();
  await nav(p, 'Instances');
  const count = (n) => p.getByText(exactly(`${n} of 22 instances`)).waitFor();
  const sort = p.getByRole('button', { name: 'Sort by creation time' });
  await count(22);

  // Default: newest first, 20 a page.
  assert.equal((await sort.textContent()).trim(), 'Created: newest first');
  await expectRows(p, 'instance', newestFirst.slice(0, 20), 'page 1, newest first: vm-21 … vm-02');
  await p.getByText('Page 1 of 2').waitFor();
  await shot(p, 's01-instances-newest-first');
  await p.getByRole('button', { name: 'Next' }).click();
  await p.getByText('Page 2 of 2').waitFor();
  await expectRows(p, 'instance', newestFirst.slice(20), 'page 2, newest first: vm-01, vm-00');
  // The toggle: oldest first, from page 1.
  await sort.click();
  assert.equal((await sort.textContent()).trim(), 'Created: oldest first');
  await p.getByText('Page 1 of 2').waitFor();
  await expectRows(p, 'instance', oldestFirst.slice(0, 20), 'page 1, oldest first: vm-00 … vm-19');
  await shot(p, 's02-instances-oldest-first');
  await p.getByRole('button', { name: 'Next' }).click();
  await expectRows(p, 'instance', oldestFirst.slice(20), 'page 2, oldest first: vm-20, vm-21');
  // And back.
  await sort.click();
  assert.equal((await sort.textContent()).trim(), 'Created: newest first');
  await expectRows(p, 'instance', newestFirst.slice(0, 20), 'newest first again');

  // The filters' choices: the region's zones, ECS's statuses, the instance types.
  const options = (label) => p.getByLabel(label, { exact: true }).locator('option').evaluateAll((o) => o.map((x) => x.value));
  assert.deepEqual(await options('Zone'), ['', ...ZONES]);
  assert.deepEqual(await options('Instance Type'), ['', ...TYPES]);
  const statuses = await options('Status');
  for (const s of ['', 'Running', 'Stopped', 'Pending', 'Starting', 'Stopping']) assert.ok(statuses.includes(s), `Status offers ${s || 'all'}: ${statuses}`);

  // Each filter, and combinations: the rows the API's fields say, in creation order.
  const status = p.getByLabel('Status', { exact: true });
  const zone = p.getByLabel('Zone', { exact: true });
  const itype = p.getByLabel('Instance Type', { exact: true });
  const search = p.getByLabel('Search instances');
  const expect = async (pred, what, oldest = false) => {
    const want = (oldest ? oldestFirst : newestFirst).filter((id) => pred(byId.get(id)));
    await count(want.length);
    if (want.length === 0) await p.getByText('No instance matches the search and filters.').waitFor();
    await expectRows(p, 'instance', want.slice(0, 20), what);
    return want;
  };
  await status.selectOption('Stopped');
  assert.deepEqual(await expect((i) => i.Status === 'Stopped', 'Stopped'), [ids[13], ids[4]]);
  await shot(p, 's03-instances-stopped');
  await status.selectOption('Running');
  assert.equal((await expect((i) => i.Status === 'Running', 'Running (20: one page)')).length, 20);
  assert.equal(await p.getByText(/^Page \d+ of \d+$/).count(), 0, 'twenty rows fit one page: no pager');
  for (const s of ['Pending', 'Starting', 'Stopping']) {
    await status.selectOption(s);
    await expect(() => false, `${s}: none`);
  }
  await status.selectOption('');
  await count(22);

  await zone.selectOption(ZONES[1]);
  assert.deepEqual(await expect((i) => i.ZoneId === ZONES[1], 'zone i'), [21, 18, 15, 12, 9, 6, 3, 0].map((n) => ids[n]));
  await sort.click();
  assert.deepEqual(await expect((i) => i.ZoneId === ZONES[1], 'zone i, oldest first', true), [0, 3, 6, 9, 12, 15, 18, 21].map((n) => ids[n]));
  await shot(p, 's04-instances-zone-oldest-first');
  await sort.click();
  await zone.selectOption(ZONES[0]);
  assert.equal((await expect((i) => i.ZoneId === ZONES[0], 'zone h')).length, 14);
  await zone.selectOption(ZONES[2]);
  await expect(() => false, 'zone j: none');
  await zone.selectOption('');
  await count(22);

  await itype.selectOption(TYPES[3]);
  assert.deepEqual(await expect((i) => i.InstanceType === TYPES[3], 'ecs.r7.large'), [19, 15, 11, 7, 3].map((n) => ids[n]));
  await itype.selectOption(TYPES[0]);
  assert.deepEqual(await expect((i) => i.InstanceType === TYPES[0], 'ecs.g7.large'), [20, 16, 12, 8, 4, 0].map((n) => ids[n]));
  await itype.selectOption(TYPES[4]);
  await expect(() => false, 'ecs.t6-c1m1.large: none');

  // Combined: g7.large in zone i (0, 12), then Running too (0, 12: vm-04 is in zone h), then Stopped (none).
  await itype.selectOption(TYPES[0]);
  await zone.selectOption(ZONES[1]);
  assert.deepEqual(await expect((i) => i.InstanceType === TYPES[0] && i.ZoneId === ZONES[1], 'g7.large + zone i'), [ids[12], ids[0]]);
  await status.selectOption('Stopped');
  await expect(() => false, 'g7.large + zone i + Stopped: none');
  await zone.selectOption(ZONES[0]);
  assert.deepEqual(await expect((i) => i.InstanceType === TYPES[0] && i.ZoneId === ZONES[0] && i.Status === 'Stopped', 'g7.large + zone h + Stopped'), [ids[4]]);
  await shot(p, 's05-instances-combined');
  // With the search on top.
  await status.selectOption('');
  await itype.selectOption('');
  assert.equal((await expect((i) => i.ZoneId === ZONES[0], 'zone h again')).length, 14);
  await search.fill('VM-1');
  assert.deepEqual(await expect((i) => i.ZoneId === ZONES[0] && i.InstanceName.startsWith('vm-1'), 'zone h + "VM-1"'), [19, 17, 16, 14, 13, 11, 10].map((n) => ids[n]));
  await sort.click();
  assert.deepEqual(await expect((i) => i.ZoneId === ZONES[0] && i.InstanceName.startsWith('vm-1'), 'zone h + "VM-1", oldest first', true), [10, 11, 13, 14, 16, 17, 19].map((n) => ids[n]));
  // Everything cleared: all 22, still oldest first.
  await search.fill('');
  await zone.selectOption('');
  await count(22);
  await expectRows(p, 'instance', oldestFirst.slice(0, 20), 'all, oldest first');
  assert.deepEqual(p.errors, []);
  await context.close();
});

test('Disks list: newest first by default, the toggle reverses it (across pages, with filters)', async () => {
  const context = await browser.newContext();
  const p = await openConsole(context);
  // 22 disks, a minute apart on the console's clock (disk-00 the oldest), except
  // disk-21 made right after disk-20 (the same second or the next: the API's order
  // still puts disk-21 first). Odd ones are standard SSDs, even ones ESSDs.
  const setup = await p.evaluate(async () => {
    const ids = [];
    for (let i = 0; i < 22; i++) {
      if (i > 0 && i < 21) await ecs.advanceClock(60);
      const r = await ecs.request('CreateDisk', {
        ZoneId: 'cn-hangzhou-h', DiskCategory: i % 2 ? 'cloud_ssd' : 'cloud_essd', Size: 20, DiskName: `disk-${String(i).padStart(2, '0')}`,
      });
      ids.push(r.DiskId);
    }
    for (const id of ids) await t.until('DescribeDisks', { DiskIds: [id] }, (r) => r.Disks.Disk[0].Status, 'Available');
    const api = [];
    for (let n = 1; n <= 3; n++) api.push(...(await ecs.request('DescribeDisks', { PageSize: 10, PageNumber: n })).Disks.Disk);
    return { ids, api };
  });
  const { ids } = setup;
  const byId = new Map(setup.api.map((d) => [d.DiskId, d]));
  assert.equal(byId.size, 22);
  const times = ids.map((id) => byId.get(id).CreationTime);
  for (let i = 1; i < 21; i++) assert.ok(times[i - 1] < times[i], `disk-${pad(i)} was created after disk-${pad(i - 1)}`);
  assert.ok(times[20] <= times[21]);
  const newestFirst = [...ids].reverse();
  const oldestFirst = ids;
  assert.deepEqual(setup.api.map((d) => d.DiskId), newestFirst, 'the API lists newest first');

  await nav(p, 'Disks');
  const count = (n) => p.getByText(exactly(`${n} of 22 disks`)).waitFor();
  const sort = p.getByRole('button', { name: 'Sort by creation time' });
  await count(22);
  assert.equal((await sort.textContent()).trim(), 'Created: newest first');
  await expectRows(p, 'disk', newestFirst.slice(0, 20), 'page 1, newest first: disk-21 … disk-02');
  await p.getByText('Page 1 of 2').waitFor();
  await shot(p, 's06-disks-newest-first');
  await p.getByRole('button', { name: 'Next' }).click();
  await p.getByText('Page 2 of 2').waitFor();
  await expectRows(p, 'disk', newestFirst.slice(20), 'page 2, newest first: disk-01, disk-00');

  await sort.click();
  assert.equal((await sort.textContent()).trim(), 'Created: oldest first');
  await p.getByText('Page 1 of 2').waitFor();
  await expectRows(p, 'disk', oldestFirst.slice(0, 20), 'page 1, oldest first: disk-00 … disk-19');
  await shot(p, 's07-disks-oldest-first');
  await p.getByRole('button', { name: 'Next' }).click();
  await expectRows(p, 'disk', oldestFirst.slice(20), 'page 2, oldest first: disk-20, disk-21');

  // A filter keeps the order: standard SSDs (the odd ones), oldest first, one page.
  const category = p.getByLabel('Category');
  await category.selectOption('cloud_ssd');
  await count(11);
  await expectRows(p, 'disk', oldestFirst.filter((id) => byId.get(id).Category === 'cloud_ssd'), 'standard SSDs, oldest first');
  assert.equal(byId.get(ids[1]).Category, 'cloud_ssd');
  await sort.click();
  await expectRows(p, 'disk', [21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1].map((n) => ids[n]), 'standard SSDs, newest first');
  await shot(p, 's08-disks-ssd-newest-first');
  // A search on top (any case): ESSDs named disk-1x.
  await category.selectOption('cloud_essd');
  await p.getByLabel('Search disks').fill('DISK-1');
  await count(5);
  await expectRows(p, 'disk', [18, 16, 14, 12, 10].map((n) => ids[n]), 'ESSDs named disk-1x, newest first');
  await sort.click();
  await expectRows(p, 'disk', [10, 12, 14, 16, 18].map((n) => ids[n]), 'ESSDs named disk-1x, oldest first');
  await p.getByLabel('Search disks').fill('');
  await category.selectOption('');
  await count(22);
  await expectRows(p, 'disk', oldestFirst.slice(0, 20), 'all, oldest first');
  assert.deepEqual(p.errors, []);
  await context.close();
});
