// make bench: first_render_ms (navigation until the navigation bar is visible
// after ecs.ready, median of 5, fresh profile each time) and wasm_gzip_bytes.
// Prints BENCH_JSON {...} for scripts/bench_report.py.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { serve, launch, DIST } from './lib.mjs';

const server = await serve();
const browser = await launch();
const times = [];
for (let i = 0; i < 5; i++) {
  const context = await browser.newContext();
  const p = await context.newPage();
  const t0 = Date.now();
  await p.goto(server.url);
  await p.waitForFunction(() => window.ecs !== undefined);
  await p.evaluate(() => window.ecs.ready);
  await p.getByRole('navigation', { name: 'Main navigation' }).waitFor({ state: 'visible' });
  times.push(Date.now() - t0);
  await context.close();
}
await browser.close();
await server.close();
times.sort((a, b) => a - b);
const wasm = fs.readdirSync(DIST).find((f) => f.endsWith('.wasm'));
const bytes = fs.readFileSync(path.join(DIST, wasm));
const gz = zlib.gzipSync(bytes, { level: 9 }).length;
console.log(`first render: ${times.join(', ')} ms (median ${times[2]}); wasm ${bytes.length} bytes, ${gz} gzipped`);
console.log(`BENCH_JSON ${JSON.stringify({ first_render_ms: times[2], wasm_bytes: bytes.length, wasm_gzip_bytes: gz })}`);
