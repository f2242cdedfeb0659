// The main flows with three members in real Chromium against a real relay: create, join, chat, whisper, attachments,
// kick, refresh, farewell, logout, and the screenshot of a two-member chat for the README.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import {
  confirm,
  confirmKick,
  createRoom,
  joinRoom,
  log,
  relayWithMembers,
  say,
  seeMembers,
  seeMessage,
  violations,
  waitScreen,
} from './harness.mjs';

// The README's screenshot is rewritten only on request, so that a test run leaves the tree clean;
// otherwise the picture goes to target/, where a developer can still look at it.
const SCREENSHOT = fileURLToPath(new URL(
  process.env.SANCTUM_UPDATE_SCREENSHOT ? '../../docs/screenshot.png' : '../../target/chat-screenshot.png',
  import.meta.url,
));

let world;
let relay;
let alice;
let bob;
let carol;
let link;

before(async () => {
  world = await relayWithMembers({ members: [{}, {}, {}] });
  ({ relay, members: [alice, bob, carol] } = world);
});

after(() => world?.close());

test('create a room, join it from the link, and the fragment leaves the address bar', async () => {
  link = await createRoom(alice.page, relay.origin, { alias: 'alice', room: 'Night shift' });
  assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/#v1\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\.\d+$/);

  await bob.page.goto(link);
  await waitScreen(bob.page, 'join');
  assert.equal(await bob.page.evaluate(() => location.hash), '', 'the fragment is gone once read');
  assert.ok(!bob.page.url().includes('#'), bob.page.url());

  await bob.page.getByLabel('Your alias').filter({ visible: true }).fill('bob');
  await bob.page.getByLabel('Room password').filter({ visible: true }).fill('correct horse battery staple violet');
  const started = Date.now();
  await bob.page.getByRole('button', { name: 'Join', exact: true }).click();
  await waitScreen(bob.page, 'chat', 30_000);
  const joined = Date.now() - started;
  await seeMembers(bob.page, 2);
  console.log(`# join-to-joined: ${joined} ms to the chat (Argon2id in a nested Worker, connect, join);`
    + ` ${Date.now() - started} ms until the other member's answer is verified`);

  await seeMembers(alice.page, 2);
  await alice.page.locator('.notice', { hasText: 'bob' }).first().waitFor();
  assert.ok(!bob.page.url().includes('#'));
});

test('members see each other with matching fingerprints, and chat goes both ways with alias and time', async () => {
  const bobOwn = (await bob.page.locator('#fact-fingerprint-value').textContent()).trim();
  const aliceOwn = (await alice.page.locator('#fact-fingerprint-value').textContent()).trim();
  assert.ok(bobOwn.length >= 8 && aliceOwn !== bobOwn);
  await alice.page.locator('#member-list .member', { hasText: `key ${bobOwn}` }).waitFor();
  await bob.page.locator('#member-list .member', { hasText: `key ${aliceOwn}` }).waitFor();

  await say(alice.page, 'Hi bob, welcome in!');
  await seeMessage(bob.page, 'Hi bob, welcome in!');
  const fromAlice = log(bob.page).locator('.msg', { hasText: 'Hi bob, welcome in!' });
  assert.equal((await fromAlice.locator('.who').textContent()).trim(), 'alice');
  assert.match(await fromAlice.locator('time').getAttribute('datetime'), /^\d{4}-\d\d-\d\dT/);
  assert.equal(await fromAlice.evaluate((node) => node.classList.contains('mine')), false);

  await say(bob.page, 'Hey alice, can you see me?');
  await seeMessage(alice.page, 'Hey alice, can you see me?');
  assert.equal(await log(alice.page).locator('.msg.mine', { hasText: 'Hi bob, welcome in!' }).count(), 1);

  // Shift+Enter makes a new line instead of sending.
  const box = alice.page.getByLabel('Message', { exact: true }).filter({ visible: true });
  await box.fill('Formatting: <b>bold</b>, <i>italic</i>, <code>code()</code>');
  await box.press('Shift+Enter');
  await box.pressSequentially('<h3>a heading</h3>');
  assert.match(await box.inputValue(), /\n<h3>/);
  await box.press('Enter');
  await seeMessage(bob.page, 'a heading');
  const formatted = log(bob.page).locator('.bubble', { hasText: 'a heading' });
  assert.equal(await formatted.locator('b').textContent(), 'bold');
  assert.equal(await formatted.locator('h3').textContent(), 'a heading');
});

