// The app's figures in headless Chromium on loopback: bytes downloaded, time to a usable Join button, click to joined,
// and message latency with many messages in view. Prints one JSON line; `cargo xtask bench` runs it and reads the line.
//
// Environment: SANCTUM_RELAY_BIN, SANCTUM_WEB_DIR (as for the browser tests), CHROMIUM_PATH, BENCH_RUNS (default 5),
// BENCH_IN_VIEW (default 50,300,1000), BENCH_MESSAGES (messages timed per point, default 10), BENCH_THINK_MS (the
// pause between filling the join form and clicking Join, default 1000).
import { createRoom, openMember, seeMembers, startRelay, waitScreen, STRONG_PASSWORD } from '../../tests/browser/harness.mjs';
import { pathBytes } from '../../tests/browser/bytes.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const IN_VIEW = (process.env.BENCH_IN_VIEW ?? '50,300,1000').split(',').map(Number);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 10);
/**
 * A person reads what they typed before clicking Join; the app starts Argon2 and the connection meanwhile. One second
 * is a quick person; 0 measures a click that comes with the last keystroke.
 */
const THINK_MS = Number(process.env.BENCH_THINK_MS ?? 1000);

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function summary(values) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), runs: values.length };
}

/** Records, in the page, when the Join button is clicked and when the chat screen shows, on the page's clock. */
function watchJoin() {
  window.__joinTimes = {};
  document.addEventListener(
    'click',
    (event) => {
      if (event.target?.closest?.('#join-submit')) window.__joinTimes.click ??= performance.now();
    },
    true,
  );
  new MutationObserver(() => {
    if (window.__joinTimes.click !== undefined && !document.getElementById('screen-chat').hidden) {
      window.__joinTimes.joined ??= performance.now();
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['hidden'] });
}

/** A joiner's first visit: navigation to a usable Join button, its bytes, and click to joined. */
async function joinOnce(origin, link, index) {
  const member = await openMember();
  try {
    await member.context.addInitScript(watchJoin);
    const bytes = pathBytes(member.page);
    await member.page.goto(link);
    await waitScreen(member.page, 'join');
    await member.page.locator('#join-submit:not([disabled])').waitFor();
    // The button is enabled once the Worker has compiled the module and checked the link: what a click needs.
    const usable = await member.page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      return performance.now() - (nav?.startTime ?? 0);
    });
    await bytes.settle();
    const joinBytes = bytes.total();
    const joinFiles = bytes.files();
    await member.page.getByLabel('Your alias').filter({ visible: true }).fill(`joiner${index}`);
    await member.page.getByLabel('Room password').filter({ visible: true }).fill(STRONG_PASSWORD);
    await member.page.waitForTimeout(THINK_MS);
    await member.page.locator('#join-submit').click();
    await waitScreen(member.page, 'chat', 30_000);
    const times = await member.page.waitForFunction(() => window.__joinTimes.joined && window.__joinTimes);
    const { click, joined } = await times.jsonValue();
    await bytes.settle();
    return { usableMs: usable, clickToJoinedMs: joined - click, joinBytes, joinFiles, afterJoinBytes: bytes.total() };
  } finally {
    await member.close();
  }
}

/** A creator's first visit to the create screen, until the strength meter has scored a password. */
async function createScreenOnce(origin) {
  const member = await openMember();
  try {
    const bytes = pathBytes(member.page);
    await member.page.goto(`${origin}/`);
    await waitScreen(member.page, 'home');
    await member.page.getByRole('button', { name: 'Create a room' }).click();
    await member.page.getByLabel('Room password').filter({ visible: true }).fill('a few words to check strength');
    await member.page.locator('#strength-bar:not([data-score="0"])').waitFor();
    await bytes.settle();
    return { createBytes: bytes.total(), createFiles: bytes.files() };
  } finally {
    await member.close();
  }
}

/** Fills a page's log with `count` messages through the view, as if they had arrived, so that `count` are in view. */
async function fillLog(page, count) {
  await page.evaluate(async (n) => {
    const view = await import('/view.js');
    view.clearLog();
    const from = { alias: 'filler', fingerprint: 'ffff ffff', duplicate: false };
    for (let i = 0; i < n; i += 1) {
      view.appendMessage({ from, mine: i % 3 === 0, whisper: false, farewell: false, text: `Earlier message ${i} with <b>some</b> formatting and enough words to wrap once on a narrow screen.`, time: Date.now() });
    }
  }, count);
}

