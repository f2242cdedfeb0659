// A room's lifetime: the warnings before its end, then every member wiped with the reason.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRoom, joinRoom, log, openMember, say, seeMessage, startRelay, waitScreen } from './harness.mjs';

let relay;
let alice;
let bob;

before(async () => {
  relay = await startRelay(['--max-lifetime', '14', '--expiry-warnings', '9,5']);
  [alice, bob] = await Promise.all([openMember(), openMember()]);
});

after(async () => {
  await Promise.all([alice, bob].map((member) => member?.close()));
  await relay?.stop();
});

test('members are warned before expiry, then every view is wiped and says why', async () => {
  const link = await createRoom(alice.page, relay.origin, { alias: 'alice' });
  await joinRoom(bob.page, link, { alias: 'bob' });
  await say(alice.page, 'short-lived');
  await seeMessage(bob.page, 'short-lived');
  assert.match(await bob.page.locator('#clock-label').textContent(), /Left/);

  for (const member of [alice, bob]) {
    await log(member.page).locator('.notice.warn', { hasText: /ends in 9 seconds/ }).waitFor({ timeout: 15_000 });
    await log(member.page).locator('.notice.warn', { hasText: /ends in 5 seconds/ }).waitFor({ timeout: 15_000 });
  }
  for (const member of [alice, bob]) {
    await waitScreen(member.page, 'gone', 20_000);
    assert.match(await member.page.locator('#gone-reason').textContent(), /end of its lifetime/);
    assert.equal(await log(member.page).locator('.msg').count(), 0);
    assert.deepEqual(await member.page.evaluate(() => Object.keys(sessionStorage)), []);
  }
});