test('screenshot of the chat with two members', async () => {
  await say(alice.page, '/purr bob the password is right, welcome');
  await seeMessage(bob.page, 'the password is right, welcome');
  await bob.page.locator('#file-input').setInputFiles({ name: 'photo.png', mimeType: 'image/png', buffer: makePng(240, 150) });
  await log(alice.page).locator('.attachment img[alt="photo.png"]').waitFor({ timeout: 20_000 });
  await say(bob.page, 'Made this earlier. Links work too: <a href="https://example.org/">example.org</a>');
  await seeMessage(alice.page, 'Made this earlier.');
  await alice.page.locator('#message').blur();
  await alice.page.screenshot({ path: SCREENSHOT });
  assert.deepEqual(await violations(alice.page), []);
  assert.deepEqual(await violations(bob.page), []);
});

test('a whisper reaches only its target and is marked on both ends', async () => {
  await joinRoom(carol.page, link, { alias: 'carol' });
  await seeMembers(carol.page, 3);
  await seeMembers(alice.page, 3);
  await seeMembers(bob.page, 3);

  await say(alice.page, '/purr bob the meeting moved to nine');
  await seeMessage(bob.page, 'the meeting moved to nine');
  const received = log(bob.page).locator('.msg.whisper', { hasText: 'the meeting moved to nine' });
  assert.equal((await received.locator('.tag').textContent()).trim(), 'whisper to you');
  const sent = log(alice.page).locator('.msg.whisper.mine', { hasText: 'the meeting moved to nine' });
  assert.equal((await sent.locator('.tag').textContent()).trim(), 'whisper to bob');

  // Carol gets the message sent after the whisper, so the whisper had its chance to arrive, and it did not.
  await say(alice.page, 'everyone: coffee?');
  await seeMessage(carol.page, 'everyone: coffee?');
  await seeMessage(bob.page, 'everyone: coffee?');
  assert.equal(await log(carol.page).getByText('the meeting moved to nine').count(), 0);

  // The member list's whisper button works the same way.
  await bob.page.getByRole('button', { name: 'Whisper to carol' }).click();
  await say(bob.page, 'just between us');
  await seeMessage(carol.page, 'just between us');
  await carol.page.locator('.msg.whisper', { hasText: 'just between us' }).waitFor();
  await bob.page.getByRole('button', { name: 'Stop whispering' }).click();
  await say(bob.page, 'back to everyone');
  await seeMessage(alice.page, 'back to everyone');
  assert.equal(await log(alice.page).getByText('just between us').count(), 0);
});

test('/help lists the commands', async () => {
  await say(carol.page, '/help');
  for (const command of ['/purr', '/kick', '/exit', '/stop', '/help']) {
    await log(carol.page).locator('.help-list code', { hasText: command }).first().waitFor();
  }
});