/** Watches the receiver's log for the message `text` and records when it appears, and long tasks on both pages. */
async function latencyAt(sender, receiver, inView) {
  await fillLog(sender.page, inView);
  await fillLog(receiver.page, inView);
  for (const page of [sender.page, receiver.page]) {
    await page.evaluate(() => {
      window.__longTasks = [];
      window.__seen = new Map();
      window.__painted = new Map();
      const observer = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
      });
      observer.observe({ type: 'longtask', buffered: false });
      new MutationObserver((records) => {
        const now = performance.timeOrigin + performance.now();
        for (const record of records) {
          for (const node of record.addedNodes) {
            const match = /bench-([\d-]+)/.exec(node.textContent ?? '');
            if (match && !window.__seen.has(match[1])) {
              const key = match[1];
              window.__seen.set(key, now);
              // The frame that shows the new entry: a message posted from its animation frame callback is handled
              // once that frame's style, layout and paint are done.
              requestAnimationFrame(() => {
                const channel = new MessageChannel();
                channel.port1.onmessage = () => window.__painted.set(key, performance.timeOrigin + performance.now());
                channel.port2.postMessage(null);
              });
            }
          }
        }
      }).observe(document.getElementById('log'), { childList: true, subtree: true });
    });
  }
  const latencies = [];
  const painted = [];
  const box = sender.page.getByLabel('Message', { exact: true }).filter({ visible: true });
  for (let i = 0; i < MESSAGES; i += 1) {
    const id = `${inView}-${i}-${Date.now()}`;
    // `fill` leaves the focus in the box; the key goes to the page as it is. `box.press` would first look the box up by
    // its label, a query over the whole page that grows with the log, after the clock was read.
    await box.fill(`bench-${id}`);
    const sentAt = await sender.page.evaluate(() => performance.timeOrigin + performance.now());
    await sender.page.keyboard.press('Enter');
    const handle = await receiver.page.waitForFunction((key) => window.__seen.get(key), id, { polling: 'raf' });
    latencies.push((await handle.jsonValue()) - sentAt);
    const paint = await receiver.page.waitForFunction((key) => window.__painted.get(key), id, { polling: 'raf' });
    painted.push((await paint.jsonValue()) - sentAt);
    // Let both pages go idle, as between two messages a person types.
    await sender.page.waitForTimeout(150);
  }
  const longTasks = [];
  for (const page of [sender.page, receiver.page]) longTasks.push(...(await page.evaluate(() => window.__longTasks)));
  return { inView, latency: summary(latencies), painted: summary(painted), longTasks: longTasks.length, longestTaskMs: longTasks.length ? Math.max(...longTasks) : 0 };
}

const relay = await startRelay(['--frames-per-second', '1000', '--frame-burst', '1000', '--max-membership-events', '10000', '--failed-joins-per-address', '1000']);
const members = [];
try {
  const creator = await openMember();
  members.push(creator);
  const link = await createRoom(creator.page, relay.origin);

  const joins = [];
  for (let i = 0; i < RUNS; i += 1) joins.push(await joinOnce(relay.origin, link, i));
  process.stderr.write(`bench: ${RUNS} joins\n`);
  const creates = [];
  for (let i = 0; i < RUNS; i += 1) creates.push(await createScreenOnce(relay.origin));
  process.stderr.write(`bench: ${RUNS} create screens\n`);

  const receiver = await openMember();
  members.push(receiver);
  await receiver.page.goto(link);
  await waitScreen(receiver.page, 'join');
  await receiver.page.getByLabel('Your alias').filter({ visible: true }).fill('receiver');
  await receiver.page.getByLabel('Room password').filter({ visible: true }).fill(STRONG_PASSWORD);
  await receiver.page.locator('#join-submit:not([disabled])').click();
  await waitScreen(receiver.page, 'chat', 30_000);
  // The joiners of the first part have gone; the two pages must accept each other before a message can reach.
  await seeMembers(creator.page, 2, 60_000);
  await seeMembers(receiver.page, 2, 60_000);

  const latency = [];
  for (const inView of IN_VIEW) {
    latency.push(await latencyAt(creator, receiver, inView));
    process.stderr.write(`bench: latency with ${inView} in view\n`);
  }

  console.log(
    JSON.stringify({
      runs: RUNS,
      thinkMs: THINK_MS,
      join: {
        bytes: summary(joins.map((j) => j.joinBytes)),
        files: joins[0].joinFiles,
        usableMs: summary(joins.map((j) => j.usableMs)),
        clickToJoinedMs: summary(joins.map((j) => j.clickToJoinedMs)),
        bytesThroughJoined: summary(joins.map((j) => j.afterJoinBytes)),
      },
      create: { bytes: summary(creates.map((c) => c.createBytes)), files: creates[0].createFiles },
      latency,
    }),
  );
} finally {
  for (const member of members) await member.close();
  await relay.stop();
}
