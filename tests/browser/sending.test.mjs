// The Worker's one outgoing scheduler: control first, then texts, then chunks, all within the relay's frame budget.
//
// The relay runs with its default limits (30 frames per second on average, a burst of 60, closed with 4009 after 20
// refusals in ten seconds), which is what a person meets in production.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  confirm,
  confirmKick,
  createRoom,
  joinRoom,
  log,
  noise,
  populatedRoom,
  relayWithMembers,
  say,
  seeMembers,
  seeMessage,
  waitScreen,
} from './harness.mjs';

const MIB = 1024 * 1024;

let world;
let relay;

before(async () => {
  world = await relayWithMembers();
  ({ relay } = world);
});

after(() => world?.close());

/** The relay's refusals so far, by error code. */
async function rejections() {
  const counts = {};
  for (const [sample, count] of await relay.samples()) {
    const code = /^sanctum_rejections_total\{code="([a-z_]+)"\}$/.exec(sample)?.[1];
    if (code) counts[code] = count;
  }
  return counts;
}

/** Submits each text through the composer at once, as fast as a script in the page could, without awaiting any. */
function burst(page, texts) {
  return page.evaluate((list) => {
    const box = document.getElementById('message');
    const form = document.getElementById('composer');
    for (const text of list) {
      box.value = text;
      form.requestSubmit();
    }
  }, texts);
}

/** Opens a member per alias and gathers them in a new room. */
async function room(aliases) {
  const members = await Promise.all(aliases.map(() => world.open()));
  const link = await populatedRoom(relay.origin, members, aliases);
  return { link, pages: members.map((member) => member.page) };
}

test('a burst of 300 messages and a 4 MiB file at once: no refusal, no 4009, every message in order, texts before the file', async () => {
  const { pages: [alice, bob] } = await room(['alice', 'bob']);
  const before = await rejections();
  const started = Date.now();
  await alice.locator('#file-input').setInputFiles({ name: 'big.bin', mimeType: 'application/octet-stream', buffer: noise(4 * MIB) });
  const texts = Array.from({ length: 300 }, (_, i) => `burst ${String(i).padStart(3, '0')}`);
  await burst(alice, texts);
  await seeMessage(bob, 'burst 299', 60_000);
  const textsAt = Date.now();
  // Texts take their place ahead of the chunks that were waiting: the file is still on its way.
  assert.equal(await log(bob).locator('.msg:not(.incoming) .attachment').count(), 0, 'the file arrived before the texts');
  const saidAt = Date.now();
  await say(alice, 'sent during the upload');
  await seeMessage(bob, 'sent during the upload');
  const latency = Date.now() - saidAt;
  assert.equal(await log(bob).locator('.msg:not(.incoming) .attachment').count(), 0, 'a text sent during the upload waited for the file');
  await log(bob).locator('.msg:not(.incoming) .attachment .file-name', { hasText: 'big.bin' }).waitFor({ timeout: 60_000 });
  const fileAt = Date.now();
  console.log(`# 300 texts in ${textsAt - started} ms; a text during the upload seen after ${latency} ms; the 4 MiB file complete after ${fileAt - started} ms`);

  const shown = await log(bob).locator('.bubble').allTextContents();
  const received = shown.filter((text) => text.startsWith('burst '));
  assert.deepEqual(received, texts);
  assert.deepEqual(await rejections(), before, 'the relay refused frames');
  for (const page of [alice, bob]) {
    assert.equal(await page.locator('#chat-banner').isVisible(), false, 'a connection was lost');
    assert.equal(await log(page).locator('.notice.bad').count(), 0);
  }
});

test('a file dropped while whispering is whispered to that member only', async () => {
  const { pages: [alice, bob, carol] } = await room(['alice', 'bob', 'carol']);
  await alice.getByRole('button', { name: 'Whisper to bob' }).click();
  await alice.locator('#file-input').setInputFiles({ name: 'secret.txt', mimeType: 'text/plain', buffer: Buffer.from('for bob only') });
  const got = log(bob).locator('.msg.whisper', { has: bob.locator('.file-name', { hasText: 'secret.txt' }) });
  await got.waitFor();
  assert.match(await got.locator('.meta').textContent(), /whisper to you/);
  assert.match(await log(alice).locator('.msg.mine.whisper').last().locator('.meta').textContent(), /whisper to bob/);
  await alice.getByRole('button', { name: 'Stop whispering' }).click();
  await say(alice, 'after the whisper');
  await seeMessage(carol, 'after the whisper');
  assert.equal(await log(carol).locator('.attachment').count(), 0, 'carol received the whispered file');
});

