// The create form's Generate button: a passphrase of words from the BIP39 English word list, drawn without bias from
// the browser's CSPRNG, accepted by the strength estimator, shown so it can be copied, and good for creating and joining.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { joinRoom, openMember, seeMembers, startRelay, waitScreen } from './harness.mjs';

const WORDS = new Set(wordlist);

let relay;
let alice;
let bob;

before(async () => {
  relay = await startRelay();
  [alice, bob] = await Promise.all([openMember(), openMember()]);
});

after(async () => {
  await Promise.all([alice, bob].map((member) => member?.close()));
  await relay?.stop();
});

test('Generate fills a strong passphrase from the BIP39 word list, shows it, and the room it creates can be joined', async () => {
  const page = alice.page;
  await page.goto(`${relay.origin}/`);
  await page.getByRole('button', { name: 'Create a room' }).click();
  await page.getByLabel('Your alias').filter({ visible: true }).fill('alice');
  const password = page.getByLabel('Room password').filter({ visible: true });
  await page.getByRole('button', { name: 'Generate' }).click();
  await page.locator('#strength-text', { hasText: 'Generated for you' }).waitFor({ timeout: 20_000 });
  const first = await password.inputValue();
  const words = first.split('-');
  assert.equal(words.length, 7, first);
  for (const word of words) assert.ok(WORDS.has(word), `${word} is not on the list`);
  // Shown in clear, so that it can be read and copied, and the estimator accepts it.
  assert.equal(await password.getAttribute('type'), 'text');
  assert.equal(await page.locator('button.reveal[aria-controls="create-password"]').getAttribute('aria-pressed'), 'true');
  assert.match(await page.locator('#strength-text').textContent(), /Good enough for a room/);
  assert.ok(Number(await page.locator('#strength-bar').getAttribute('data-score')) >= 3);
  // Focused and selected, so that a copy takes it whole.
  const selection = await page.evaluate(() => {
    const field = /** @type {HTMLInputElement} */ (document.activeElement);
    return { id: field.id, text: field.value.slice(field.selectionStart ?? 0, field.selectionEnd ?? 0) };
  });
  assert.deepEqual(selection, { id: 'create-password', text: first });

  // Another press, another passphrase.
  await page.getByRole('button', { name: 'Generate' }).click();
  await page.waitForFunction((before) => document.getElementById('create-password').value !== before, first);
  const second = await password.inputValue();
  assert.notEqual(second, first);

  await page.getByRole('button', { name: 'Create room' }).click();
  await waitScreen(page, 'link', 30_000);
  // The field does not keep showing the password once the room exists.
  assert.equal(await page.locator('#create-password').getAttribute('type'), 'password');
  const link = await page.locator('#share-block-page-link').inputValue();
  await page.getByRole('button', { name: 'Enter the room' }).click();
  await waitScreen(page, 'chat');
  await joinRoom(bob.page, link, { alias: 'bob', password: second });
  await seeMembers(alice.page, 2);
});

test('draws are uniform by rejection sampling: a draw past the last whole multiple of the bound is thrown away', async () => {
  // A fresh visitor: bob's tab is in the room now, and would go back into it.
  const visitor = await openMember();
  after(() => visitor.close());
  const page = visitor.page;
  await page.goto(`${relay.origin}/`);
  await waitScreen(page, 'home');
  const drawn = await page.evaluate(async () => {
    const { uniform, WORD_COUNT } = await import('/passphrase.js');
    // The list has 2,048 words, which divides 2^32: every draw is kept. A list of 7,772 (the EFF large list) would
    // leave 4,656 values past the last whole multiple, which a plain modulo would give to the first 4,656 words.
    const limit = 2 ** 32 - (2 ** 32 % 7772);
    const values = [limit, 2 ** 32 - 1, limit - 1];
    let calls = 0;
    const real = crypto.getRandomValues.bind(crypto);
    crypto.getRandomValues = (array) => {
      array[0] = values[calls];
      calls += 1;
      return array;
    };
    try {
      return { index: uniform(7772), calls, count: WORD_COUNT, expected: (limit - 1) % 7772 };
    } finally {
      crypto.getRandomValues = real;
    }
  });
  assert.equal(drawn.count, 2048);
  assert.equal(drawn.calls, 3, 'the two draws at or above the limit were thrown away');
  assert.equal(drawn.index, drawn.expected);
});
