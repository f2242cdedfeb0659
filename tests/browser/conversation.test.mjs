// What people expect of a chat, in real Chromium against a real relay: Markdown, grouped messages, the unread count and
// desktop notifications while the tab is hidden, the "new messages below" marker, attachments with their limit,
// progress and Cancel, bounded memory for files, whisper mode by keyboard, the phone layout, and a long log kept in blocks.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AxeBuilder } from '@axe-core/playwright';
import {
  log,
  noise,
  openMember,
  populatedRoom,
  recordNotifications,
  relayWithMembers,
  say,
  seeMessage,
  setHidden,
  violations,
  waitScreen,
} from './harness.mjs';

// Screenshots for people to look at go to SANCTUM_SHOTS when set, otherwise under target/, never into the tree.
const SHOTS = process.env.SANCTUM_SHOTS ?? fileURLToPath(new URL('../../target/shots', import.meta.url));
mkdirSync(SHOTS, { recursive: true });
const shot = (name) => `${SHOTS}/${name}.png`;
const MIB = 1024 * 1024;

let world;
let relay;
let alice;
let bob;
let carol;
let link;

before(async () => {
  // A slower frame rate than the default keeps files in flight long enough to look at their progress on a busy machine.
  world = await relayWithMembers({
    flags: ['--frames-per-second', '10'],
    members: [
      { config: { relay: null, keptAttachmentBytes: 300 * 1024 } },
      {},
      { viewport: { width: 390, height: 780 }, touch: true },
    ],
  });
  ({ relay, members: [alice, bob, carol] } = world);
  await recordNotifications(bob, relay.origin);
  link = await populatedRoom(relay.origin, [alice, bob, carol], ['alice', 'bob', 'carol'], { room: 'Night shift' });
});

after(() => world?.close());

test('Markdown becomes formatting through the sanitizer, HTML tags still work, and the hint and /help say what works', async () => {
  const hint = alice.page.locator('#composer-hint');
  assert.ok(await hint.isVisible());
  assert.match(await hint.textContent(), /\*\*bold\*\*.*_italic_.*`code`/);

  const text = [
    '**Plan** for _tonight_, with `code` and <u>underline</u>:',
    '',
    '- first',
    '- second',
    '',
    '1. one',
    '2. two',
    '',
    '> quoted words',
    '',
    '```',
    'let x = a < b && c > d;',
    '```',
    '',
    'Details at https://example.org/plan and [the map](https://example.org/map), not [this](javascript:alert(1)).',
    '![remote](https://evil.invalid/pixel.png) stays text.',
  ].join('\n');
  const box = alice.page.getByLabel('Message', { exact: true });
  await box.fill(text);
  await box.press('Enter');
  await seeMessage(bob.page, 'quoted words');
  const bubble = log(bob.page).locator('.bubble', { hasText: 'quoted words' });
  assert.equal(await bubble.locator('strong').textContent(), 'Plan');
  assert.equal(await bubble.locator('em').textContent(), 'tonight');
  assert.equal(await bubble.locator('p code').first().textContent(), 'code');
  assert.equal(await bubble.locator('u').textContent(), 'underline');
  assert.deepEqual(await bubble.locator('ul > li').allTextContents(), ['first', 'second']);
  assert.deepEqual(await bubble.locator('ol > li').allTextContents(), ['one', 'two']);
  assert.equal((await bubble.locator('blockquote').textContent()).trim(), 'quoted words');
  assert.equal(await bubble.locator('pre > code').textContent(), 'let x = a < b && c > d;\n');
  const bare = bubble.locator('a', { hasText: 'https://example.org/plan' });
  assert.equal(await bare.getAttribute('href'), 'https://example.org/plan');
  assert.equal(await bare.getAttribute('rel'), 'noopener noreferrer nofollow');
  assert.equal(await bubble.locator('a', { hasText: 'the map' }).getAttribute('href'), 'https://example.org/map');
  assert.equal(await bubble.locator('a', { hasText: 'this' }).getAttribute('href'), null);
  assert.equal(await bubble.locator('img').count(), 0);
  assert.match(await bubble.textContent(), /!\[remote\]\(https:\/\/evil\.invalid\/pixel\.png\) stays text\./);
  // Every element in the bubble is on the allow-list, with no attribute but a link's.
  const stray = await bubble.evaluate((node) => Array.from(node.querySelectorAll('*'))
    .filter((child) => !['P', 'STRONG', 'EM', 'CODE', 'U', 'UL', 'OL', 'LI', 'BLOCKQUOTE', 'PRE', 'A', 'BR'].includes(child.tagName)
      || Array.from(child.attributes).some((a) => !['href', 'rel', 'target'].includes(a.name)))
    .map((child) => child.outerHTML));
  assert.deepEqual(stray, []);
  await bubble.scrollIntoViewIfNeeded();
  await bob.page.locator('#message').blur();
  await bubble.locator('xpath=ancestor::article[1]').screenshot({ path: shot('markdown-message') });

  await say(alice.page, '/help');
  const help = log(alice.page).locator('.notice.help');
  await help.locator('.help-title', { hasText: 'Formatting' }).waitFor();
  assert.ok(await help.locator('.help-list code', { hasText: '**bold**' }).count());
  assert.ok(await help.locator('.help-list code', { hasText: '/purr alias message' }).count());
  // The list reads as a list, not as a pill: it spans the log and its corners are those of a card.
  const shape = await help.evaluate((node) => ({ radius: parseFloat(getComputedStyle(node).borderRadius), width: node.clientWidth }));
  assert.ok(shape.radius <= 16, `radius ${shape.radius}`);
  assert.ok(shape.width > 500, `width ${shape.width}`);
  for (const member of [alice, bob]) assert.deepEqual(await violations(member.page), []);
});

