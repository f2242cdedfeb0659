// The relay serves every file of the app with the full CSP and the other security headers of the design.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRelay, openMember, waitScreen, violations } from './harness.mjs';

const EXPECTED_CSP = {
  'default-src': ["'none'"],
  'script-src': ["'self'", "'wasm-unsafe-eval'"],
  'worker-src': ["'self'"],
  'connect-src': ["'self'"],
  'img-src': ["'self'", 'blob:'],
  'media-src': ['blob:'],
  'style-src': ["'self'"],
  'font-src': ["'self'"],
  'base-uri': ["'none'"],
  'form-action': ["'none'"],
  'frame-ancestors': ["'none'"],
  'require-trusted-types-for': ["'script'"],
  'trusted-types': ['sanctum', 'dompurify'],
};

const FILES = [
  ['/', 'text/html'],
  ['/index.html', 'text/html'],
  ['/app.js', 'text/javascript'],
  ['/worker.js', 'text/javascript'],
  ['/derive-worker.js', 'text/javascript'],
  ['/style.css', 'text/css'],
  ['/config.json', 'application/json'],
  ['/pkg/sanctum.js', 'text/javascript'],
  ['/pkg/sanctum_bg.wasm', 'application/wasm'],
  ['/strength-worker.js', 'text/javascript'],
  ['/pkg/strength.js', 'text/javascript'],
  ['/pkg/strength_bg.wasm', 'application/wasm'],
  ['/pkg/lookalike.js', 'text/javascript'],
  ['/pkg/lookalike_bg.wasm', 'application/wasm'],
  ['/vendor/purify.es.mjs', 'text/javascript'],
];

function parseCsp(text) {
  const directives = {};
  for (const part of text.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) directives[name] = sources.sort();
  }
  return directives;
}

let relay;
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await relay?.stop();
});

test('every file carries the full CSP and the other security headers, compressed or not', async () => {
  for (const [path, type] of FILES) {
    for (const encoding of ['br', 'gzip', 'identity']) {
      const response = await fetch(`${relay.origin}${path}`, { headers: { 'accept-encoding': encoding } });
      await checkHeaders(response, `${path} (${encoding})`, type);
      // config.json is never precompressed, so that an operator's edit is what is served.
      const expected = encoding === 'identity' || path === '/config.json' ? null : encoding;
      assert.equal(response.headers.get('content-encoding'), expected, `${path} (${encoding})`);
    }
  }
});

async function checkHeaders(response, path, type) {
  assert.equal(response.status, 200, path);
  const headers = response.headers;
  const csp = parseCsp(headers.get('content-security-policy') ?? '');
  for (const [name, sources] of Object.entries(EXPECTED_CSP)) {
    assert.deepEqual(csp[name], [...sources].sort(), `${path}: ${name}`);
  }
  assert.deepEqual(Object.keys(csp).sort(), Object.keys(EXPECTED_CSP).sort(), `${path}: no other directive`);
  assert.equal(headers.get('referrer-policy'), 'no-referrer', path);
  assert.equal(headers.get('x-content-type-options'), 'nosniff', path);
  assert.equal(headers.get('cross-origin-opener-policy'), 'same-origin', path);
  assert.match(headers.get('cache-control') ?? '', /no-store/, path);
  assert.match(headers.get('content-type') ?? '', new RegExp(`^${type}`), path);
  await response.arrayBuffer();
}

test('the page has no inline script or style and loads without any CSP or Trusted Types violation', async () => {
  const html = await (await fetch(`${relay.origin}/`)).text();
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'no inline <script>');
  assert.doesNotMatch(html, /<style\b/i, 'no <style> element');
  assert.doesNotMatch(html, /\sstyle=/i, 'no style attribute');
  assert.doesNotMatch(html, /\son[a-z]+=/i, 'no inline event handler');
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//i, 'no other origin');

  const member = await openMember();
  try {
    const requests = [];
    member.page.on('request', (request) => requests.push(request.url()));
    await member.page.goto(`${relay.origin}/`);
    await waitScreen(member.page, 'home');
    await member.page.getByRole('button', { name: 'Create a room' }).click();
    await member.page.getByLabel('Room password').filter({ visible: true }).fill('a few words to check strength');
    await member.page.locator('#strength-bar:not([data-score="0"])').waitFor();
    assert.deepEqual(await violations(member.page), []);
    assert.deepEqual(member.errors, []);
    for (const url of requests) assert.ok(url.startsWith(relay.origin), `request left the origin: ${url}`);
  } finally {
    await member.close();
  }
});