test('a kick during an upload goes before the rest of the file: the kicked member is out before the others have it', async () => {
  const { pages: [alice, bob, carol] } = await room(['alice', 'bob', 'carol']);
  await alice.locator('#file-input').setInputFiles({ name: 'slow.bin', mimeType: 'application/octet-stream', buffer: noise(4 * MIB, 5) });
  const kickedAt = Date.now();
  await alice.getByRole('button', { name: 'Kick bob' }).click();
  await confirmKick(alice);
  await waitScreen(bob, 'gone');
  await log(carol).locator('.notice', { hasText: 'alice removed bob from the room' }).waitFor();
  console.log(`# kick during a 4 MiB upload: the kicked member out after ${Date.now() - kickedAt} ms`);
  // The file may be on its way (its progress shows), but it must not have arrived whole.
  assert.equal(await log(carol).locator('.msg:not(.incoming) .attachment').count(), 0, 'the kick waited behind the file');
  await log(carol).locator('.msg:not(.incoming) .attachment .file-name', { hasText: 'slow.bin' }).waitFor({ timeout: 60_000 });
});

test('leaving during an upload: the goodbye is written first, and the others see the farewell', async () => {
  const { pages: [alice, bob] } = await room(['alice', 'bob']);
  await alice.locator('#file-input').setInputFiles({ name: 'half.bin', mimeType: 'application/octet-stream', buffer: noise(4 * MIB, 7) });
  await alice.getByRole('button', { name: 'Leave the room' }).click();
  await confirm(alice, { input: 'so long' });
  await waitScreen(alice, 'ended');
  await log(bob).locator('.msg.farewell .bubble', { hasText: 'so long' }).waitFor();
  await log(bob).locator('.notice', { hasText: 'alice left' }).waitFor();
  assert.equal(await log(bob).locator('.notice', { hasText: 'lost their connection' }).count(), 0);
});

test('a purge right after a 4 MiB file starts: confirmed, everyone is out, and the link is dead', async () => {
  const { link, pages: [alice, bob] } = await room(['alice', 'bob']);
  const before = await rejections();
  await alice.locator('#file-input').setInputFiles({ name: 'late.bin', mimeType: 'application/octet-stream', buffer: noise(4 * MIB, 3) });
  await alice.getByRole('button', { name: 'Purge the room for everyone' }).click();
  await confirm(alice);
  await waitScreen(bob, 'gone');
  assert.equal(await log(bob).locator('.msg').count(), 0);
  await waitScreen(alice, 'gone');
  assert.deepEqual(await rejections(), before, 'the relay refused frames');
  const carol = await world.open();
  await carol.page.goto(link);
  await carol.page.locator('#gone-reason', { hasText: 'purged or has expired' }).waitFor();
  // Only now that the relay has purged the room does the purger read that it did.
  assert.match(await alice.locator('#gone-reason').textContent(), /You purged the room\. The relay confirmed it/);
});

test('a purge the relay never receives: the purger is told it was not delivered, the others still leave, the link lives', async () => {
  // Alice reaches the relay through a proxy that drops her `purge` frame: for her, a relay that ignores purges.
  const ignoring = await relayWithMembers({
    proxies: [{ dropFromClient: (text) => text === '{"type":"purge"}' }],
    members: [{}, {}, {}],
  });
  try {
    const { proxies: [proxy], members: [alice, bob, carol] } = ignoring;
    const link = await createRoom(alice.page, proxy.origin, { alias: 'alice' });
    await joinRoom(bob.page, link, { alias: 'bob' });
    await seeMembers(alice.page, 2);
    await alice.page.getByRole('button', { name: 'Purge the room for everyone' }).click();
    await confirm(alice.page);
    // Bob honours the signed purge he did receive, whatever the relay does.
    await waitScreen(bob.page, 'gone');
    await waitScreen(alice.page, 'gone', 30_000);
    assert.equal(await alice.page.locator('#gone-title').textContent(), 'The purge was not confirmed');
    assert.match(await alice.page.locator('#gone-reason').textContent(), /did not confirm the purge.*link keeps working until the room expires/);
    assert.doesNotMatch(await alice.page.locator('#gone-detail').textContent(), /dead/, 'nothing under it says the link is dead');
    assert.equal(await ignoring.relay.metric('sanctum_rooms_purged_total{reason="purged"}'), 0);
    // The relay still holds the room: the link and the password still let someone in.
    await joinRoom(carol.page, link, { alias: 'carol' });
  } finally {
    await ignoring.close();
  }
});
