// A static server for a built console (dist/ or target/package/): what `make serve` runs, and
// what the end-to-end tests serve (tests/e2e/lib.mjs imports `serveDir`). Loopback only; paths
// that name no file get index.html (the console's routes); .wasm is sent as application/wasm.
//
//   node scripts/serve.mjs [--dir DIR] [--port PORT]
//
// A port that is taken is an error (exit 1), never a silent move to another one.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.css': 'text/css', '.png': 'image/png', '.json': 'application/json', '.txt': 'text/plain; charset=utf-8',
};

/**
 * Serves `dir` on 127.0.0.1:`port` (0 takes a free one). Resolves with `{url, port, close}`;
 * rejects when the port is taken.
 */
export async function serveDir(dir, { port = 0, cache = 'no-store' } = {}) {
  dir = path.resolve(dir);
  if (!fs.existsSync(path.join(dir, 'index.html'))) throw new Error(`${dir}/index.html is missing: build first (make build)`);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    let file = path.join(dir, path.normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, ''));
    if (!file.startsWith(dir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) file = path.join(dir, 'index.html');
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream', 'cache-control': cache });
    if (req.method === 'HEAD') return res.end();
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((res, rej) => { server.once('error', rej); server.listen(port, '127.0.0.1', res); });
  const bound = server.address().port;
  return { url: `http://127.0.0.1:${bound}/`, port: bound, close: () => new Promise((r) => server.close(r)) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
  const dir = opt('--dir', path.resolve(import.meta.dirname, '../dist'));
  const port = Number(opt('--port', '8080'));
  let build = '';
  try { build = JSON.parse(fs.readFileSync(path.join(dir, 'build.json'))).build; } catch { /* a build without its id */ }
  try {
    // Ask browsers to revalidate: a new build replaces the files under the same names (index.html).
    const s = await serveDir(dir, { port, cache: 'no-cache' });
    console.log(`serve: ${dir} (build ${build || 'unknown'}) on ${s.url}`);
  } catch (e) {
    console.error(`serve: cannot serve on 127.0.0.1:${port}: ${e.code === 'EADDRINUSE' ? 'the port is taken (ROWSNAP_PORT=<port> make serve picks another)' : e.message}`);
    process.exit(1);
  }
}