test('attachments travel as encrypted chunks: an image and a video render from blob: URLs, other files download', async () => {
  const png = makePng(96, 64);
  await alice.page.locator('#file-input').setInputFiles({ name: 'gradient.png', mimeType: 'image/png', buffer: png });
  for (const member of [bob, carol]) {
    const image = log(member.page).locator('.attachment img[alt="gradient.png"]');
    await image.waitFor({ timeout: 20_000 });
    assert.match(await image.getAttribute('src'), /^blob:http:\/\/127\.0\.0\.1:\d+\//);
    assert.deepEqual(await image.evaluate((img) => [img.naturalWidth, img.naturalHeight]), [96, 64]);
    // The pixels arrive intact: sample the gradient the PNG was made with.
    const pixels = await image.evaluate((img) => {
      const canvas = document.createElement('canvas');
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const context = canvas.getContext('2d');
      context.drawImage(img, 0, 0);
      return [[0, 0], [48, 32], [95, 63]].map(([x, y]) => Array.from(context.getImageData(x, y, 1, 1).data.slice(0, 3)));
    });
    const expected = [[0, 0], [48, 32], [95, 63]].map(([x, y]) => [Math.round((x / 96) * 255), Math.round((y / 64) * 255), 200]);
    for (const [index, pixel] of pixels.entries()) {
      for (const [channel, value] of pixel.entries()) {
        assert.ok(Math.abs(value - expected[index][channel]) <= 3, `pixel ${index}: ${pixel} vs ${expected[index]}`);
      }
    }
  }
  await log(alice.page).locator('.msg.mine .attachment img').waitFor();

  // A file that is not an image or video is offered for download only.
  const text = Buffer.from('plain file contents\n'.repeat(100));
  await bob.page.locator('#file-input').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: text });
  const download = log(alice.page).getByRole('link', { name: 'Download notes.txt' });
  await download.waitFor({ timeout: 20_000 });
  assert.match(await download.getAttribute('href'), /^blob:/);
  assert.equal(await download.getAttribute('download'), 'notes.txt');
  const notes = log(alice.page).locator('.attachment', { has: alice.page.getByRole('link', { name: 'Download notes.txt' }) });
  assert.equal(await notes.locator('img, video, audio').count(), 0, 'a generic file is never rendered');
  assert.equal((await notes.locator('.file-name').textContent()).trim(), 'notes.txt');

  // A video plays from a blob: URL: a WebM recorded from a canvas in bob's page, decoded at its size in alice's.
  const webm = await recordWebm(bob.page, 64, 48);
  await bob.page.locator('#file-input').setInputFiles({ name: 'clip.webm', mimeType: 'video/webm', buffer: webm });
  const video = log(alice.page).locator('.attachment video[aria-label="clip.webm"]');
  await video.waitFor({ timeout: 20_000 });
  assert.match(await video.getAttribute('src'), /^blob:http:\/\/127\.0\.0\.1:\d+\//);
  assert.equal(await video.evaluate((node) => node.controls), true);
  const size = await video.evaluate((node) => new Promise((resolve, reject) => {
    const report = () => resolve([node.videoWidth, node.videoHeight]);
    if (node.readyState >= HTMLMediaElement.HAVE_METADATA) report();
    node.addEventListener('loadedmetadata', report, { once: true });
    node.addEventListener('error', () => reject(new Error(`the video did not load: ${node.error?.message}`)), { once: true });
  }));
  assert.deepEqual(size, [64, 48]);
  await log(alice.page).getByRole('link', { name: 'Download clip.webm' }).waitFor();

  // Pasting a file into the message box, or dropping one on the chat, sends it the same way.
  await bob.page.evaluate(() => {
    const pasted = new DataTransfer();
    pasted.items.add(new File(['pasted bytes'], 'pasted.txt', { type: 'text/plain' }));
    document.getElementById('message').dispatchEvent(new ClipboardEvent('paste', { clipboardData: pasted, bubbles: true, cancelable: true }));
    const dropped = new DataTransfer();
    dropped.items.add(new File([new Uint8Array([1, 2, 3, 4])], 'dropped.bin', { type: 'application/octet-stream' }));
    const chat = document.getElementById('screen-chat');
    chat.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dropped, bubbles: true }));
    chat.dispatchEvent(new DragEvent('drop', { dataTransfer: dropped, bubbles: true, cancelable: true }));
  });
  await log(alice.page).getByRole('link', { name: 'Download pasted.txt' }).waitFor({ timeout: 20_000 });
  await log(alice.page).getByRole('link', { name: 'Download dropped.bin' }).waitFor({ timeout: 20_000 });
  assert.equal(await bob.page.getByLabel('Message', { exact: true }).inputValue(), '', 'nothing pasted as text');
  assert.ok(await bob.page.locator('#drop-hint').isHidden());
});

test('kick asks first, removes the member, and the others see it', async () => {
  await alice.page.getByRole('button', { name: 'Kick carol' }).click();
  await alice.page.locator('#kick-dialog').waitFor({ state: 'visible' });
  assert.match(await alice.page.locator('#kick-title').textContent(), /Kick carol/);
  await alice.page.locator('#kick-cancel').click();
  await seeMembers(alice.page, 3);

  await say(alice.page, '/kick carol');
  await confirmKick(alice.page);
  await waitScreen(carol.page, 'gone');
  assert.match(await carol.page.locator('#gone-title').textContent(), /removed/);
  // The kicked screen says who removed her and that the room goes on; the link is not dead, and it does not say so.
  assert.equal(await carol.page.locator('#gone-reason').textContent(), 'You were removed by alice. The room goes on without you.');
  assert.doesNotMatch(await carol.page.locator('#gone-detail').textContent(), /dead/);
  assert.equal(await log(carol.page).locator('.msg').count(), 0, 'the kicked member\'s view is wiped');
  await seeMembers(alice.page, 2);
  await seeMembers(bob.page, 2);
  await bob.page.locator('.notice', { hasText: 'carol' }).last().waitFor();
});

