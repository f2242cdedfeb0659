// Room moderation in real Chromium against a real relay: who owns the room and who may kick, the kick dialog's
// truthful words, "Remove and lock" and the new link, a refresh seen as a reconnect with a new key, handing ownership
// on, and the screenshots of the owner's kick, the lock, the kicked member's screen and a reconnect notice.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  STRONG_PASSWORD,
  confirm,
  joinRoom,
  log,
  openMember,
  populatedRoom,
  relayWithMembers,
  say,
  seeMembers,
  seeMessage,
  violations,
  waitScreen,
} from './harness.mjs';

// The screenshots under docs/screenshots/ are rewritten only on request, so that a test run leaves the tree clean;
// otherwise they go under target/, where a developer can still look at them.
const SHOTS = fileURLToPath(new URL(
  process.env.SANCTUM_UPDATE_SCREENSHOT ? '../../docs/screenshots/' : '../../target/shots/',
  import.meta.url,
));
mkdirSync(SHOTS, { recursive: true });
const shot = (name) => `${SHOTS}${name}.png`;

let world;
let relay;
let alice;
let bob;
let carol;
let link;

before(async () => {
  world = await relayWithMembers({ members: [{ viewport: { width: 1100, height: 720 } }, { colorScheme: 'dark' }, {}] });
  ({ relay, members: [alice, bob, carol] } = world);
  link = await populatedRoom(relay.origin, [alice, bob, carol], ['alice', 'bob', 'carol'], { room: 'Moderated' });
});

after(() => world?.close());

/** The member list's entry for `alias`. */
function listed(page, alias) {
  return page.locator('#member-list .member', { has: page.locator('.member-name', { hasText: new RegExp(`^${alias}( \\(you\\))?`) }) });
}

/** The relay's id for a listed member, as this page's member list holds it. */
async function memberId(page, alias) {
  return Number(await listed(page, alias).getAttribute('data-member'));
}

/**
 * Sends a request straight to the page's crypto Worker, past every check of the page, the way a tampered page would,
 * and resolves with the Worker's answer.
 * @param {import('playwright-core').Page} page
 */
async function askWorker(page, op, args) {
  const worker = page.workers().find((candidate) => new URL(candidate.url()).pathname.endsWith('/worker.js'));
  assert.ok(worker, 'the crypto Worker runs');
  return worker.evaluate(([op, args]) => new Promise((resolve) => {
    const post = self.postMessage.bind(self);
    self.postMessage = (message, options) => {
      if (message?.id === 'forced') {
        self.postMessage = post;
        resolve(message);
        return;
      }
      post(message, options);
    };
    self.dispatchEvent(new MessageEvent('message', { data: { id: 'forced', op, args } }));
  }), [op, args]);
}

test('the member list shows the owner, and Kick buttons only where this session may kick', async () => {
  for (const page of [alice.page, bob.page, carol.page]) {
    await listed(page, 'alice').locator('.tag.owner').waitFor();
    assert.equal(await page.locator('#member-list .tag.owner').count(), 1, 'one owner');
  }
  // The owner may kick and hand the room on; a member may do neither, so no such button is offered.
  await alice.page.getByRole('button', { name: 'Kick bob' }).waitFor();
  await alice.page.getByRole('button', { name: 'Kick carol' }).waitFor();
  await alice.page.getByRole('button', { name: 'Make bob the owner' }).waitFor();
  for (const page of [bob.page, carol.page]) {
    assert.equal(await page.getByRole('button', { name: /^Kick / }).count(), 0);
    assert.equal(await page.getByRole('button', { name: /^Make .* the owner$/ }).count(), 0);
    assert.equal(await page.getByRole('button', { name: /^Whisper to / }).count(), 2, 'whispering stays for everyone');
  }
});

