// Writes <file>.gz and <file>.br beside every file of the web app the relay serves, for `cargo xtask build-web`.
//
// The relay picks a variant by the request's Accept-Encoding. Every older variant is removed first, so that none can
// outlive its source. config.json is left out because operators edit it in place, manifest.json because build-web
// writes it after this step, and vendor.json is not served.
//
// With `--only manifest.json`, it compresses that one file and removes nothing else: build-web's last step, once the
// manifest is written.
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const COMPRESSED = new Set(['.html', '.js', '.mjs', '.css', '.wasm', '.svg', '.json']);
const LEFT_OUT = new Set(['config.json', 'vendor.json', 'manifest.json']);
const VARIANTS = ['.gz', '.br'];

const [root, flag, only] = process.argv.slice(2);
if (!root || (flag !== undefined && (flag !== '--only' || !only))) {
  throw new Error('usage: node xtask/precompress.mjs <web dir> [--only <file>]');
}

function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (entry.isFile()) yield path;
  }
}

const sources = [];
if (only) {
  sources.push(join(root, only));
} else {
  for (const path of files(root)) {
    if (VARIANTS.includes(extname(path))) rmSync(path);
    else if (COMPRESSED.has(extname(path)) && !LEFT_OUT.has(relative(root, path))) sources.push(path);
  }
}

let raw = 0;
let gzipped = 0;
let brotli = 0;
for (const path of sources) {
  const bytes = readFileSync(path);
  const gz = gzipSync(bytes, { level: 9 });
  const br = brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: statSync(path).size,
    },
  });
  writeFileSync(`${path}.gz`, gz);
  writeFileSync(`${path}.br`, br);
  raw += bytes.length;
  gzipped += gz.length;
  brotli += br.length;
}
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const what = only ?? `${sources.length} served files`;
console.log(`build-web: compressed ${what}: ${kib(raw)} raw, ${kib(gzipped)} gzipped, ${kib(brotli)} brotli`);
