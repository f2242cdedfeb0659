// Starting early: the join form stretches the password and opens the socket while it is filled in, so the click on
// Join waits only for the relay, and a derivation for anything but what the form holds at the click is never used.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { STRONG_PASSWORD, createRoom, relayWithMembers, seeMembers, until, waitScreen } from './harness.mjs';

/** The derivation Worker's test hold: what a slow device's Argon2 looks like from the page. */
const HOLD_MS = 2500;

let world;
let relay;
let alice;
let bob;
let carol;
let link;

before(async () => {
  world = await relayWithMembers({ members: [{}, { config: { relay: null, testDeriveHoldMs: HOLD_MS } }, {}] });
  ({ relay, members: [alice, bob, carol] } = world);
  link = await createRoom(alice.page, relay.origin, { alias: 'alice' });
});

after(() => world?.close());

/** Waits until the relay counts `count` open WebSocket connections. */
async function waitConnections(count) {
  await until(async () => (await relay.metric('sanctum_connections')) === count, `the relay counts ${count} connections`);
}

test('a valid join form starts Argon2 and opens the socket before the click, which then waits only for the relay', async () => {
  const page = bob.page;
  await page.goto(link);
  await waitScreen(page, 'join');
  // The peek that checked the link closed its own connection; only the creator's is open.
  await waitConnections(1);
  await page.getByLabel('Your alias').filter({ visible: true }).fill('bob');
  await page.getByLabel('Room password').filter({ visible: true }).fill(STRONG_PASSWORD);
  // Nothing is clicked yet, and the socket is open already.
  await waitConnections(2);
  // The derivation, held for HOLD_MS as on a slow device, finishes while the person is still looking at the form.
  await page.locator('#join-form[data-prepared="true"]').waitFor({ timeout: 20_000 });
  await waitScreen(page, 'join');
  const clicked = Date.now();
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await waitScreen(page, 'chat', 20_000);
  const took = Date.now() - clicked;
  // A join that derived at the click would take HOLD_MS at least.
  assert.ok(took < HOLD_MS - 500, `click to joined took ${took} ms with Argon2 started early`);
  await seeMembers(alice.page, 2);
});

test('a derivation for a password the form no longer holds is never used', async () => {
  const page = carol.page;
  await page.goto(link);
  await waitScreen(page, 'join');
  await page.getByLabel('Your alias').filter({ visible: true }).fill('carol');
  const password = page.getByLabel('Room password').filter({ visible: true });
  // The right password is stretched first, then the person changes it to a wrong one before clicking.
  await password.fill(STRONG_PASSWORD);
  await page.locator('#join-form[data-prepared="true"]').waitFor({ timeout: 20_000 });
  await password.fill('not the room password at all');
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.locator('#join-error', { hasText: 'the password is wrong' }).waitFor({ timeout: 20_000 });
  await waitScreen(page, 'join');
  await seeMembers(alice.page, 2);

  // And the other way round: a wrong password stretched first, the right one typed over it, gets in.
  await password.fill('another wrong password, stretched early');
  await page.locator('#join-form[data-prepared="true"]').waitFor({ timeout: 20_000 });
  await password.fill(STRONG_PASSWORD);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await waitScreen(page, 'chat', 20_000);
  await seeMembers(alice.page, 3);
});