test('a member\'s kick is refused: by the page in plain words, and by the Worker when forced past the page', async () => {
  await say(bob.page, '/kick carol');
  await log(bob.page).locator('.notice', { hasText: 'You cannot remove carol: only the room\u2019s owner may remove members.' }).waitFor();
  await say(carol.page, '/kick alice');
  await log(carol.page).locator('.notice', { hasText: 'no one may remove the room\u2019s owner' }).waitFor();

  // A tampered page asks bob's Worker directly: the core refuses to sign the kick, and nothing reaches the relay.
  const answer = await askWorker(bob.page, 'kick', { member: await memberId(bob.page, 'carol') });
  assert.equal(answer.ok, false);
  assert.equal(answer.error.code, 'not_allowed');
  await say(carol.page, 'still here after the refused kicks');
  await seeMessage(alice.page, 'still here after the refused kicks');
  await seeMessage(bob.page, 'still here after the refused kicks');
  for (const page of [alice.page, bob.page, carol.page]) await seeMembers(page, 3);
});

test('the kick dialog says truthfully that the person can come back unless the room is locked', async () => {
  await alice.page.getByRole('button', { name: 'Kick carol' }).click();
  const dialog = alice.page.locator('#kick-dialog');
  await dialog.waitFor({ state: 'visible' });
  assert.equal(await alice.page.locator('#kick-title').textContent(), 'Kick carol?');
  assert.match(
    await alice.page.locator('#kick-text').textContent(),
    /They can rejoin with the link and password unless you also lock the room\./,
  );
  await dialog.getByRole('button', { name: 'Remove and lock' }).waitFor();
  await alice.page.locator('#kick-dialog').screenshot({ path: shot('kick-dialog') });
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'hidden' });
  await seeMembers(alice.page, 3);

  await alice.page.getByRole('button', { name: 'Kick carol' }).click();
  await dialog.getByRole('button', { name: 'Kick carol' }).click();
  await dialog.waitFor({ state: 'hidden' });

  // The kicked member's screen says who removed her and that the room goes on, never that the link is dead.
  await waitScreen(carol.page, 'gone');
  assert.equal(await carol.page.locator('#gone-title').textContent(), 'You were removed from the room');
  assert.equal(await carol.page.locator('#gone-reason').textContent(), 'You were removed by alice. The room goes on without you.');
  const detail = await carol.page.locator('#gone-detail').textContent();
  assert.doesNotMatch(detail, /dead/);
  assert.match(detail, /The link and the password open the room again, unless its owner locked it\./);
  assert.equal(await log(carol.page).locator('.msg').count(), 0, 'the kicked member\'s view is wiped');
  await log(bob.page).locator('.notice', { hasText: 'alice removed carol from the room' }).waitFor();
  await log(alice.page).locator('.notice', { hasText: 'You removed carol from the room' }).waitFor();
  await seeMembers(alice.page, 2);
  await seeMembers(bob.page, 2);

  // What the dialog said is true: the same link and password let her back in, as a new session.
  await joinRoom(carol.page, link, { alias: 'carol' });
  for (const member of [alice, bob, carol]) await seeMembers(member.page, 3);
});

/** The password the room moves to with its lock, strong enough for the create screen's rule. */
const NEW_PASSWORD = 'lantern orchard velvet compass drizzle';

