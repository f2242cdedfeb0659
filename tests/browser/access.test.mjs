// Getting in and being thrown out: weak and wrong passwords, a responsive page while deriving, and purge.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  STRONG_PASSWORD,
  confirm,
  createRoom,
  joinRoom,
  log,
  relayWithMembers,
  say,
  seeMembers,
  seeMessage,
  waitScreen,
} from './harness.mjs';

const HOLD_MS = 3000;

let world;
let relay;
let alice;
let bob;
let carol;
let link;

before(async () => {
  world = await relayWithMembers({ members: [{}, { config: { relay: null, testDeriveHoldMs: HOLD_MS } }, {}] });
  ({ relay, members: [alice, bob, carol] } = world);
});

after(() => world?.close());

test('creating a room refuses a weak password with an explanation and a strength meter', async () => {
  const page = alice.page;
  await page.goto(`${relay.origin}/`);
  await page.getByRole('button', { name: 'Create a room' }).click();
  await page.getByLabel('Your alias').filter({ visible: true }).fill('alice');
  await page.getByLabel('Room password').filter({ visible: true }).fill('password123');
  await page.locator('#strength-text', { hasText: 'Too easy to guess' }).waitFor();
  const score = Number(await page.locator('#strength-bar').getAttribute('data-score'));
  assert.ok(score <= 1, `score ${score}`);
  await page.getByRole('button', { name: 'Create room' }).click();
  await page.locator('#create-error', { hasText: 'too easy to guess' }).waitFor();
  await waitScreen(page, 'create');
  assert.equal(await page.getByLabel('Room password').filter({ visible: true }).getAttribute('aria-invalid'), 'true');

  await page.getByLabel('Room password').filter({ visible: true }).fill(STRONG_PASSWORD);
  await page.locator('#strength-text', { hasText: 'Good enough' }).waitFor();
  assert.ok(Number(await page.locator('#strength-bar').getAttribute('data-score')) >= 3);
  // The refusal of the weak password does not linger once the password is strong.
  assert.equal(await page.locator('#create-error').textContent(), '');
  assert.equal(await page.getByLabel('Room password').filter({ visible: true }).getAttribute('aria-invalid'), null);

  // The same passphrase is refused once it is the room's name, which every member sees.
  await page.getByLabel('Room name').filter({ visible: true }).fill(STRONG_PASSWORD);
  await page.getByRole('button', { name: 'Create room' }).click();
  await page.locator('#create-error', { hasText: 'too easy to guess' }).waitFor();
  await waitScreen(page, 'create');
});

test('a wrong password gets a clear message, not a hang', async () => {
  link = await createRoom(alice.page, relay.origin, { alias: 'alice' });
  await joinRoom(carol.page, link, {
    alias: 'carol',
    password: 'not the room password at all',
    keep: false,
    expectChat: false,
  });
  await carol.page.locator('#join-error', { hasText: 'the password is wrong' }).waitFor({ timeout: 20_000 });
  await waitScreen(carol.page, 'join');
  await seeMembers(alice.page, 1);

  // The same form then gets in with the right password.
  await carol.page.getByLabel('Room password').filter({ visible: true }).fill(STRONG_PASSWORD);
  await carol.page.getByRole('button', { name: 'Join', exact: true }).click();
  await waitScreen(carol.page, 'chat', 30_000);
  await seeMembers(alice.page, 2);
});

test('the page answers clicks while the password is being stretched', async () => {
  const page = bob.page;
  await page.goto(link);
  await waitScreen(page, 'join');
  // The same alias as a member already in the room: everyone is told to compare keys.
  await page.getByLabel('Your alias').filter({ visible: true }).fill('carol');
  await page.getByLabel('Room password').filter({ visible: true }).fill(STRONG_PASSWORD);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await waitScreen(page, 'working');
  await page.locator('#work-steps li.active[data-step="derive"]').waitFor();
  const elapsedBefore = await page.locator('#work-elapsed').textContent();

  const clicked = Date.now();
  await page.getByRole('button', { name: 'Why the wait?' }).click();
  await page.locator('#work-why').waitFor({ state: 'visible', timeout: 1000 });
  const answeredIn = Date.now() - clicked;
  // Still deriving: the click was handled while the derivation Worker was busy.
  assert.ok(await page.locator('#work-steps li.active[data-step="derive"]').isVisible());
  assert.ok(answeredIn < 1000, `click answered in ${answeredIn} ms`);
  await page.waitForFunction((before) => document.getElementById('work-elapsed').textContent !== before, elapsedBefore, {
    timeout: 2500,
  });
  assert.ok(await page.locator('#work-steps li.active[data-step="derive"]').isVisible(), 'the elapsed time ticked during it');

  await waitScreen(page, 'chat', 30_000);
  await seeMembers(page, 3);
});