test('consecutive messages from one sender share one name and avatar; another sender starts a new group', async () => {
  await say(bob.page, 'before the group');
  await seeMessage(alice.page, 'before the group');
  for (const text of ['group one', 'group two', 'group three']) await say(alice.page, text);
  await seeMessage(bob.page, 'group three');
  await say(bob.page, 'an answer');
  await seeMessage(alice.page, 'an answer');
  await say(alice.page, 'group again');
  await seeMessage(bob.page, 'group again');
  const grouped = async (text) => log(bob.page).locator('.msg', { hasText: text }).evaluate((node) => ({
    continued: node.classList.contains('continued'),
    name: getComputedStyle(node.querySelector('.meta')).display !== 'none',
    avatar: getComputedStyle(node.querySelector('.avatar')).visibility === 'visible',
    label: node.getAttribute('aria-label'),
  }));
  assert.deepEqual(await grouped('group one'), { continued: false, name: true, avatar: true, label: 'Message from alice' });
  assert.deepEqual(await grouped('group two'), { continued: true, name: false, avatar: false, label: 'Message from alice' });
  assert.deepEqual(await grouped('group three'), { continued: true, name: false, avatar: false, label: 'Message from alice' });
  assert.equal((await grouped('an answer')).continued, false);
  assert.equal((await grouped('group again')).continued, false);
});

test('the members keep apart by avatar colour', async () => {
  for (const member of [alice, bob, carol]) {
    const hues = await member.page.locator('#member-list .avatar').evaluateAll((nodes) => nodes.map((n) => n.dataset.hue));
    assert.equal(hues.length, 3);
    assert.equal(new Set(hues).size, 3, `colours ${hues}`);
  }
});