test('Remove and lock: the kicked member is out, the old link is refused, the new link works, the others go on', async () => {
  const { page } = alice;
  await page.getByRole('button', { name: 'Kick carol' }).click();
  const dialog = page.locator('#kick-dialog');
  await dialog.getByRole('button', { name: 'Remove and lock' }).click();
  await dialog.getByRole('group', { name: 'Password for the new link' }).waitFor();
  await dialog.getByLabel('Choose a new password').check();

  // A new password must pass the create screen's strength rule, and be typed twice alike.
  await dialog.getByLabel('Password', { exact: true }).fill('password123');
  await dialog.getByLabel('The same password again').fill('password123');
  await dialog.getByRole('button', { name: 'Remove carol and lock' }).click();
  await page.locator('#kick-error', { hasText: 'too easy to guess' }).waitFor();
  await dialog.getByLabel('Password', { exact: true }).fill(NEW_PASSWORD);
  await dialog.getByLabel('The same password again').fill(`${NEW_PASSWORD}!`);
  await dialog.getByRole('button', { name: 'Remove carol and lock' }).click();
  await page.locator('#kick-error', { hasText: 'The two passwords differ.' }).waitFor();
  await seeMembers(carol.page, 3);
  await dialog.getByLabel('The same password again').fill(NEW_PASSWORD);
  await dialog.getByRole('button', { name: 'Remove carol and lock' }).click();

  // The owner gets the new link with its QR code and copy button, and is told when the old link stops working.
  const locked = page.locator('#locked-dialog');
  await locked.waitFor({ state: 'visible', timeout: 30_000 });
  const fresh = await page.locator('#share-block-locked-link').inputValue();
  assert.notEqual(fresh, link);
  assert.equal(fresh.split('#')[1].split('.')[1], link.split('#')[1].split('.')[1], 'the same room, a new link secret');
  await locked.locator('canvas.qr').waitFor();
  await page.locator('#locked-status', { hasText: 'the old link no longer opens the room' }).waitFor();
  await locked.getByRole('button', { name: 'Copy link' }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), fresh);
  await locked.screenshot({ path: shot('lock-new-link') });
  await locked.getByRole('button', { name: 'Done' }).click();

  // The kicked member's screen: who removed her, that the room goes on; it never says the room or the link is dead.
  await waitScreen(carol.page, 'gone');
  assert.equal(await carol.page.locator('#gone-reason').textContent(), 'You were removed by alice. The room goes on without you.');
  assert.doesNotMatch(await carol.page.locator('#gone-detail').textContent(), /dead/);
  await carol.page.locator('#screen-gone .card').screenshot({ path: shot('kicked-member') });

  // The others are told, and keep chatting under the new key.
  await log(bob.page).locator('.notice', { hasText: 'alice locked the room' }).waitFor();
  await seeMembers(bob.page, 2);
  await say(bob.page, 'still talking after the lock');
  await seeMessage(alice.page, 'still talking after the lock');
  await say(alice.page, 'and so am I');
  await seeMessage(bob.page, 'and so am I');
  // Only the owner holds the new link to share; bob's tab no longer offers the old one.
  assert.ok(await bob.page.getByRole('button', { name: 'Share the room link' }).isHidden());
  await page.getByRole('button', { name: 'Share the room link' }).click();
  assert.equal(await page.locator('#share-block-dialog-link').inputValue(), fresh);
  await page.locator('#share-dialog').getByRole('button', { name: 'Done' }).click();

  // The old link is refused with the old password, and with the new one.
  for (const password of [STRONG_PASSWORD, NEW_PASSWORD]) {
    await carol.page.goto(`${relay.origin}/`);
    await waitScreen(carol.page, 'home');
    await joinRoom(carol.page, link, { alias: 'carol', password, expectChat: false });
    await carol.page.locator('#join-error', { hasText: 'the room was locked and this link no longer opens it' }).waitFor({ timeout: 30_000 });
  }
  await seeMembers(alice.page, 2);

  // The new link and the new password let a newcomer in, and everyone chats.
  const dave = await openMember();
  try {
    await joinRoom(dave.page, fresh, { alias: 'dave', password: NEW_PASSWORD });
    for (const member of [alice, bob, dave]) await seeMembers(member.page, 3);
    await say(dave.page, 'dave in through the new link');
    await seeMessage(alice.page, 'dave in through the new link');
    await seeMessage(bob.page, 'dave in through the new link');
    await say(bob.page, 'welcome dave');
    await seeMessage(dave.page, 'welcome dave');
    assert.deepEqual(await violations(dave.page), []);
    assert.deepEqual(dave.errors, []);
  } finally {
    await dave.close();
  }
  for (const member of [alice, bob]) await seeMembers(member.page, 2);
});

