// make bench: first_render_ms (navigation until the home page (Instances) is
// shown after ecs.ready, median of 5, fresh profile each time) and the wasm
// the console fetches, gzipped: wasm_gzip_bytes (the main module, fetched
// before anything runs), wasm_first_page_gzip_bytes (every wasm file fetched
// until the home page is shown: the main module and the home page's parts)
// and wasm_all_parts_gzip_bytes (every part of every page).
// Prints BENCH_JSON {...} for scripts/bench_report.py.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { serve, launch, DIST } from './lib.mjs';

const gzip = (file) => zlib.gzipSync(fs.readFileSync(path.join(DIST, file)), { level: 9 }).length;
const server = await serve();
const browser = await launch();
const times = [];
let fetched = new Set();
for (let i = 0; i < 5; i++) {
  const context = await browser.newContext();
  const p = await context.newPage();
  const wasm = new Set();
  p.on('request', (r) => {
    const name = new URL(r.url()).pathname.slice(1);
    if (name.endsWith('.wasm') && !name.includes('/')) wasm.add(name);
  });
  const t0 = Date.now();
  await p.goto(server.url);
  await p.waitForFunction(() => window.ecs !== undefined);
  await p.evaluate(() => window.ecs.ready);
  await p.getByRole('navigation', { name: 'Main navigation' }).waitFor({ state: 'visible' });
  await p.getByRole('heading', { name: 'Instances', level: 1 }).waitFor({ state: 'visible' });
  times.push(Date.now() - t0);
  fetched = new Set(wasm);
  await context.close();
}
await browser.close();
await server.close();
times.sort((a, b) => a - b);
const files = fs.readdirSync(DIST).filter((f) => f.endsWith('.wasm'));
const main = files.find((f) => f.endsWith('_bg.wasm'));
const wasmGzip = gzip(main);
const firstPage = [...fetched].reduce((n, f) => n + gzip(f), 0);
const allParts = files.filter((f) => f !== main).reduce((n, f) => n + gzip(f), 0);
console.log(`first render: ${times.join(', ')} ms (median ${times[2]})`);
console.log(`wasm gzipped: main module ${wasmGzip}; first page ${firstPage} (${fetched.size} files); all ${files.length - 1} parts ${allParts}`);
console.log(`BENCH_JSON ${JSON.stringify({ first_render_ms: times[2], wasm_bytes: fs.statSync(path.join(DIST, main)).size, wasm_gzip_bytes: wasmGzip, wasm_first_page_gzip_bytes: firstPage, wasm_all_parts_gzip_bytes: allParts, wasm_first_page_files: fetched.size })}`);