test('a hidden tab counts unread messages in its title, and opt-in notifications never name anyone or quote anything', async () => {
  const page = bob.page;
  const bell = page.getByRole('button', { name: 'Turn on desktop notifications' });
  assert.equal(await page.evaluate(() => Notification.permission), 'granted');
  // Nothing is shown before the person asks, even with the browser's permission.
  await setHidden(page, true);
  await say(alice.page, 'before opting in');
  await page.waitForFunction(() => document.title.startsWith('(1) '));
  assert.deepEqual(await page.evaluate(() => window.__notifications), []);
  await setHidden(page, false);
  assert.equal(await page.title(), 'Night shift · Sanctum');

  await bell.click();
  await page.getByRole('button', { name: 'Turn off desktop notifications', pressed: true }).waitFor();
  await setHidden(page, true);
  await say(alice.page, 'secret plans for alice and bob');
  await say(alice.page, 'more from alice');
  await page.waitForFunction(() => document.title === '(2) Night shift · Sanctum');
  const title = await page.title();
  const notes = await page.evaluate(() => window.__notifications);
  assert.ok(notes.length >= 1);
  for (const note of notes) {
    assert.deepEqual(note, { title: 'Sanctum', body: 'New message in Sanctum' });
  }
  // A rendition of the tab strip with the hidden page's real title, for the screenshot.
  const strip = await bob.context.newPage();
  await strip.setViewportSize({ width: 420, height: 60 });
  await strip.setContent('<body style="margin:0;background:#dee1e6;font:14px sans-serif"><div id="tab" style="margin:10px 0 0 10px;padding:10px 16px;width:260px;background:#fff;border-radius:8px 8px 0 0"></div></body>');
  await strip.locator('#tab').evaluate((node, text) => { node.textContent = text; }, title);
  await strip.screenshot({ path: shot('title-unread') });
  await strip.close();

  await setHidden(page, false);
  assert.equal(await page.title(), 'Night shift · Sanctum');
  // A visible tab is not notified.
  const count = notes.length;
  await say(alice.page, 'while bob looks');
  await seeMessage(page, 'while bob looks');
  assert.equal((await page.evaluate(() => window.__notifications)).length, count);
  assert.equal(await page.title(), 'Night shift · Sanctum');
});

test('reading further up, a marker says that new messages arrived below and takes the reader there', async () => {
  const page = bob.page;
  for (let i = 0; i < 24; i += 1) await say(alice.page, `filler ${i}`);
  await seeMessage(page, 'filler 23');
  await page.locator('#log').evaluate((node) => { node.scrollTop = 0; });
  await say(alice.page, 'arrived while scrolled up');
  await seeMessage(page, 'arrived while scrolled up');
  const marker = page.getByRole('button', { name: 'New messages below' });
  await marker.waitFor();
  assert.equal(await page.locator('#log').evaluate((node) => node.scrollTop), 0, 'the reader was pulled down');
  await marker.click();
  await marker.waitFor({ state: 'hidden' });
  assert.ok(await page.locator('#log').evaluate((node) => node.scrollHeight - node.scrollTop - node.clientHeight < 80));
  // At the bottom, new messages simply appear.
  await say(alice.page, 'seen at the bottom');
  await seeMessage(page, 'seen at the bottom');
  assert.equal(await marker.isVisible(), false);
});

