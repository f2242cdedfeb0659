// Two pages on two relays that share rooms through one real Redis: the link made on one relay opens on the other,
// and the two members chat both ways.
import { after, before, test } from 'node:test';
import { createRoom, joinRoom, relayWithMembers, say, seeMembers, seeMessage } from './harness.mjs';

let world;
let relayA;
let relayB;
let alice;
let bob;

before(async () => {
  world = await relayWithMembers({ redis: true, relays: 2, members: [{}, {}] });
  ({ relays: [relayA, relayB], members: [alice, bob] } = world);
});

after(() => world?.close());

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