test('no CSP or Trusted Types violation after every flow so far', async () => {
  assert.deepEqual(await violations(alice.page), []);
  assert.deepEqual(await violations(bob.page), []);
  assert.deepEqual(await violations(carol.page), []);
  assert.deepEqual([...alice.errors, ...bob.errors, ...carol.errors], []);
});

test('refresh clears the screen and stays in the room as a new session', async () => {
  const before = (await bob.page.locator('#fact-fingerprint-value').textContent()).trim();
  assert.ok((await log(bob.page).locator('.msg').count()) > 0);
  await bob.page.reload();
  await waitScreen(bob.page, 'chat', 30_000);
  assert.equal(await log(bob.page).locator('.msg').count(), 0, 'no message survives a refresh');
  const afterRefresh = (await bob.page.locator('#fact-fingerprint-value').textContent()).trim();
  assert.notEqual(afterRefresh, before, 'a new session has new keys');
  await seeMembers(bob.page, 2);
  await alice.page.locator('#member-list .member', { hasText: `key ${afterRefresh}` }).waitFor();

  await say(alice.page, 'still there?');
  await seeMessage(bob.page, 'still there?');
  await say(bob.page, 'yes, as a new session');
  await seeMessage(alice.page, 'yes, as a new session');
});

test('leaving says the farewell, wipes the tab, and back and forward show that the session ended', async () => {
  await bob.page.getByRole('button', { name: 'Leave the room' }).click();
  await confirm(bob.page, { input: 'good night, all' });
  await waitScreen(bob.page, 'ended');
  await seeMessage(alice.page, 'good night, all');
  await alice.page.locator('.msg.farewell', { hasText: 'good night, all' }).waitFor();
  await seeMembers(alice.page, 1);

  assert.deepEqual(await bob.page.evaluate(() => Object.keys(sessionStorage).filter((key) => key !== 'sanctum.ended')), []);
  assert.equal(await log(bob.page).locator('.msg').count(), 0);
  await bob.page.goBack();
  await waitScreen(bob.page, 'ended');
  await bob.page.goForward();
  await waitScreen(bob.page, 'ended');
  await bob.page.reload();
  await waitScreen(bob.page, 'ended');
});

/** A small valid PNG with a colour gradient, made here so the test needs no fixture file. */
function makePng(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes) => {
    let c = 0xffffffff;
    for (const byte of bytes) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'ascii');
    data.copy(out, 8);
    out.writeUInt32BE(crc(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8;
  header[9] = 2;
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y += 1) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x += 1) {
      raw[row + 1 + x * 3] = Math.round((x / width) * 255);
      raw[row + 2 + x * 3] = Math.round((y / height) * 255);
      raw[row + 3 + x * 3] = 200;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * Records a short WebM (VP8) of a changing canvas with the page's MediaRecorder, so the test needs no fixture file.
 * @returns {Promise<Buffer>}
 */
async function recordWebm(page, width, height) {
  const bytes = await page.evaluate(async ([w, h]) => {
    const canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = h;
    const context = canvas.getContext('2d');
    const recorder = new MediaRecorder(canvas.captureStream(20), { mimeType: 'video/webm;codecs=vp8' });
    const chunks = [];
    recorder.addEventListener('dataavailable', (event) => chunks.push(event.data));
    const stopped = new Promise((resolve) => recorder.addEventListener('stop', resolve, { once: true }));
    recorder.start();
    for (let frame = 0; frame < 10; frame += 1) {
      context.fillStyle = `rgb(${frame * 25}, 120, 200)`;
      context.fillRect(0, 0, w, h);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    recorder.stop();
    await stopped;
    return Array.from(new Uint8Array(await new Blob(chunks).arrayBuffer()));
  }, [width, height]);
  return Buffer.from(bytes);
}
