// Shared helpers for the browser tests: a real relay process, real Chromium contexts, and the app's flows.
//
// The relay binary comes from SANCTUM_RELAY_BIN and serves SANCTUM_WEB_DIR; Chromium comes from CHROMIUM_PATH.
// Each member is its own persistent browser context in a fresh temporary profile, so nothing is shared between them.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const RELAY_BIN = process.env.SANCTUM_RELAY_BIN;
const WEB_DIR = process.env.SANCTUM_WEB_DIR;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A password the core's estimator accepts for creating a room. */
export const STRONG_PASSWORD = 'correct horse battery staple violet';

/** How long a test waits for something a person would see, in milliseconds. */
export const SEEN = 15_000;

/**
 * Starts `sanctum-relay` on 127.0.0.1 port 0 serving the web app, and resolves once it prints its address.
 * @param {string[]} flags extra command-line flags, e.g. ['--max-lifetime', '8', '--expiry-warnings', '5,3']
 * @param {{listen?: string, webDir?: string}} [options] the address to listen on, to restart a relay on the port it
 *   had, and the web directory to serve instead of SANCTUM_WEB_DIR
 */
export async function startRelay(flags = [], { listen = '127.0.0.1:0', webDir = WEB_DIR } = {}) {
  if (!RELAY_BIN || !WEB_DIR) throw new Error('set SANCTUM_RELAY_BIN and SANCTUM_WEB_DIR (cargo xtask test does)');
  const args = ['--listen', listen, '--metrics-listen', '127.0.0.1:0', '--web-dir', webDir, ...flags];
  const child = spawn(RELAY_BIN, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: undefined },
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const { origin, metricsUrl } = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start:\n${stderr}`)), 15_000);
    const lines = createInterface({ input: child.stdout });
    let listening = '';
    lines.on('line', (line) => {
      const served = /^sanctum-relay listening on (http:\/\/\S+)$/.exec(line.trim());
      const metrics = /^sanctum-relay metrics on (http:\/\/\S+)$/.exec(line.trim());
      if (served) listening = served[1];
      if (metrics && listening) {
        clearTimeout(timer);
        resolve({ origin: listening, metricsUrl: metrics[1] });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`relay exited with ${code} before listening:\n${stderr}`));
    });
  });
  return {
    origin,
    async metrics() {
      // Metrics are served on the relay's private listener, never on the public origin.
      return (await fetch(metricsUrl)).text();
    },
    /**
     * The relay's samples by name with labels (`sanctum_rejections_total{code="bad_frame"}`), read as the Rust tests'
     * `Metrics` reads them: one `name value` sample per line, comments skipped.
     * @returns {Promise<Map<string, number>>}
     */
    async samples() {
      const lines = (await this.metrics()).split('\n').filter((line) => line && !line.startsWith('#'));
      return new Map(lines.map((line) => {
        const space = line.lastIndexOf(' ');
        return [line.slice(0, space), Number(line.slice(space + 1))];
      }));
    },
    /** One sample's value; an error when the relay has no such sample. */
    async metric(sample) {
      const value = (await this.samples()).get(sample);
      if (value === undefined) throw new Error(`no sample ${sample} in the relay's metrics`);
      return value;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Forwards a browser's bytes to the relay, dropping each unfragmented WebSocket text frame for which `drop(text)` is
 * true: a relay that never received that frame, as a hostile or broken relay would behave. The HTTP upgrade request
 * and every other frame pass unchanged (permessage-deflate is off, so a text frame's payload is the frame's JSON).
 * @param {import('node:net').Socket} from the browser's end
 * @param {import('node:net').Socket} to the relay's end
 * @param {(text: string) => boolean} drop
 */
function filterClientFrames(from, to, drop) {
  let upgraded = false;
  let raw = false;
  let pending = Buffer.alloc(0);
  from.on('data', (chunk) => {
    if (raw) {
      to.write(chunk);
      return;
    }
    pending = Buffer.concat([pending, chunk]);
    if (!upgraded) {
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      // Only the WebSocket's connection carries frames; page loads pass as they are.
      if (!pending.subarray(0, end).toString('latin1').startsWith('GET /ws')) {
        raw = true;
        to.write(pending);
        return;
      }
      to.write(pending.subarray(0, end + 4));
      pending = pending.subarray(end + 4);
      upgraded = true;
    }
    for (;;) {
      if (pending.length < 2) return;
      const length7 = pending[1] & 0x7f;
      const header = length7 === 126 ? 4 : length7 === 127 ? 10 : 2;
      if (pending.length < header) return;
      const length = length7 === 126 ? pending.readUInt16BE(2) : length7 === 127 ? Number(pending.readBigUInt64BE(2)) : length7;
      const masked = (pending[1] & 0x80) !== 0;
      const start = header + (masked ? 4 : 0);
      if (pending.length < start + length) return;
      const frame = pending.subarray(0, start + length);
      pending = pending.subarray(start + length);
      // FIN set and opcode 1: a whole text frame.
      if ((frame[0] & 0x8f) === 0x81) {
        const payload = Buffer.from(frame.subarray(start));
        if (masked) for (let i = 0; i < payload.length; i += 1) payload[i] ^= frame[header + (i % 4)];
        if (drop(payload.toString('utf8'))) continue;
      }
      to.write(frame);
    }
  });
  from.on('end', () => to.end());
}

/**
 * Starts a TCP proxy on 127.0.0.1 port 0 that forwards every connection to a relay, so that a test can cut a
 * member's connection the way a network does: the browser sees its WebSocket fail without a close frame, and the relay
 * sees the member's socket end, while the room lives on.
 * Pages load through the proxy's origin, so the relay must list it with `--public-origin`; that is why the proxy
 * listens before the relay starts and learns the relay's address afterwards, from `forwardTo`.
 * With `dropFromClient`, the browser's text frames for which it returns true never reach the relay.
 * @param {{dropFromClient?: (text: string) => boolean}} [options]
 */
export async function startProxy({ dropFromClient = null } = {}) {
  const open = new Set();
  let target = null;
  let refusing = false;
  let refused = 0;
  const server = createServer((client) => {
    if (refusing || !target) {
      refused += 1;
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(target.port, target.hostname);
    const pair = [client, upstream];
    const end = () => {
      for (const socket of pair) {
        socket.destroy();
        open.delete(socket);
      }
    };
    for (const socket of pair) {
      open.add(socket);
      socket.setNoDelay(true);
      socket.on('error', end);
      socket.on('close', end);
    }
    if (dropFromClient) filterClientFrames(client, upstream, dropFromClient);
    else client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    /** Sets the relay's origin, e.g. `http://127.0.0.1:43125`, that new connections go to. */
    forwardTo(origin) {
      target = new URL(origin);
    },
    /** While true, every new connection is reset as soon as it arrives, as if the network were down. */
    refuse(value) {
      refusing = value;
    },
    /** How many connections were reset on arrival so far. */
    get refused() {
      return refused;
    },
    /** Resets every proxied connection, both the browser's end and the relay's, at once; returns how many it cut. */
    cut() {
      const sockets = [...open];
      open.clear();
      for (const socket of sockets) socket.resetAndDestroy();
      return sockets.length / 2;
    },
    async close() {
      this.cut();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Opens one member: a persistent Chromium context in a fresh profile, with one page.
 * @param {{config?: object, viewport?: {width: number, height: number}, colorScheme?: string, touch?: boolean}} [options]
 *   `config` replaces web/config.json for this member only (test settings such as testDeriveHoldMs); `touch` makes
 *   it a phone: a touch screen whose main pointer is a finger.
 */
export async function openMember({
  config = null,
  viewport = { width: 1280, height: 800 },
  colorScheme = 'light',
  bypassCSP = false,
  touch = false,
} = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sanctum-browser-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    colorScheme,
    permissions: ['clipboard-read', 'clipboard-write'],
    bypassCSP,
    hasTouch: touch,
    isMobile: touch,
  });
  // Records every CSP or Trusted Types violation the page reports, so tests can assert there were none.
  await context.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
    });
  });
  if (config) {
    await context.route('**/config.json', (route) => route.fulfill({ json: config }));
  }
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  return {
    context,
    page,
    errors,
    async close() {
      await context.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Settles every promise of `started`, adding what started to `into` in order; throws the first failure once all are
 * settled, so that whoever closes `into` closes everything that did start.
 * @param {Promise<any>[]} started
 * @param {any[]} into
 */
async function startAll(started, into) {
  const results = await Promise.allSettled(started);
  for (const result of results) if (result.status === 'fulfilled') into.push(result.value);
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * The set-up most test files share: a relay started with `flags`, then one member per entry of `members` (each
 * entry the options of `openMember`), opened together; `close` closes every member and stops the relay.
 * - `proxies`: a proxy in front of the relay per entry (each entry the options of `startProxy`), started first and
 *   listed with `--public-origin`, so that pages load through it and a test can cut or filter one member's connection.
 * - `relays` with `redis`: that many relays sharing rooms through one `redis-server` of the set-up's own; `relay` is
 *   the first, the one the proxies forward to.
 * - `open(options)`: one more member, opened when a test needs it and closed with the others.
 * @param {{flags?: string[], members?: object[], proxies?: object[], relays?: number, redis?: boolean}} [options]
 */
export async function relayWithMembers({ flags = [], members = [], proxies = [], relays = 1, redis = false } = {}) {
  const world = {
    redis: null,
    proxies: [],
    relays: [],
    relay: null,
    members: [],
    async open(options) {
      const member = await openMember(options);
      world.members.push(member);
      return member;
    },
    async close() {
      await Promise.all(world.members.map((member) => member.close()));
      await Promise.all(world.proxies.map((proxy) => proxy.close()));
      await Promise.all(world.relays.map((relay) => relay.stop()));
      world.redis?.stop();
    },
  };
  try {
    if (redis) world.redis = await startRedis();
    await startAll(proxies.map((options) => startProxy(options)), world.proxies);
    const relayFlags = [
      ...flags,
      ...world.proxies.flatMap((proxy) => ['--public-origin', proxy.origin]),
      ...(world.redis ? ['--redis', world.redis.url] : []),
    ];
    await startAll(Array.from({ length: relays }, () => startRelay(relayFlags)), world.relays);
    [world.relay] = world.relays;
    for (const proxy of world.proxies) proxy.forwardTo(world.relay.origin);
    await startAll(members.map((options) => openMember(options)), world.members);
  } catch (error) {
    await world.close();
    throw error;
  }
  return world;
}

/**
 * Polls a condition of the test's own processes (the relay's metrics, a proxy) until it holds, for up to `timeout`
 * milliseconds: what a page shows is waited for through Playwright instead.
 * @param {() => boolean | Promise<boolean>} check
 * @param {string} what the condition in words, for the error when it never holds
 */
export async function until(check, what, timeout = 10_000) {
  for (const started = Date.now(); !(await check());) {
    if (Date.now() - started > timeout) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits until the screen with this name is the one shown. */
export async function waitScreen(page, name, timeout = SEEN) {
  await page.locator(`#screen-${name}`).waitFor({ state: 'visible', timeout });
}

/**
 * Creates a room from the home screen and enters its chat; resolves with the room link.
 * @param {import('playwright-core').Page} page
 */
export async function createRoom(page, origin, { alias = 'alice', room = 'Test room', password = STRONG_PASSWORD, keep = true } = {}) {
  await page.goto(`${origin}/`);
  await waitScreen(page, 'home');
  await page.getByRole('button', { name: 'Create a room' }).click();
  await page.getByLabel('Your alias').filter({ visible: true }).fill(alias);
  await page.getByLabel('Room name').filter({ visible: true }).fill(room);
  await page.getByLabel('Room password').filter({ visible: true }).fill(password);
  if (!keep) await page.getByLabel('Keep me in the room when I refresh this tab').filter({ visible: true }).uncheck();
  await page.getByRole('button', { name: 'Create room' }).click();
  await waitScreen(page, 'link', 30_000);
  const link = await page.locator('#share-block-page-link').inputValue();
  // The link screen offers a QR code drawn locally and a copy button that really copies.
  await page.locator('#share-block-page canvas.qr[aria-label="QR code of the room link"]').waitFor();
  await page.getByRole('button', { name: 'Copy link' }).click();
  await page.locator('#share-block-page .copy-status', { hasText: 'Link copied.' }).waitFor();
  if ((await page.evaluate(() => navigator.clipboard.readText())) !== link) throw new Error('the copied link differs');
  await page.getByRole('button', { name: 'Enter the room' }).click();
  await waitScreen(page, 'chat');
  return link;
}

/**
 * Creates a room from the first member's page and joins every other member from its link, each under the alias at the
 * same place in `aliases`; resolves with the link once every member sees them all.
 * @param {string} origin
 * @param {{page: import('playwright-core').Page}[]} members
 * @param {string[]} aliases
 * @param {{room?: string}} [options]
 */
export async function populatedRoom(origin, members, aliases, { room = 'Test room' } = {}) {
  const [first, ...rest] = members;
  const link = await createRoom(first.page, origin, { alias: aliases[0], room });
  for (const [index, member] of rest.entries()) await joinRoom(member.page, link, { alias: aliases[index + 1] });
  for (const member of members) await seeMembers(member.page, members.length);
  return link;
}

/** Opens a room link and joins with an alias and a password; waits for the chat unless `expectChat` is false. */
export async function joinRoom(page, link, { alias = 'bob', password = STRONG_PASSWORD, keep = true, expectChat = true } = {}) {
  await page.goto(link);
  await waitScreen(page, 'join');
  await page.getByLabel('Your alias').filter({ visible: true }).fill(alias);
  await page.getByLabel('Room password').filter({ visible: true }).fill(password);
  if (!keep) await page.getByLabel('Keep me in the room when I refresh this tab').filter({ visible: true }).uncheck();
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  if (expectChat) await waitScreen(page, 'chat', 30_000);
}

/** Types a message in the composer and sends it with Enter. */
export async function say(page, text) {
  await page.getByLabel('Message', { exact: true }).filter({ visible: true }).fill(text);
  await page.getByLabel('Message', { exact: true }).filter({ visible: true }).press('Enter');
}

/** The chat log. */
export function log(page) {
  return page.getByRole('log');
}

/** Waits for a message bubble containing `text` in the log. */
export async function seeMessage(page, text, timeout = SEEN) {
  await log(page).locator('.bubble', { hasText: text }).first().waitFor({ timeout });
}

/** Waits until the member list shows `count` members. */
export async function seeMembers(page, count, timeout = SEEN) {
  await page.locator('#member-list > li').nth(count - 1).waitFor({ state: 'attached', timeout });
  await page.waitForFunction((n) => document.querySelectorAll('#member-list > li').length === n, count, { timeout });
}

/** The CSP and Trusted Types violations the page reported so far. */
export function violations(page) {
  return page.evaluate(() => window.__violations ?? []);
}

/** Accepts the app's confirmation <dialog>, optionally typing into its input first. */
export async function confirm(page, { input = null } = {}) {
  const dialog = page.locator('#confirm-dialog');
  await dialog.waitFor({ state: 'visible' });
  if (input !== null) await dialog.getByRole('textbox').fill(input);
  await page.locator('#confirm-ok').click();
  await dialog.waitFor({ state: 'hidden' });
}

/** Kicks from the app's kick dialog, once a Kick button or /kick opened it; waits until the dialog closed. */
export async function confirmKick(page) {
  const dialog = page.locator('#kick-dialog');
  await dialog.waitFor({ state: 'visible' });
  await page.locator('#kick-ok').click();
  await dialog.waitFor({ state: 'hidden' });
}

/** A free TCP port on 127.0.0.1, for a server that takes its port on the command line. */
async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a memory-only `redis-server` of the test's own (REDIS_SERVER, or Debian's) on a free port, and resolves
 * once it accepts connections; `stop` kills it by its process id.
 */
export async function startRedis() {
  const port = await freePort();
  const child = spawn(
    process.env.REDIS_SERVER ?? '/usr/bin/redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('redis-server did not start');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}/`,
    stop() {
      child.kill('SIGKILL');
    },
  };
}

/**
 * Makes the page believe it is hidden or shown again, as when its tab goes to the background: the Page Visibility
 * API's state and its `visibilitychange` event, which is all the app reads.
 * @param {import('playwright-core').Page} page
 * @param {boolean} hidden
 */
export async function setHidden(page, hidden) {
  await page.evaluate((value) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (value ? 'hidden' : 'visible') });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => value });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

/**
 * Grants desktop notifications to the app's origin and records every notification the page shows (title and body),
 * still through the browser's own Notification API, in `window.__notifications`.
 * @param {{context: import('playwright-core').BrowserContext}} member
 * @param {string} origin
 */
export async function recordNotifications(member, origin) {
  await member.context.grantPermissions(['notifications'], { origin });
  await member.context.addInitScript(() => {
    const Real = window.Notification;
    window.__notifications = [];
    if (typeof Real !== 'function') return;
    window.Notification = class extends Real {
      constructor(title, options = {}) {
        super(title, options);
        window.__notifications.push({ title, body: options.body ?? '' });
      }
    };
  });
}

/** A buffer of `size` bytes that does not compress, like a photo: a file takes its real time on the wire. */
export function noise(size, seed = 1) {
  const bytes = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i += 1) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}
