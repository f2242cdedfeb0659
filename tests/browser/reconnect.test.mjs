// A dropped connection: each member reaches the relay through a TCP proxy of their own, so that the test can cut one
// member's connections the way a network does while the relay, the room and the other member carry on.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  confirm,
  createRoom,
  joinRoom,
  log,
  relayWithMembers,
  say,
  seeMembers,
  seeMessage,
  until,
  violations,
  waitScreen,
} from './harness.mjs';

let world;
let relay;
let aliceProxy;
let bobProxy;
let alice;
let bob;

before(async () => {
  world = await relayWithMembers({ proxies: [{}, {}], members: [{}, {}] });
  ({ relay, proxies: [aliceProxy, bobProxy], members: [alice, bob] } = world);
});

after(() => world?.close());

async function ownFingerprint(page) {
  return (await page.locator('#fact-fingerprint-value').textContent()).trim();
}

test('a dropped connection comes back as a new session, and what was said during the gap is not shown', async () => {
  const link = await createRoom(alice.page, aliceProxy.origin, { alias: 'alice' });
  await joinRoom(bob.page, link.replace(aliceProxy.origin, bobProxy.origin), { alias: 'bob' });
  await seeMembers(alice.page, 2);
  await seeMembers(bob.page, 2);
  await say(alice.page, 'before the drop');
  await seeMessage(bob.page, 'before the drop');
  const before = await ownFingerprint(alice.page);

  // The network goes down for alice: her connections end without a close frame, and new ones fail for a while.
  aliceProxy.refuse(true);
  assert.ok(aliceProxy.cut() >= 1, 'alice had a connection to cut');
  await alice.page.locator('#chat-banner', { hasText: 'Reconnecting' }).waitFor();
  assert.match(await alice.page.locator('#relay-status').textContent(), /Reconnecting/);
  await log(bob.page).locator('.notice', { hasText: 'The relay says alice lost their connection' }).waitFor();
  await seeMembers(bob.page, 1);

  // What alice types meanwhile is refused in plain words and given back to her, not silently lost.
  await say(alice.page, 'typed while offline');
  await log(alice.page).locator('.notice.bad', { hasText: /Not sent: .*reconnecting/i }).waitFor();
  assert.equal(await alice.page.getByLabel('Message', { exact: true }).inputValue(), 'typed while offline');
  await alice.page.getByLabel('Message', { exact: true }).fill('');
  // A purge asked for offline sends nothing, so the tab must not claim the room is gone.
  await alice.page.getByRole('button', { name: 'Purge the room for everyone' }).click();
  await confirm(alice.page);
  await log(alice.page).locator('.notice.bad', { hasText: /Not purged: .*reconnecting/i }).waitFor();
  await waitScreen(alice.page, 'chat');

  // Bob speaks during the gap; the relay has his frame before alice can connect again.
  const framesInNow = () => relay.metric('sanctum_frames_in_total');
  const framesIn = await framesInNow();
  await say(bob.page, 'said during the gap');
  await seeMessage(bob.page, 'said during the gap');
  await until(async () => (await framesInNow()) > framesIn, 'the relay receives the message sent during the gap');
  // At least one attempt to reconnect fails before the network comes back, and the app keeps trying.
  await until(() => aliceProxy.refused > 0, 'alice tries to reconnect');
  aliceProxy.refuse(false);

  // Alice is back on her own, as a new session with new keys, and is told about the gap.
  await log(alice.page).locator('.notice', { hasText: 'Reconnected as a new session' }).waitFor({ timeout: 30_000 });
  assert.match(
    await log(alice.page).locator('.notice', { hasText: 'Reconnected as a new session' }).textContent(),
    /Messages sent while you were disconnected are not shown/,
  );
  assert.ok(await alice.page.locator('#chat-banner').isHidden());
  assert.match(await alice.page.locator('#relay-status').textContent(), /Connected/);
  const after = await ownFingerprint(alice.page);
  assert.notEqual(after, before, 'the new session has new keys');
  await seeMembers(alice.page, 2);

  // Bob sees the new session come back under its new key, vouched for by the previous one, like a safety-number change.
  await log(bob.page).locator('.notice.rekeyed', { hasText: `\u2068alice\u2069 reconnected (new key) · key ${after}, was ${before}` }).waitFor();
  assert.equal(await log(bob.page).locator('.notice', { hasText: '\u2068alice\u2069 joined' }).count(), 1, 'announced as joining once, at the start');
  await seeMembers(bob.page, 2);
  await bob.page.locator('#member-list .member', { hasText: `key ${after}` }).waitFor();
  assert.equal(await bob.page.locator('#member-list .member', { hasText: `key ${before}` }).count(), 0);

  // Chat flows both ways again; what was on alice's screen before the drop stays, the gap's message never arrives.
  await say(alice.page, 'back again');
  await seeMessage(bob.page, 'back again');
  await say(bob.page, 'welcome back');
  await seeMessage(alice.page, 'welcome back');
  await seeMessage(alice.page, 'before the drop');
  assert.equal(await log(alice.page).getByText('said during the gap').count(), 0);

  assert.deepEqual(await violations(alice.page), []);
  assert.deepEqual(await violations(bob.page), []);
  assert.deepEqual([...alice.errors, ...bob.errors], []);
});