test('attachments: the limit before picking, a larger file refused unsent, progress in bytes and percent, and Cancel', async () => {
  const page = alice.page;
  assert.match(await page.locator('#attach-limit').textContent(), /files up to 8\.0 MiB/);
  assert.match(await page.locator('#attach-button').getAttribute('title'), /up to 8\.0 MiB/);
  // Attach works from the keyboard: focus it and press Enter, and the file chooser opens.
  // `press` focuses the button and presses in one step, so no late focus change from an earlier test can take the key.
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.locator('#attach-button').press('Enter')]);
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'attach-button');
  assert.ok(chooser.isMultiple());

  await page.locator('#file-input').setInputFiles({ name: 'huge.bin', mimeType: 'application/octet-stream', buffer: noise(8 * MIB + 1) });
  await log(page).locator('.notice', { hasText: 'huge.bin' }).waitFor();
  assert.equal(await log(page).locator('.attachment').count(), 0, 'a refused file is not shown as sent');

  await page.locator('#file-input').setInputFiles({ name: 'big.bin', mimeType: 'application/octet-stream', buffer: noise(6 * MIB) });
  const mine = log(page).locator('.msg.mine', { has: page.locator('.file-name', { hasText: 'big.bin' }) });
  const progress = mine.locator('.transfer-text');
  await page.waitForFunction(() => /[1-9][\d.]* (KiB|MiB) of 6\.0 MiB · [1-9]\d?%/.test(document.querySelector('#log .transfer-text')?.textContent ?? ''));
  assert.match(await progress.textContent(), /of 6\.0 MiB · \d+%/);
  await mine.scrollIntoViewIfNeeded();
  await page.locator('#message').blur();
  await mine.screenshot({ path: shot('attachment-progress-light') });
  // The progress stays readable on the sender's own bubble in the dark theme too.
  await page.emulateMedia({ colorScheme: 'dark' });
  await mine.screenshot({ path: shot('attachment-progress-dark') });
  const contrast = await new AxeBuilder({ page }).include('#log .transfer').withRules(['color-contrast']).analyze();
  assert.deepEqual(contrast.violations.map((v) => v.id), []);
  await page.emulateMedia({ colorScheme: 'light' });
  const lightContrast = await new AxeBuilder({ page }).include('#log .transfer').withRules(['color-contrast']).analyze();
  assert.deepEqual(lightContrast.violations.map((v) => v.id), []);

  await mine.getByRole('button', { name: 'Cancel' }).click();
  await mine.locator('.transfer-text', { hasText: 'Cancelled' }).waitFor();
  await say(page, 'after the cancelled file');
  await seeMessage(bob.page, 'after the cancelled file');
  await bob.page.waitForTimeout(1500);
  assert.equal(await log(bob.page).locator('.download[aria-label="Download big.bin"]').count(), 0, 'a cancelled file arrived');

  // Sending works again after a cancel, and the progress row goes once the file is sent.
  await page.locator('#file-input').setInputFiles({ name: 'small.txt', mimeType: 'text/plain', buffer: Buffer.from('small file') });
  await log(bob.page).locator('.file-name', { hasText: 'small.txt' }).waitFor();
  // At the receiver, the cancelled file's progress, if a chunk of it had come, says its sender cancelled it.
  const abandoned = log(bob.page).locator('.msg', { has: bob.page.locator('.file-name', { hasText: 'big.bin' }) });
  if (await abandoned.count()) await abandoned.locator('.transfer-text', { hasText: 'the sender cancelled it' }).waitFor();
  assert.equal(await log(bob.page).locator('.msg.incoming').count(), 0);
  const small = log(page).locator('.msg.mine', { has: page.locator('.file-name', { hasText: 'small.txt' }) });
  await small.locator('.transfer').waitFor({ state: 'detached' });
  assert.deepEqual(alice.errors, []);
});

test('completed attachments are kept up to a bound, and the oldest is released to a placeholder', async () => {
  // Alice's tab keeps 300 KiB of files (config.json's keptAttachmentBytes); three files of 120 KiB pass it.
  for (const name of ['first.bin', 'second.bin', 'third.bin']) {
    await bob.page.locator('#file-input').setInputFiles({ name, mimeType: 'application/octet-stream', buffer: noise(120 * 1024, name.length) });
    await log(alice.page).locator('.msg:not(.incoming) .file-name', { hasText: name }).waitFor();
  }
  const released = log(alice.page).locator('.attachment .released', { hasText: 'first.bin' });
  await released.waitFor();
  assert.match(await released.textContent(), /first\.bin \(120\.0 KiB\): released/);
  assert.equal(await log(alice.page).locator('.attachment .released', { hasText: /second|third/ }).count(), 0);
  assert.equal(await log(alice.page).locator('.download[aria-label="Download first.bin"]').count(), 0);
  assert.equal(await log(alice.page).locator('.download[aria-label="Download third.bin"]').count(), 1);
});

