// What the page says when something does not go through: a farewell longer than the core carries is refused in the
// leave dialog, before leaving, and messages the relay withheld are announced in words, as a notice of their own.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { AxeBuilder } from '@axe-core/playwright';
import { createRoom, joinRoom, log, openMember, say, seeMembers, seeMessage, startProxy, startRelay, waitScreen } from './harness.mjs';

let proxy;
let relay;
let alice;
let bob;
let link;
/** While true, the proxy drops the next broadcast (a group message) on its way to the relay: set just before bob speaks. */
let dropNextBroadcast = false;

before(async () => {
  // The pages reach the relay through a proxy that can withhold one frame, as a relay that drops items would.
  proxy = await startProxy({
    dropFromClient: (text) => {
      if (!dropNextBroadcast || !text.startsWith('{"type":"broadcast"')) return false;
      dropNextBroadcast = false;
      return true;
    },
  });
  relay = await startRelay(['--public-origin', proxy.origin]);
  proxy.forwardTo(relay.origin);
  [alice, bob] = await Promise.all([openMember(), openMember()]);
  // The relay allows the proxy's origin only, so both pages load through it; only bob's frame is ever dropped.
  link = await createRoom(alice.page, proxy.origin, { alias: 'alice' });
  await joinRoom(bob.page, link, { alias: 'bob' });
  await seeMembers(alice.page, 2);
});

after(async () => {
  await Promise.all([alice, bob].map((member) => member?.close()));
  await proxy?.close();
  await relay?.stop();
});

test('a message the relay withheld is announced to the reader in words, apart from the messages', async () => {
  await say(bob.page, 'first, delivered');
  await seeMessage(alice.page, 'first, delivered');
  dropNextBroadcast = true;
  await say(bob.page, 'second, withheld');
  await say(bob.page, 'third, delivered');
  await seeMessage(alice.page, 'third, delivered');
  const notice = log(alice.page).locator('.notice', { hasText: 'did not reach you' });
  await notice.waitFor();
  assert.equal(
    await notice.textContent(),
    'A message from bob did not reach you and cannot be shown: the relay did not deliver it in time, or too many arrived out of order.',
  );
  assert.equal(await log(alice.page).locator('.msg', { hasText: 'second, withheld' }).count(), 0);
  // A warning notice, readable in both themes.
  assert.ok(await notice.evaluate((node) => node.classList.contains('warn')));
  for (const scheme of ['dark', 'light']) {
    await alice.page.emulateMedia({ colorScheme: scheme });
    const contrast = await new AxeBuilder({ page: alice.page }).include('#log .notice.warn').withRules(['color-contrast']).analyze();
    assert.deepEqual(contrast.violations.map((v) => v.id), [], scheme);
  }
});

test('a farewell longer than the core carries is refused in the dialog, and a shorter one is said', async () => {
  const page = bob.page;
  // 600 characters of two bytes each: 1,200 bytes, past the core's 1,024.
  const long = 'é'.repeat(600);
  await say(page, `/exit ${long}`);
  const dialog = page.locator('#confirm-dialog');
  await dialog.waitFor({ state: 'visible' });
  const error = page.locator('#confirm-error');
  assert.equal(await error.textContent(), 'Too long to send: 1,200 bytes, and a farewell holds at most 1,024. Shorten it, or leave it empty.');
  assert.equal(await page.locator('#confirm-input').getAttribute('aria-invalid'), 'true');
  await page.locator('#confirm-ok').click();
  // Still open, still in the room.
  assert.ok(await dialog.isVisible());
  await waitScreen(page, 'chat');
  // The limit is the core's, in bytes: 512 two-byte characters fit exactly.
  await page.locator('#confirm-input').fill('é'.repeat(512));
  assert.equal(await error.textContent(), '');
  await page.locator('#confirm-input').fill('é'.repeat(513));
  assert.match(await error.textContent(), /1,026 bytes/);
  await page.locator('#confirm-input').fill('good night, and thanks');
  assert.equal(await error.textContent(), '');
  await page.locator('#confirm-ok').click();
  await dialog.waitFor({ state: 'hidden' });
  await waitScreen(page, 'ended');
  // The goodbye was sealed and sent: the others read the farewell, signed, not a report from the relay.
  await log(alice.page).locator('.msg.farewell', { hasText: 'good night, and thanks' }).waitFor();
  await seeMembers(alice.page, 1);
});
