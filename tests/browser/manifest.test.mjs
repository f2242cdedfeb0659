// The page's footer shows the short digest of the manifest.json it was served with, the same digest `sanctum verify`
// prints for that relay, and verify finds every served file and header as the local build has them.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openMember, startRelay, waitScreen } from './harness.mjs';

const CLI_BIN = process.env.SANCTUM_CLI_BIN;
const WEB_DIR = process.env.SANCTUM_WEB_DIR;

let relay;
let member;

before(async () => {
  relay = await startRelay();
  member = await openMember();
});

after(async () => {
  await member?.close();
  await relay?.stop();
});

test('the footer shows the manifest digest that sanctum verify prints, and verify passes the real bundle', async () => {
  if (!CLI_BIN) throw new Error('set SANCTUM_CLI_BIN (cargo xtask test does)');
  const manifest = join(WEB_DIR, 'manifest.json');
  const digest = createHash('sha256').update(readFileSync(manifest)).digest('hex').slice(0, 16);
  await member.page.goto(`${relay.origin}/`);
  await waitScreen(member.page, 'home');
  await member.page.locator('#manifest-digest', { hasText: `build ${digest}` }).waitFor();

  const { stdout } = await promisify(execFile)(CLI_BIN, ['verify', `${relay.origin}/`, '--manifest', manifest]);
  assert.match(stdout, new RegExp(`served manifest digest: ${digest}`));
  assert.match(stdout, /OK: every file matches the local manifest/);
  const listed = Object.keys(JSON.parse(readFileSync(manifest, 'utf8')).files);
  for (const file of ['index.html', 'app.js', 'manifest.js', 'pkg/sanctum_bg.wasm', 'vendor/purify.es.mjs']) {
    assert.ok(listed.includes(file), `${file} is in the manifest`);
  }
  // Each file, `/` and the manifest itself, uncompressed, as brotli and as gzip.
  assert.match(stdout, new RegExp(`checked ${(listed.length + 2) * 3} responses`));
});