test('two members with the same alias are flagged, with their fingerprints', async () => {
  await seeMembers(alice.page, 3);
  const flagged = alice.page.locator('#member-list .member', { has: alice.page.locator('.member-flag') });
  await flagged.nth(1).waitFor();
  assert.equal(await flagged.count(), 2);
  const keys = await flagged.locator('.member-fp').allTextContents();
  assert.notEqual(keys[0], keys[1], 'the fingerprints tell them apart');
  await log(alice.page).locator('.notice', { hasText: 'Two members use the alias carol' }).waitFor();
  // A message from either shows its key beside the alias.
  await say(carol.page, 'it is me, the first carol');
  await log(alice.page).locator('.msg', { hasText: 'the first carol' }).locator('.tag.warn').waitFor();
  // /purr cannot pick between them and says so.
  await say(alice.page, '/purr carol which one are you?');
  await log(alice.page).locator('.notice', { hasText: 'use the buttons in the member list' }).waitFor();
});

test('choosing not to stay in on refresh asks for the password again', async () => {
  const page = carol.page;
  assert.equal(await page.evaluate(() => sessionStorage.getItem('sanctum.resume')), null, 'no resume blob kept');
  await page.reload();
  await waitScreen(page, 'join');
  await page.locator('#join-error', { hasText: 'Enter the password again' }).waitFor();
  await page.getByLabel('Your alias').filter({ visible: true }).fill('carol');
  await page.getByLabel('Room password').filter({ visible: true }).fill(STRONG_PASSWORD);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await waitScreen(page, 'chat', 30_000);
  await seeMembers(page, 3);
});

test('purge asks first, wipes every member, and the link is dead', async () => {
  await say(bob.page, 'something to wipe');
  await seeMessage(alice.page, 'something to wipe');
  await seeMessage(carol.page, 'something to wipe');

  await say(alice.page, '/stop');
  await confirm(alice.page);
  for (const member of [alice, bob, carol]) {
    await waitScreen(member.page, 'gone');
    assert.equal(await log(member.page).locator('.msg').count(), 0);
    assert.deepEqual(await member.page.evaluate(() => Object.keys(sessionStorage)), []);
  }
  assert.match(await bob.page.locator('#gone-reason').textContent(), /purged/);
  assert.match(await alice.page.locator('#gone-reason').textContent(), /You purged/);

  // The link no longer opens the room, and says so at once: the relay's answer to a peek, before any password.
  await carol.page.goto(`${relay.origin}/`);
  await waitScreen(carol.page, 'home');
  await carol.page.goto(link);
  await carol.page.locator('#gone-reason', { hasText: 'purged or has expired' }).waitFor();
  await waitScreen(carol.page, 'gone');
  assert.equal(await carol.page.locator('#join-form').isVisible(), false);
  // A link to a room this relay never held (the same link with another room id) is gone too, with its own words.
  const [origin, fragment] = link.split('#');
  const [version, room, ...rest] = fragment.split('.');
  const other = `${origin}#${[version, `${room[0] === 'A' ? 'B' : 'A'}${room.slice(1)}`, ...rest].join('.')}`;
  await carol.page.goto(`${relay.origin}/`);
  await waitScreen(carol.page, 'home');
  await carol.page.goto(other);
  await carol.page.locator('#gone-reason', { hasText: 'does not know this room' }).waitFor();
  await bob.page.reload();
  await waitScreen(bob.page, 'home');
});