test('a refresh is shown to the others as a reconnect with a new key, and to the refreshed tab the others are present', async () => {
  // Carol comes back through the new link, so that the refreshed tab has two members to find present.
  await carol.page.goto(`${relay.origin}/`);
  await waitScreen(carol.page, 'home');
  const fresh = await alice.page.locator('#share-block-locked-link').inputValue();
  await joinRoom(carol.page, fresh, { alias: 'carol', password: NEW_PASSWORD });
  for (const member of [alice, bob, carol]) await seeMembers(member.page, 3);
  const before = (await bob.page.locator('#fact-fingerprint-value').textContent()).trim();
  const joinedBob = (page) => log(page).locator('.notice', { hasText: '\u2068bob\u2069 joined' }).count();
  const joinedBefore = [await joinedBob(alice.page), await joinedBob(carol.page)];

  // Bob's tab was moved to the room's new secrets by the lock: the refresh rejoins under them.
  await bob.page.reload();
  await waitScreen(bob.page, 'chat', 30_000);
  const after = (await bob.page.locator('#fact-fingerprint-value').textContent()).trim();
  assert.notEqual(after, before, 'a refresh is a new session with new keys');
  await seeMembers(bob.page, 3);
  await log(bob.page).locator('.notice', { hasText: '\u2068alice\u2069 is here · key' }).waitFor();
  await log(bob.page).locator('.notice', { hasText: '\u2068carol\u2069 is here · key' }).waitFor();
  assert.equal(await log(bob.page).locator('.notice', { hasText: 'joined · key' }).count(), 0, 'no one is announced as joining');
  // Bob was moved by alice's lock and never learnt the new password: as before the refresh, he has no link to share.
  assert.ok(await bob.page.getByRole('button', { name: 'Share the room link' }).isHidden());

  for (const page of [alice.page, carol.page]) {
    const notice = log(page).locator('.notice.rekeyed', { hasText: `\u2068bob\u2069 reconnected (new key) · key ${after}, was ${before}` });
    await notice.waitFor();
  }
  assert.deepEqual([await joinedBob(alice.page), await joinedBob(carol.page)], joinedBefore, 'bob is not announced as a newcomer');
  await alice.page.locator('#message').blur();
  await alice.page.locator('.chat-card').screenshot({ path: shot('reconnect-notice') });
  await say(bob.page, 'back after the refresh');
  await seeMessage(alice.page, 'back after the refresh');
  await seeMessage(carol.page, 'back after the refresh');

  // Carol came in by the new link and password, neither creating nor owning the room: her refreshed tab shares the
  // room's current link, which the resume blob's secrets hold, never an empty or a dead one.
  await carol.page.reload();
  await waitScreen(carol.page, 'chat', 30_000);
  await seeMembers(carol.page, 3);
  await carol.page.getByRole('button', { name: 'Share the room link' }).click();
  assert.equal(await carol.page.locator('#share-block-dialog-link').inputValue(), fresh);
  await carol.page.locator('#share-dialog').getByRole('button', { name: 'Done' }).click();
});

test('the owner hands the room on: the new owner may kick, the previous one no longer may, and may lock and share', async () => {
  await alice.page.getByRole('button', { name: 'Make bob the owner' }).click();
  assert.equal(await alice.page.locator('#confirm-title').textContent(), 'Make bob the owner?');
  assert.match(await alice.page.locator('#confirm-text').textContent(), /you no longer can/);
  await confirm(alice.page);

  await log(bob.page).locator('.notice', { hasText: 'alice handed the room to you' }).waitFor();
  await log(alice.page).locator('.notice', { hasText: 'You handed the room to bob' }).waitFor();
  await log(carol.page).locator('.notice', { hasText: 'alice handed the room to bob: bob is now its owner.' }).waitFor();
  for (const page of [alice.page, bob.page, carol.page]) {
    await listed(page, 'bob').locator('.tag.owner').waitFor();
    assert.equal(await page.locator('#member-list .tag.owner').count(), 1);
  }
  await bob.page.getByRole('button', { name: 'Kick carol' }).waitFor();
  await bob.page.getByRole('button', { name: 'Kick alice' }).waitFor();
  await alice.page.waitForFunction(() => !document.querySelector('#member-list button[aria-label^="Kick "]'));
  assert.equal(await carol.page.getByRole('button', { name: /^Kick / }).count(), 0);

  // A hand-over forced through alice's Worker now that she no longer owns the room is refused.
  const answer = await askWorker(alice.page, 'transfer', { member: await memberId(alice.page, 'carol') });
  assert.equal(answer.ok, false);
  assert.equal(answer.error.code, 'not_allowed');
  await seeMembers(carol.page, 3);
  await assert.rejects(listed(carol.page, 'carol').locator('.tag.owner').waitFor({ timeout: 1000 }));

  // Bob, moved by alice's lock, had no link to share; once he locks the room himself he knows its password, and
  // Share offers his new link, after a refresh too.
  const share = bob.page.getByRole('button', { name: 'Share the room link' });
  assert.ok(await share.isHidden());
  await bob.page.getByRole('button', { name: 'Kick carol' }).click();
  const dialog = bob.page.locator('#kick-dialog');
  await dialog.getByRole('button', { name: 'Remove and lock' }).click();
  await dialog.getByLabel('Choose a new password').check();
  await dialog.getByLabel('Password', { exact: true }).fill(`${NEW_PASSWORD} again`);
  await dialog.getByLabel('The same password again').fill(`${NEW_PASSWORD} again`);
  await dialog.getByRole('button', { name: 'Remove carol and lock' }).click();
  const locked = bob.page.locator('#locked-dialog');
  await locked.waitFor({ state: 'visible', timeout: 30_000 });
  const bobs = await bob.page.locator('#share-block-locked-link').inputValue();
  await locked.getByRole('button', { name: 'Done' }).click();
  await waitScreen(carol.page, 'gone');
  for (const reload of [false, true]) {
    if (reload) {
      await bob.page.reload();
      await waitScreen(bob.page, 'chat', 30_000);
    }
    await share.click();
    assert.equal(await bob.page.locator('#share-block-dialog-link').inputValue(), bobs);
    await bob.page.locator('#share-dialog').getByRole('button', { name: 'Done' }).click();
  }
});