test('receiving: a file on its way shows bytes and percent, readable in both themes, says when its sender cancels it, and then the next file itself', async () => {
  const page = alice.page;
  // The largest file a member may send, so that it is still on its way while it is looked at in both themes.
  await bob.page.locator('#file-input').setInputFiles({ name: 'incoming.bin', mimeType: 'application/octet-stream', buffer: noise(8 * MIB, 7) });
  const arriving = log(page).locator('.msg.incoming', { has: page.locator('.file-name', { hasText: 'incoming.bin' }) });
  const words = arriving.locator('.transfer-text');
  await page.waitForFunction(() =>
    /^[1-9][\d.]* (KiB|MiB) of 8\.0 MiB · [1-9]\d?%$/.test(document.querySelector('#log .msg.incoming .transfer-text')?.textContent ?? ''));
  assert.match(await arriving.locator('progress').getAttribute('aria-label'), /^Receiving incoming\.bin, 8\.0 MiB$/);
  // The progress moves as chunks arrive.
  const first = await words.textContent();
  await page.waitForFunction((before) => document.querySelector('#log .msg.incoming .transfer-text')?.textContent !== before, first);
  for (const scheme of ['dark', 'light']) {
    await page.emulateMedia({ colorScheme: scheme });
    await arriving.scrollIntoViewIfNeeded();
    await page.locator('#message').blur();
    await arriving.screenshot({ path: shot(`attachment-receiving-${scheme}`) });
    const contrast = await new AxeBuilder({ page }).include('#log .msg.incoming').withRules(['color-contrast']).analyze();
    assert.deepEqual(contrast.violations.map((v) => v.id), [], scheme);
  }
  // Bob stops sending: his signed cancel ends alice's progress at once, saying why, with no warning.
  await log(bob.page).locator('.msg.mine', { has: bob.page.locator('.file-name', { hasText: 'incoming.bin' }) })
    .getByRole('button', { name: 'Cancel' }).click();
  await bob.page.locator('#log .transfer-text', { hasText: 'Cancelled' }).waitFor();
  const stopped = log(page).locator('.msg', { has: page.locator('.file-name', { hasText: 'incoming.bin' }) });
  await stopped.locator('.transfer-text', { hasText: 'Stopped: the sender cancelled it.' }).waitFor();
  assert.equal(await log(page).locator('.msg.incoming').count(), 0);
  assert.equal(await log(page).locator('.notice.warn', { hasText: 'A file from' }).count(), 0);
  // Bob's next file, once complete and checked, is shown; the cancelled one never is.
  await bob.page.locator('#file-input').setInputFiles({ name: 'whole.bin', mimeType: 'application/octet-stream', buffer: noise(MIB, 8) });
  await log(page).locator('.download[aria-label="Download whole.bin"]').waitFor({ timeout: 60_000 });
  assert.equal(await log(page).locator('.msg.incoming').count(), 0);
  assert.equal(await log(page).locator('.file-name', { hasText: 'whole.bin' }).count(), 1);
  assert.equal(await log(page).locator('.download[aria-label="Download incoming.bin"]').count(), 0);
  assert.equal(await stopped.locator('.transfer-text').textContent(), 'Stopped: the sender cancelled it.');
});

test('a caption typed before attaching travels with the image and is formatted like a message', async () => {
  const box = bob.page.getByLabel('Message', { exact: true });
  await box.fill('**Sunset** from the _roof_');
  // A 1×1 PNG.
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
  await bob.page.locator('#file-input').setInputFiles({ name: 'sunset.png', mimeType: 'image/png', buffer: png });
  // The text went with the file, not as a message of its own.
  assert.equal(await box.inputValue(), '');
  for (const page of [alice.page, bob.page]) {
    const shown = log(page).locator('.msg', { has: page.locator('img[alt="sunset.png"]') });
    await shown.locator('.caption strong', { hasText: 'Sunset' }).waitFor();
    assert.equal(await shown.locator('.caption em').textContent(), 'roof');
  }
  assert.equal(await log(alice.page).locator('.msg .bubble > p', { hasText: 'Sunset from the' }).count(), 0);
});

test('whisper mode says it stays on, Escape leaves it, and the composer shows where the focus is', async () => {
  const page = bob.page;
  await page.getByRole('button', { name: 'Whisper to alice' }).click();
  assert.match(await page.locator('#composer-target-text').textContent(), /Stays on after sending; Esc/);
  await say(page, 'a quiet word');
  await seeMessage(alice.page, 'a quiet word');
  assert.ok(await page.locator('#composer-target').isVisible(), 'whisper mode stays on after sending');
  await page.getByLabel('Message', { exact: true }).press('Escape');
  await page.locator('#composer-target').waitFor({ state: 'hidden' });
  await say(page, 'to everyone again');
  await seeMessage(carol.page, 'to everyone again');

  await page.keyboard.press('Tab');
  await page.getByLabel('Message', { exact: true }).focus();
  const outline = await page.locator('#message').evaluate((node) => {
    const style = getComputedStyle(node);
    return { style: style.outlineStyle, width: parseFloat(style.outlineWidth) };
  });
  assert.notEqual(outline.style, 'none');
  assert.ok(outline.width >= 2, `outline ${outline.width}px`);
});

