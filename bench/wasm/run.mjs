// Serves the bench page and the wasm build on 127.0.0.1, runs the page in headless Chromium, prints one JSON line.
//
// Environment: SANCTUM_PKG_DIR (the wasm-bindgen output, web/pkg), CHROMIUM_PATH (default /usr/bin/chromium),
// BENCH_OPS (optional comma-separated subset). `cargo xtask bench` runs this and reads the line.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
// The same Chromium flags as the browser tests.
import { CHROMIUM_ARGS } from '../../tests/browser/harness.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const PKG = resolve(process.env.SANCTUM_PKG_DIR ?? join(HERE, '../../web/pkg'));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TIMEOUT_MS = 10 * 60 * 1000;
const TYPES = { '.html': 'text/html', '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm' };

/** Maps a request path to a file under one of the two served folders, refusing anything outside them. */
function fileFor(path) {
  const [root, rest] = path.startsWith('/pkg/') ? [PKG, path.slice(5)] : [HERE, path.slice(1) || 'index.html'];
  const file = normalize(join(root, rest));
  return file.startsWith(root) ? file : null;
}

const server = createServer(async (request, response) => {
  const file = fileFor(new URL(request.url, 'http://localhost').pathname);
  try {
    if (!file) throw new Error('outside the served folders');
    const body = await readFile(file);
    response.writeHead(200, {
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      // Cross-origin isolation gives the Worker's performance.now() its finest resolution.
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-store',
    });
    response.end(body);
  } catch {
    response.writeHead(404).end();
  }
});
await new Promise((done) => server.listen(0, '127.0.0.1', done));
const { port } = server.address();

const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
try {
  const page = await browser.newPage();
  page.on('console', (message) => process.stderr.write(`page: ${message.text()}\n`));
  const query = process.env.BENCH_OPS ? `?ops=${encodeURIComponent(process.env.BENCH_OPS)}` : '';
  await page.goto(`http://127.0.0.1:${port}/index.html${query}`);
  const handle = await page.waitForFunction(() => window.benchResult, null, { timeout: TIMEOUT_MS });
  const result = await handle.jsonValue();
  if (result.error) throw new Error(result.error);
  console.log(JSON.stringify({ ...result, browser: browser.version() }));
} finally {
  await browser.close();
  server.close();
}
