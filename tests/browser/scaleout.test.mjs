// Two pages on two relays that share rooms through one real Redis: the link made on one relay opens on the other,
// and the two members chat both ways.
import { after, before, test } from 'node:test';
import {
  createRoom,
  joinRoom,
  openMember,
  say,
  seeMembers,
  seeMessage,
  startRedis,
  startRelay,
} from './harness.mjs';

let redis;
let relayA;
let relayB;
let alice;
let bob;

before(async () => {
  redis = await startRedis();
  [relayA, relayB] = await Promise.all([
    startRelay(['--redis', redis.url]),
    startRelay(['--redis', redis.url]),
  ]);
  [alice, bob] = await Promise.all([openMember(), openMember()]);
});

after(async () => {
  await Promise.all([alice, bob].map((member) => member?.close()));
  await Promise.all([relayA, relayB].map((relay) => relay?.stop()));
  redis?.stop();
});

test('a room created on one relay is joined and chatted in from another', async () => {
  const link = await createRoom(alice.page, relayA.origin, { alias: 'alice', room: 'Two relays' });
  // The link names no relay: the same fragment opened from the other relay's origin reaches the same room.
  const fragment = link.slice(link.indexOf('#'));
  await joinRoom(bob.page, `${relayB.origin}/${fragment}`, { alias: 'bob' });
  await seeMembers(alice.page, 2);
  await seeMembers(bob.page, 2);
  await say(alice.page, 'hello from relay A');
  await seeMessage(bob.page, 'hello from relay A');
  await say(bob.page, 'hello back from relay B');
  await seeMessage(alice.page, 'hello back from relay B');
});