test('on a phone: grouped messages, the members panel closes on Escape or a tap outside, Enter makes a new line', async () => {
  const page = carol.page;
  assert.ok(await page.evaluate(() => matchMedia('(pointer: coarse)').matches));
  const placeholder = await page.locator('#message').evaluate((node) => {
    const context = document.createElement('canvas').getContext('2d');
    context.font = getComputedStyle(node).font;
    return { text: node.placeholder, width: context.measureText(node.placeholder).width, room: node.clientWidth - 24 };
  });
  assert.ok(placeholder.width <= placeholder.room, `placeholder ${JSON.stringify(placeholder)}`);

  const toggle = page.getByRole('button', { name: /Show members/ });
  const panel = page.locator('#members-panel');
  await toggle.click();
  await panel.waitFor();
  await page.keyboard.press('Escape');
  await panel.waitFor({ state: 'hidden' });
  assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
  await toggle.click();
  await panel.waitFor();
  await page.locator('#log').tap({ position: { x: 20, y: 20 } });
  await panel.waitFor({ state: 'hidden' });
  await toggle.click();
  await panel.waitFor();
  await page.locator('#message').tap();
  await panel.waitFor({ state: 'hidden' });

  const box = page.getByLabel('Message', { exact: true });
  await box.fill('two lines');
  await box.press('Enter');
  await box.pressSequentially('from a phone');
  assert.equal(await box.inputValue(), 'two lines\nfrom a phone');
  await page.getByRole('button', { name: 'Send', exact: true }).tap();
  await seeMessage(alice.page, 'from a phone');
  assert.equal(await box.inputValue(), '');

  // The composer hint is one line on a phone, and nothing of it is cut off.
  const hint = await page.locator('#composer-hint').evaluate((node) => ({
    height: node.getBoundingClientRect().height,
    line: parseFloat(getComputedStyle(node).lineHeight) || parseFloat(getComputedStyle(node).fontSize) * 1.5,
    overflows: node.scrollWidth > node.clientWidth,
    text: node.innerText,
  }));
  assert.ok(hint.height < hint.line * 1.5, `the hint takes ${hint.height} px, more than one line: ${JSON.stringify(hint)}`);
  assert.ok(!hint.overflows, `the hint is cut off: ${JSON.stringify(hint)}`);
  assert.match(hint.text, /\*\*bold\*\*.*\/help.*files up to 8\.0 MiB/);

  for (const text of ['Are we still on for tonight?', 'I can bring the keys', 'and the **maps**']) await say(alice.page, text);
  for (const text of ['Yes, 9 sharp', 'See you there']) await say(bob.page, text);
  await seeMessage(page, 'See you there');
  const groups = await log(page).locator('.msg:not(.continued)').count();
  const messages = await log(page).locator('.msg').count();
  assert.ok(groups < messages, `${groups} groups for ${messages} messages`);
  await page.locator('#message').blur();
  await page.screenshot({ path: shot('phone-grouped') });
  assert.deepEqual(await violations(page), []);
  assert.deepEqual(carol.errors, []);
});