test('a room created with "Let every member remove others" gives every member Kick, but never against the owner', async () => {
  const [dave, erin, frank] = await Promise.all([openMember(), openMember(), openMember()]);
  try {
    const { page } = dave;
    await page.goto(`${relay.origin}/`);
    await waitScreen(page, 'home');
    await page.getByRole('button', { name: 'Create a room' }).click();
    const option = page.getByLabel('Let every member remove others');
    assert.equal(await option.isChecked(), false, 'off by default');
    await option.check();
    await page.getByLabel('Your alias').filter({ visible: true }).fill('dave');
    await page.getByLabel('Room password').filter({ visible: true }).fill(STRONG_PASSWORD);
    await page.getByRole('button', { name: 'Create room' }).click();
    await waitScreen(page, 'link', 30_000);
    const open = await page.locator('#share-block-page-link').inputValue();
    await page.getByRole('button', { name: 'Enter the room' }).click();
    await waitScreen(page, 'chat');
    await joinRoom(erin.page, open, { alias: 'erin' });
    await joinRoom(frank.page, open, { alias: 'frank' });
    for (const member of [dave, erin, frank]) await seeMembers(member.page, 3);
    await erin.page.getByRole('button', { name: 'Kick frank' }).waitFor();
    assert.equal(await erin.page.getByRole('button', { name: 'Kick dave' }).count(), 0, 'no one may kick the owner');
    // Only the owner may lock: a member's kick dialog offers no "Remove and lock" and says who can.
    await erin.page.getByRole('button', { name: 'Kick frank' }).click();
    await erin.page.locator('#kick-dialog').waitFor({ state: 'visible' });
    assert.match(await erin.page.locator('#kick-text').textContent(), /unless the owner locks the room/);
    assert.ok(await erin.page.locator('#kick-lock-button').isHidden());
    await erin.page.locator('#kick-ok').click();
    await waitScreen(frank.page, 'gone');
    assert.equal(await frank.page.locator('#gone-reason').textContent(), 'You were removed by erin. The room goes on without you.');
    await log(dave.page).locator('.notice', { hasText: 'erin removed frank from the room' }).waitFor();
    for (const member of [dave, erin, frank]) assert.deepEqual(await violations(member.page), []);
    assert.deepEqual([...dave.errors, ...erin.errors, ...frank.errors], []);
  } finally {
    await Promise.all([dave, erin, frank].map((member) => member.close()));
  }
});

test('no CSP or Trusted Types violation and no page error in any moderation flow', async () => {
  for (const member of [alice, bob, carol]) assert.deepEqual(await violations(member.page), []);
  assert.deepEqual([...alice.errors, ...bob.errors, ...carol.errors], []);
});
