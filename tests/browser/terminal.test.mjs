// A browser member (real Chromium) and a terminal member (the real `sanctum` binary in --json mode) in one room:
// chat both ways, whispers both ways, a file each way, and the terminal member's purge ends the browser's room.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { STRONG_PASSWORD, createRoom, log, relayWithMembers, say, seeMembers, seeMessage, waitScreen } from './harness.mjs';

const CLI_BIN = process.env.SANCTUM_CLI_BIN;
const WAIT = 30_000;
// Any character a terminal could act on: C0, DEL, C1, and the bidirectional and zero-width format characters.
const TERMINAL_ACTIVE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/u;

/** Starts `sanctum ARGS --json`, writes the password as stdin's first line, and reads its events. */
function startTerminal(args, password = STRONG_PASSWORD) {
  if (!CLI_BIN) throw new Error('set SANCTUM_CLI_BIN (cargo xtask test does)');
  const child = spawn(CLI_BIN, [...args, '--json'], { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin.write(`${password}\n`);
  const backlog = [];
  const seen = [];
  let waiting = null;
  createInterface({ input: child.stdout }).on('line', (line) => {
    assert.doesNotMatch(line, TERMINAL_ACTIVE, 'a raw control character reached stdout');
    const event = JSON.parse(line);
    seen.push(event);
    backlog.push(event);
    waiting?.();
  });
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    exited,
    send(command) {
      child.stdin.write(`${JSON.stringify(command)}\n`);
    },
    /** Resolves with the oldest unmatched event satisfying `want`. */
    async expect(what, want) {
      const deadline = Date.now() + WAIT;
      for (;;) {
        const at = backlog.findIndex(want);
        if (at >= 0) return backlog.splice(at, 1)[0];
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; saw ${JSON.stringify(seen)}`);
        await new Promise((resolve) => {
          waiting = resolve;
          setTimeout(resolve, 250);
        });
      }
    },
    stop() {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

let world;
let relay;
let alice;
let bob;
let dir;

before(async () => {
  world = await relayWithMembers({ members: [{}] });
  ({ relay, members: [alice] } = world);
  dir = mkdtempSync(join(tmpdir(), 'sanctum-terminal-'));
});

after(async () => {
  bob?.stop();
  await world?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a browser member and a terminal member chat, whisper, trade files, and the terminal purges the room', async () => {
  const link = await createRoom(alice.page, relay.origin, { alias: 'alice', room: 'Night shift' });
  // The terminal finds the relay at the link's own origin.
  bob = startTerminal(['join', link, '--alias', 'bob']);
  const joined = await bob.expect('joined', (e) => e.event === 'joined');
  assert.equal(joined.room_name, 'Night shift');
  const aliceSeen = await bob.expect('alice accepted', (e) => e.event === 'member_joined' && e.alias === 'alice');
  await seeMembers(alice.page, 2);
  await alice.page.locator('#member-list .member', { hasText: `key ${joined.me.fingerprint}` }).waitFor();

  // Chat both ways; the browser's formatting reaches the terminal as the member typed it.
  await say(alice.page, 'Hello from the <b>browser</b>');
  const hello = await bob.expect('browser message', (e) => e.event === 'message' && !e.whisper);
  assert.equal(hello.text, 'Hello from the <b>browser</b>');
  assert.equal(hello.alias, 'alice');
  bob.send({ cmd: 'send', text: 'Hello from the <i>terminal</i>' });
  await seeMessage(alice.page, 'Hello from the terminal');
  const fromBob = log(alice.page).locator('.msg', { hasText: 'Hello from the terminal' });
  assert.equal((await fromBob.locator('.who').textContent()).trim(), 'bob');
  assert.equal(await fromBob.locator('i').textContent(), 'terminal');

  // Whispers both ways.
  await say(alice.page, '/purr bob only for the terminal');
  const whisper = await bob.expect('whisper', (e) => e.event === 'message' && e.whisper);
  assert.equal(whisper.text, 'only for the terminal');
  bob.send({ cmd: 'whisper', to: aliceSeen.member, text: 'only for the browser' });
  await log(alice.page).locator('.msg.whisper', { hasText: 'only for the browser' }).waitFor({ timeout: WAIT });

  // A file from the browser, saved by the terminal only when asked.
  const notes = Buffer.from('plain file contents\n'.repeat(3000));
  await alice.page.locator('#file-input').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: notes });
  const file = await bob.expect('attachment', (e) => e.event === 'attachment');
  assert.deepEqual([file.name, file.mime, file.size], ['notes.txt', 'text/plain', notes.length]);
  assert.equal(file.sha256, createHash('sha256').update(notes).digest('hex'));
  const saved = join(dir, 'saved-notes.txt');
  bob.send({ cmd: 'save', index: file.index, path: saved });
  await bob.expect('saved', (e) => e.event === 'saved');
  assert.deepEqual(readFileSync(saved), notes);

  // A file from the terminal, offered for download in the browser.
  const report = Buffer.alloc(70_000, 7);
  const path = join(dir, 'report.bin');
  writeFileSync(path, report);
  bob.send({ cmd: 'attach', path });
  const download = log(alice.page).getByRole('link', { name: 'Download report.bin' });
  await download.waitFor({ timeout: WAIT });
  const [saving] = await Promise.all([alice.page.waitForEvent('download'), download.click()]);
  assert.equal(saving.suggestedFilename(), 'report.bin');
  assert.deepEqual(readFileSync(await saving.path()), report);

  // The terminal's purge wipes the browser's room, and the terminal exits cleanly.
  bob.send({ cmd: 'purge' });
  const ended = await bob.expect('ended', (e) => e.event === 'ended');
  assert.equal(ended.reason, 'purged');
  await waitScreen(alice.page, 'gone', WAIT);
  assert.match(await alice.page.locator('#gone-reason').textContent(), /purged/);
  assert.equal(await log(alice.page).locator('.msg').count(), 0, 'no message is left on the screen');
  assert.equal(await bob.exited, 0);
});
