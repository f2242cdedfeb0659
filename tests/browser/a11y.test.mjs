// An axe-core audit of every screen a person meets: no serious or critical violation.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { AxeBuilder } from '@axe-core/playwright';
import { confirm, createRoom, joinRoom, openMember, say, seeMessage, startRelay, waitScreen } from './harness.mjs';

let relay;
let alice;
let bob;

before(async () => {
  relay = await startRelay();
  // axe injects its own script into the page, which the app's CSP would rightly refuse.
  [alice, bob] = await Promise.all([openMember({ bypassCSP: true }), openMember({ bypassCSP: true, colorScheme: 'dark' })]);
});

after(async () => {
  await Promise.all([alice, bob].map((member) => member?.close()));
  await relay?.stop();
});

async function audit(page, screen) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
  const bad = results.violations
    .filter((violation) => ['serious', 'critical'].includes(violation.impact))
    .map((violation) => `${screen}: ${violation.id} (${violation.impact}) ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`);
  assert.deepEqual(bad, []);
}

test('home, create, join, chat, moderation dialogs, session ended and purged screens pass axe', async () => {
  await alice.page.goto(`${relay.origin}/`);
  await waitScreen(alice.page, 'home');
  await audit(alice.page, 'home');
  await alice.page.getByRole('button', { name: 'Create a room' }).click();
  await alice.page.getByLabel('Room password').filter({ visible: true }).fill('weak');
  await audit(alice.page, 'create');

  const link = await createRoom(alice.page, relay.origin, { alias: 'alice' });
  await bob.page.goto(link);
  await waitScreen(bob.page, 'join');
  await audit(bob.page, 'join (dark)');
  await joinRoom(bob.page, link, { alias: 'bob' });
  await say(alice.page, 'Hello <b>bob</b>');
  await say(bob.page, '/purr alice a whisper');
  await seeMessage(bob.page, 'Hello');
  await seeMessage(alice.page, 'a whisper');
  await audit(alice.page, 'chat');
  await audit(bob.page, 'chat (dark)');
  await alice.page.getByRole('button', { name: 'Share the room link' }).click();
  await alice.page.locator('#share-dialog canvas.qr').waitFor();
  await audit(alice.page, 'share dialog with the QR code');
  await alice.page.getByRole('button', { name: 'Done' }).click();

  // The moderation dialogs, in both themes: the owner's kick dialog, its lock step, the new link after a lock, and the
  // kicked member's screen.
  const carol = await openMember({ bypassCSP: true, colorScheme: 'dark' });
  try {
    await joinRoom(carol.page, link, { alias: 'carol' });
    await alice.page.getByRole('button', { name: 'Kick carol' }).click();
    await alice.page.locator('#kick-dialog').waitFor({ state: 'visible' });
    await audit(alice.page, 'kick dialog');
    await alice.page.locator('#kick-dialog').getByRole('button', { name: 'Remove and lock' }).click();
    await alice.page.locator('#kick-dialog').getByLabel('Choose a new password').check();
    await alice.page.locator('#lock-password').fill('weak');
    await audit(alice.page, 'kick dialog, lock step');
    await alice.page.emulateMedia({ colorScheme: 'dark' });
    await audit(alice.page, 'kick dialog, lock step (dark)');
    await alice.page.locator('#lock-password').fill('lantern orchard velvet compass drizzle');
    await alice.page.locator('#lock-again').fill('lantern orchard velvet compass drizzle');
    await alice.page.locator('#kick-ok').click();
    await alice.page.locator('#locked-dialog canvas.qr').waitFor({ timeout: 30_000 });
    await audit(alice.page, 'the new link after a lock (dark)');
    await alice.page.emulateMedia({ colorScheme: 'light' });
    await audit(alice.page, 'the new link after a lock');
    await alice.page.locator('#locked-dialog').getByRole('button', { name: 'Done' }).click();
    await waitScreen(carol.page, 'gone');
    await audit(carol.page, 'kicked (dark)');
  } finally {
    await carol.close();
  }

  await bob.page.getByRole('button', { name: 'Leave the room' }).click();
  await confirm(bob.page);
  await waitScreen(bob.page, 'ended');
  await audit(bob.page, 'session ended (dark)');

  await alice.page.getByRole('button', { name: 'Purge the room for everyone' }).click();
  await confirm(alice.page);
  await waitScreen(alice.page, 'gone');
  await audit(alice.page, 'purged');
});
