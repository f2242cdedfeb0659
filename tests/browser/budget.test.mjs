// What a first visit downloads, counted in compressed bytes as the relay serves them: a joiner stays within the budget
// and never fetches the password strength estimator, which only the create screen loads, nor the look-alike module,
// which the crypto Worker loads once the room is joined.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { STRONG_PASSWORD, createRoom, log, openMember, seeMembers, startRelay, waitScreen } from './harness.mjs';
import { pathBytes } from './bytes.mjs';

/** Everything a joiner downloads before the Join button works, in bytes as sent (docs/performance.md). */
export const JOIN_BUDGET_BYTES = 250_000;
/**
 * Everything the create screen downloads, the estimator (about 645 KB of it) and the passphrase word list included;
 * the rest is the page's own modules, which hold the chat too (the Markdown formatter and the sanitizer excepted,
 * which load on entering a room).
 */
export const CREATE_BUDGET_BYTES = 700_000;

/** The files build-web leaves without compressed variants (xtask/precompress.mjs). */
const UNCOMPRESSED = new Set(['/config.json']);

/** The estimator itself: its Worker, its glue and its module (the page-side strength.js is a few hundred bytes). */
const ESTIMATOR = /\/(strength-worker\.js|pkg\/strength(_bg\.wasm|\.js))$/;
/** The passphrase generator and its word list, which only the create screen's Generate button loads. */
const WORD_LIST = /\/(passphrase\.js|vendor\/bip39-english\.js)$/;
/** What only a room needs: the Markdown formatter and the sanitizer with DOMPurify. */
const ROOM_ONLY = /\/(markdown\.js|sanitize\.js|vendor\/(marked\.esm\.js|purify\.es\.mjs))$/;
/** The confusable skeleton's tables (UTS #39), larger than the whole join budget: its glue and its module. */
const LOOKALIKE = /\/pkg\/lookalike(_bg\.wasm|\.js)$/;

let relay;
let link;
const members = [];

before(async () => {
  relay = await startRelay();
  const creator = await openMember();
  members.push(creator);
  link = await createRoom(creator.page, relay.origin);
});

after(async () => {
  for (const member of members) await member.close();
  await relay?.stop();
});

function describe(files) {
  return files.map((file) => `${file.path} ${file.bytes} B ${file.encoding}`).join('\n');
}

test('a joiner downloads at most the budget before the Join button works, compressed, and no estimator', async () => {
  const joiner = await openMember();
  members.push(joiner);
  const bytes = pathBytes(joiner.page);
  await joiner.page.goto(link);
  await waitScreen(joiner.page, 'join');
  await joiner.page.locator('#join-submit:not([disabled])').waitFor();
  await bytes.settle();
  const files = bytes.files();
  const paths = files.map((file) => file.path);
  // The count must have seen the Worker's module, or a budget met by counting nothing would pass.
  assert.ok(paths.includes('/pkg/sanctum_bg.wasm'), `the client core was not counted:\n${describe(files)}`);
  assert.ok(paths.includes('/worker.js'), describe(files));
  for (const file of files) {
    // config.json is served as it is, so that an operator's edit is never hidden behind an older variant.
    if (!UNCOMPRESSED.has(file.path)) assert.notEqual(file.encoding, 'identity', `${file.path} was sent uncompressed`);
  }
  assert.deepEqual(paths.filter((path) => ESTIMATOR.test(path)), [], 'a joiner fetched the strength estimator');
  assert.deepEqual(paths.filter((path) => WORD_LIST.test(path)), [], 'a joiner fetched the passphrase word list');
  assert.deepEqual(paths.filter((path) => ROOM_ONLY.test(path)), [], 'a joiner fetched what only a room needs');
  assert.deepEqual(paths.filter((path) => LOOKALIKE.test(path)), [], 'a joiner fetched the look-alike module');
  assert.ok(bytes.total() <= JOIN_BUDGET_BYTES, `the join path is ${bytes.total()} bytes:\n${describe(files)}`);
});

test('the create screen fetches the estimator only once it is shown, and stays within its budget', async () => {
  const creator = await openMember();
  members.push(creator);
  const bytes = pathBytes(creator.page);
  await creator.page.goto(`${relay.origin}/`);
  await waitScreen(creator.page, 'home');
  await bytes.settle();
  assert.deepEqual(bytes.files().filter((file) => ESTIMATOR.test(file.path)), [], 'the home screen fetched the estimator');
  await creator.page.getByRole('button', { name: 'Create a room' }).click();
  await creator.page.getByLabel('Room password').filter({ visible: true }).fill('a few words to check strength');
  await creator.page.locator('#strength-bar:not([data-score="0"])').waitFor();
  // Generate loads the word list: it counts too.
  await creator.page.getByRole('button', { name: 'Generate' }).click();
  await creator.page.locator('#strength-text', { hasText: 'Generated for you' }).waitFor();
  await bytes.settle();
  const paths = bytes.files().map((file) => file.path);
  assert.ok(paths.includes('/pkg/strength_bg.wasm'), describe(bytes.files()));
  assert.ok(paths.includes('/vendor/bip39-english.js'), describe(bytes.files()));
  assert.deepEqual(paths.filter((path) => ROOM_ONLY.test(path)), [], `the create screen fetched what only a room needs:\n${describe(bytes.files())}`);
  assert.ok(bytes.total() <= CREATE_BUDGET_BYTES, `the create path is ${bytes.total()} bytes:\n${describe(bytes.files())}`);
});

test('once joined, the look-alike module loads and an alias with a Cyrillic a is flagged on both sides', async () => {
  const [creator] = members;
  const impostor = await openMember();
  members.push(impostor);
  const bytes = pathBytes(impostor.page);
  await impostor.page.goto(link);
  await waitScreen(impostor.page, 'join');
  await impostor.page.locator('#join-submit:not([disabled])').waitFor();
  await bytes.settle();
  assert.deepEqual(bytes.files().filter((file) => LOOKALIKE.test(file.path)), [], 'fetched before joining');
  // U+0430 CYRILLIC SMALL LETTER A: "аlice" reads as the creator's "alice".
  await impostor.page.getByLabel('Your alias').filter({ visible: true }).fill('\u0430lice');
  await impostor.page.getByLabel('Room password').filter({ visible: true }).fill(STRONG_PASSWORD);
  await impostor.page.getByRole('button', { name: 'Join', exact: true }).click();
  await waitScreen(impostor.page, 'chat', 30_000);
  for (const page of [creator.page, impostor.page]) {
    await seeMembers(page, 2);
    const flagged = page.locator('#member-list .member', { has: page.locator('.member-flag') });
    await flagged.nth(1).waitFor();
    assert.equal(await flagged.count(), 2, 'both the member and this session are flagged');
  }
  await log(creator.page).locator('.notice', { hasText: 'Two members use the alias \u0430lice' }).waitFor();
  await log(impostor.page).locator('.notice', { hasText: 'Two members use the alias alice' }).waitFor();
  await bytes.settle();
  const paths = bytes.files().map((file) => file.path);
  assert.ok(paths.includes('/pkg/lookalike_bg.wasm'), `the module was not fetched once joined:\n${describe(bytes.files())}`);
});
