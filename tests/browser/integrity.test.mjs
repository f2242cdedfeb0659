// Subresource Integrity: index.html as build-web wrote it pins the page's script, its stylesheet and every module it
// imports, and Chromium refuses a file whose bytes differ from its pinned digest, served by a real relay from a tampered
// copy of the web directory.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SEEN, openMember, startRelay, waitScreen } from './harness.mjs';

const WEB_DIR = process.env.SANCTUM_WEB_DIR;

const cleanup = [];
after(async () => {
  for (const step of cleanup.reverse()) await step();
});

/** The integrity value index.html gives `path`, by its `src` or `href`. */
function pinned(html, path) {
  const found = new RegExp(`(?:src|href)="${path.replace(/\./g, '\\.')}" integrity="(sha384-[^"]+)"`).exec(html);
  assert.ok(found, `index.html pins ${path}`);
  return found[1];
}

test('index.html pins the script, the stylesheet and each statically imported module with its SHA-384', () => {
  const html = readFileSync(join(WEB_DIR, 'index.html'), 'utf8');
  for (const path of ['app.js', 'style.css', 'strings.js', 'session.js', 'view.js']) {
    const digest = createHash('sha384').update(readFileSync(join(WEB_DIR, path))).digest('base64');
    assert.equal(pinned(html, path), `sha384-${digest}`, path);
  }
  // Loaded later by a dynamic import, or by a Worker, which no integrity attribute can reach.
  for (const path of ['qr.js', 'markdown.js', 'sanitize.js', 'passphrase.js', 'worker.js', 'pkg/sanctum.js']) {
    assert.ok(!html.includes(`"${path}"`), `${path} is not preloaded`);
  }
});

/**
 * Serves a copy of the built app in which `path` gains a harmless line, valid code that would run if Chromium did not
 * check it, opens it in Chromium, and resolves once Chromium reports that the bytes did not match `path`'s integrity.
 * The compressed variants of `path` go, so that the relay serves the altered file itself.
 * @param {string} path
 * @param {string} line
 */
async function openTampered(path, line) {
  const dir = mkdtempSync(join(tmpdir(), 'sanctum-tampered-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(WEB_DIR, dir, { recursive: true });
  writeFileSync(join(dir, path), `${readFileSync(join(dir, path), 'utf8')}\n${line}\n`);
  rmSync(join(dir, `${path}.br`));
  rmSync(join(dir, `${path}.gz`));

  const relay = await startRelay([], { webDir: dir });
  cleanup.push(() => relay.stop());
  const member = await openMember();
  cleanup.push(() => member.close());
  const refused = member.page.waitForEvent('console', {
    predicate: (message) =>
      message.type() === 'error' && message.text().includes(`'integrity' attribute for resource '${relay.origin}/${path}'`),
    timeout: SEEN,
  });
  await member.page.goto(`${relay.origin}/`);
  const message = await refused;
  assert.match(message.text(), /computed SHA-384 integrity .* The resource has been blocked/, message.text());
  return member.page;
}

test('app.js with bytes that differ from its integrity is refused, and the app never starts', async () => {
  const page = await openTampered('app.js', 'globalThis.tampered = true;');
  // The script was blocked, so neither the tampered line nor the app ran: the loading screen stays.
  assert.equal(await page.evaluate(() => globalThis.tampered ?? false), false);
  assert.ok(await page.locator('#screen-loading').isVisible());
  assert.ok(await page.locator('#screen-home').isHidden());
});

test('style.css with bytes that differ from its integrity is refused, and no rule of it applies', async () => {
  const page = await openTampered('style.css', 'body { display: none }');
  assert.equal(await page.evaluate(() => document.querySelector('link[rel="stylesheet"]')?.sheet ?? null), null);
  assert.notEqual(await page.evaluate(() => getComputedStyle(document.body).display), 'none');
});

test('strings.js with bytes that differ from its integrity: Chromium refuses its modulepreload', async () => {
  // Only the preload's own fetch is checked: when it fails before app.js asks for the module, Chromium fetches it
  // again for the import, without integrity, and runs it (docs/threat-model.md, "Subresource Integrity"), so this
  // test asserts the refusal and nothing about what runs after it.
  await openTampered('strings.js', 'globalThis.tampered = true;');
});

test('the untampered copy served the same way starts, so the refusal above is the integrity check', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sanctum-honest-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(WEB_DIR, dir, { recursive: true });
  const relay = await startRelay([], { webDir: dir });
  cleanup.push(() => relay.stop());
  const member = await openMember();
  cleanup.push(() => member.close());
  await member.page.goto(`${relay.origin}/`);
  await waitScreen(member.page, 'home');
  assert.deepEqual(member.errors, []);
});