test('the landing page: a link placeholder that looks like a real link, and no clock', async () => {
  const member = await openMember();
  try {
    await member.page.goto(`${relay.origin}/`);
    await waitScreen(member.page, 'home');
    assert.match(await member.page.locator('#home-link').getAttribute('placeholder'), /#v1\./);
    assert.equal(await member.page.locator('.fact-clock').isVisible(), false);
  } finally {
    await member.close();
  }
});

test('a long log: entries are kept in blocks of at most 50, an arrival adds to the last one only, and scrolling up shows the first', async () => {
  const page = bob.page;
  // A thousand entries through the view, as if they had arrived, after what the earlier tests left in the log.
  await page.evaluate(async () => {
    const view = await import('/view.js');
    const from = { alias: 'filler', fingerprint: 'ffff ffff', duplicate: false };
    for (let i = 0; i < 1000; i += 1) {
      view.appendMessage({ from, mine: false, whisper: false, farewell: false, text: `long log ${i}`, time: Date.now() });
    }
  });
  // Watches every change to the log from here on.
  await page.evaluate(() => {
    window.__logChanges = [];
    new MutationObserver((records) => window.__logChanges.push(...records.map((record) => ({
      type: record.type,
      added: [...record.addedNodes].map((node) => node.textContent),
      removed: record.removedNodes.length,
      target: record.target.id || record.target.className,
    })))).observe(document.getElementById('log'), { childList: true, subtree: true, attributes: true, characterData: true });
  });
  await say(alice.page, 'after a thousand');
  await seeMessage(page, 'after a thousand');
  const shape = await page.evaluate(() => {
    const log = document.getElementById('log');
    return {
      blocks: [...log.children].map((block) => [block.className, block.childElementCount]),
      last: log.lastElementChild.lastElementChild.textContent,
      fillers: [...log.querySelectorAll('.bubble')].map((b) => b.textContent).filter((t) => t.startsWith('long log ')),
      changes: window.__logChanges,
    };
  });
  const entries = shape.blocks.reduce((sum, [, count]) => sum + count, 0);
  assert.ok(entries > 1001, 'every entry is still in the log');
  assert.ok(shape.blocks.every(([name, count]) => /^log-chunk( continues)?$/.test(name) && count > 0 && count <= 50), JSON.stringify(shape.blocks));
  assert.equal(shape.blocks.length, Math.ceil(entries / 50), 'blocks are filled before a new one opens');
  assert.match(shape.last, /after a thousand/);
  assert.deepEqual(shape.fillers, Array.from({ length: 1000 }, (_, i) => `long log ${i}`), 'in order');
  // The arrival added one entry (or one new block holding only it) and changed nothing else in the log.
  assert.equal(shape.changes.length, 1, JSON.stringify(shape.changes));
  assert.equal(shape.changes[0].type, 'childList');
  assert.equal(shape.changes[0].removed, 0);
  assert.equal(shape.changes[0].added.length, 1);
  assert.match(shape.changes[0].added[0], /after a thousand/);

  // A filler continuing its group keeps the group's gap where it opens a block, as it does inside one.
  const gaps = await page.evaluate(async () => {
    const blocks = [...document.getElementById('log').children];
    const at = blocks.findLastIndex((block, i) => i > 0 && block.firstElementChild.classList.contains('continued'));
    const [before, after] = [blocks[at - 1], blocks[at]];
    // Both blocks in view, and rendered: a block out of view is laid out at a remembered size, not its entries'.
    after.scrollIntoView({ block: 'center' });
    const seen = (node) => node.checkVisibility({ contentVisibilityAuto: true });
    for (let frames = 0; frames < 120 && !(seen(before.lastElementChild) && seen(after.firstElementChild)); frames += 1) {
      await new Promise((frame) => requestAnimationFrame(frame));
    }
    const gap = (upper, lower) => lower.getBoundingClientRect().top - upper.getBoundingClientRect().bottom;
    return {
      continues: after.classList.contains('continues'),
      across: gap(before.lastElementChild, after.firstElementChild),
      within: gap(after.firstElementChild, after.firstElementChild.nextElementSibling),
    };
  });
  assert.ok(gaps.continues, JSON.stringify(gaps));
  assert.ok(Math.abs(gaps.across - gaps.within) < 0.5, JSON.stringify(gaps));

  // At the bottom, the first block's entries skip rendering; scrolled to the top, they are shown and the last block's
  // entries skip rendering.
  const rendered = () => page.evaluate(() => {
    const log = document.getElementById('log');
    const shown = (block) => block.firstElementChild.checkVisibility({ contentVisibilityAuto: true });
    return [shown(log.firstElementChild), shown(log.lastElementChild)];
  });
  await page.waitForFunction(() => !document.querySelector('#log > :first-child > :first-child').checkVisibility({ contentVisibilityAuto: true }));
  assert.deepEqual(await rendered(), [false, true]);
  await page.locator('#log').evaluate((node) => { node.scrollTop = 0; });
  await page.waitForFunction(() => document.querySelector('#log > :first-child > :first-child').checkVisibility({ contentVisibilityAuto: true }));
  assert.deepEqual(await rendered(), [true, false]);
});
