// The end of a room without a purge: its lifetime runs out, or the relay restarts and forgets it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createRoom,
  joinRoom,
  log,
  openMember,
  recordNotifications,
  say,
  seeMessage,
  setHidden,
  startRelay,
  waitScreen,
} from './harness.mjs';

const FLAGS = ['--max-lifetime', '18', '--expiry-warnings', '10,5'];

let relay;
let alice;
let bob;

before(async () => {
  relay = await startRelay(FLAGS);
  [alice, bob] = await Promise.all([openMember(), openMember()]);
  await recordNotifications(bob, relay.origin);
});

after(async () => {
  await Promise.all([alice, bob].map((member) => member?.close()));
  await relay?.stop();
});

test('members are warned before expiry, then every view is wiped and says why', async () => {
  const link = await createRoom(alice.page, relay.origin, { alias: 'alice' });
  // The app asked for an hour; this relay grants 18 seconds at most, and the link screen said so.
  assert.match(await alice.page.locator('#link-lifetime').textContent(), /at most 1[5-8] seconds/);
  await joinRoom(bob.page, link, { alias: 'bob' });
  await say(alice.page, 'short-lived');
  await seeMessage(bob.page, 'short-lived');
  assert.match(await bob.page.locator('#clock-label').textContent(), /Left/);
  // Bob asked for notifications and is in another tab: the warnings and the end reach him there.
  await bob.page.getByRole('button', { name: 'Turn on desktop notifications' }).click();
  await bob.page.getByRole('button', { name: 'Turn off desktop notifications' }).waitFor();
  await setHidden(bob.page, true);

  for (const member of [alice, bob]) {
    await log(member.page).locator('.notice.warn', { hasText: /ends in 10 seconds/ }).waitFor({ timeout: 15_000 });
  }
  // The warning is a banner that stays, not only a line that scrolls away; it can be dismissed.
  const banner = alice.page.locator('#expiry-banner');
  await banner.waitFor();
  assert.match(await banner.textContent(), /ends in 10 seconds/);
  await banner.getByRole('button', { name: 'Dismiss' }).click();
  await banner.waitFor({ state: 'hidden' });
  for (const member of [alice, bob]) {
    await log(member.page).locator('.notice.warn', { hasText: /ends in 5 seconds/ }).waitFor({ timeout: 15_000 });
  }
  await banner.waitFor();
  assert.match(await banner.textContent(), /ends in 5 seconds/);
  assert.match(await bob.page.locator('#expiry-banner').textContent(), /ends in 5 seconds/);
  for (const member of [alice, bob]) {
    await waitScreen(member.page, 'gone', 20_000);
    assert.match(await member.page.locator('#gone-reason').textContent(), /end of its lifetime/);
    assert.equal(await log(member.page).locator('.msg').count(), 0);
    assert.deepEqual(await member.page.evaluate(() => Object.keys(sessionStorage)), []);
  }
  assert.equal(await bob.page.title(), 'Room ended · Sanctum');
  assert.deepEqual(await bob.page.evaluate(() => window.__notifications.map((note) => note.body)), [
    'A Sanctum room ends in 10 seconds',
    'A Sanctum room ends in 5 seconds',
    'A Sanctum room has ended',
  ]);
  await setHidden(bob.page, false);
});

test('a dropped connection says so, tries again, and a relay that forgot the room is explained', async () => {
  const link = await createRoom(alice.page, relay.origin, { alias: 'alice' });
  await joinRoom(bob.page, link, { alias: 'bob' });
  await say(bob.page, 'before the restart');
  await seeMessage(alice.page, 'before the restart');

  const port = new URL(relay.origin).port;
  await relay.stop();
  for (const member of [alice, bob]) {
    await member.page.locator('#chat-banner', { hasText: 'Reconnecting' }).waitFor();
    assert.match(await member.page.locator('#relay-status').textContent(), /Reconnecting/);
  }
  // The relay comes back on the same address with no rooms: the reconnect is refused and the app says why.
  relay = await startRelay(FLAGS, { listen: `127.0.0.1:${port}` });
  for (const member of [alice, bob]) {
    await waitScreen(member.page, 'gone', 30_000);
    assert.match(await member.page.locator('#gone-reason').textContent(), /no longer knows this room/);
    assert.equal(await log(member.page).locator('.msg').count(), 0);
  }
});
