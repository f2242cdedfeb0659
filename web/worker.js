// The crypto Worker: it owns the wasm client core, every key, and the WebSocket to the relay.
//
// The page talks to it through bridge.js (requests with ids, answers, events). What leaves this Worker for the page is
// what a person sees (aliases, fingerprints, message text, attachment bytes) and opaque values (member ids, the resume
// blob). Argon2 runs in a nested, short-lived Worker (derive-worker.js) so its 64 MiB are released afterwards.
import init, { Client, check_link, new_link, password_strength } from './pkg/sanctum.js';

// The module is compiled once here and handed to each derivation Worker, which then neither fetches nor compiles it again.
const compiled = WebAssembly.compileStreaming(fetch(new URL('./pkg/sanctum_bg.wasm', import.meta.url)));
const ready = compiled.then((module) => init({ module_or_path: module }));

const policy = self.trustedTypes?.createPolicy('sanctum', {
  createScriptURL(input) {
    const url = new URL(input, self.location.href);
    if (url.origin !== self.location.origin || !url.pathname.endsWith('/derive-worker.js')) {
      throw new TypeError('refused a script URL that is not the derivation Worker');
    }
    return url.href;
  },
});

const settings = { relayUrl: null, testDeriveHoldMs: 0 };
let client = null;
let socket = null;
let welcome = null;
let entering = null;
let ended = false;
let leaving = false;

// Outgoing frames wait here so that the connection stays under the relay's frames-per-second limit.
const outbox = [];
let tokens = 0;
let lastRefill = 0;
let pumpTimer = null;

function emit(event, data) {
  self.postMessage({ event, data });
}

function failure(code, message) {
  return Object.assign(new Error(message ?? code), { code });
}

self.addEventListener('message', async (event) => {
  const { id, op, args } = event.data ?? {};
  try {
    const result = await handle(op, args ?? {});
    self.postMessage({ id, ok: true, result });
  } catch (error) {
    self.postMessage({ id, ok: false, error: { code: error?.code ?? 'failed', message: String(error?.message ?? error) } });
  }
});

async function handle(op, args) {
  await ready;
  switch (op) {
    case 'configure':
      settings.relayUrl = String(args.relayUrl);
      settings.testDeriveHoldMs = Number(args.testDeriveHoldMs) || 0;
      return true;
    case 'strength':
      return password_strength(String(args.password ?? ''), String(args.alias ?? ''), String(args.roomName ?? ''));
    case 'checkLink':
      return { expiresAt: check_link(String(args.link ?? ''), Date.now()) };
    case 'create':
      return enterRoom(() => create(args));
    case 'join':
      return enterRoom(() => join(args));
    case 'resume':
      return enterRoom(() => resume(args));
    case 'send':
      return act((c) => c.send_text(String(args.text ?? ''), Date.now()));
    case 'whisper':
      return act((c) => c.whisper(Number(args.member), String(args.text ?? ''), Date.now()));
    case 'attach':
      return attach(args);
    case 'kick':
      return act((c) => c.kick(Number(args.member), Date.now()));
    case 'purge':
      return act((c) => c.purge(Date.now()));
    case 'leave':
      return leave(args);
    default:
      throw failure('bad_request', `unknown request ${op}`);
  }
}

// Entering a room.

/** Runs one way into a room; when it fails, nothing of the attempt (socket, keys) is kept. */
async function enterRoom(attempt) {
  if (client) throw failure('already_in_room');
  try {
    return await attempt();
  } catch (error) {
    entering = null;
    closeSocket();
    client?.free();
    client = null;
    throw error;
  }
}

async function create({ alias, roomName, password, lifetime }) {
  // The relay's welcome says its longest lifetime; the link must carry the expiry the relay will grant.
  await connect({ quiet: true });
  const granted = Math.max(1, Math.min(Number(lifetime) || 3600, welcome.max_lifetime));
  const fragment = new_link(granted, Date.now());
  const link = `${new URL('./', self.location.href).href}#${fragment}`;
  const secrets = await derive(link, password);
  client = Client.create(secrets, String(alias), String(roomName ?? ''), Date.now());
  const result = await enter(() => client.create_frame(Date.now()));
  return { ...result, link };
}

async function join({ link, alias, password }) {
  check_link(String(link), Date.now());
  const secrets = await derive(String(link), password);
  await connect();
  client = Client.join(secrets, String(alias), Date.now());
  return enter(() => client.join_frame(Date.now()));
}

async function resume({ blob }) {
  emit('progress', { step: 'connect' });
  client = Client.resume(String(blob), Date.now());
  await connect();
  return enter(() => client.join_frame(Date.now()));
}

function derive(link, password) {
  emit('progress', { step: 'derive' });
  return new Promise((resolve, reject) => {
    const url = new URL('derive-worker.js', import.meta.url).href;
    const worker = new Worker(policy ? policy.createScriptURL(url) : url, { type: 'module', name: 'sanctum-derive' });
    worker.addEventListener('message', (event) => {
      worker.terminate();
      if (event.data?.ok) resolve(event.data.secrets);
      else reject(failure(event.data?.code ?? 'derive', event.data?.message));
    });
    worker.addEventListener('error', (event) => {
      event.preventDefault();
      worker.terminate();
      reject(failure('worker', 'the key derivation failed'));
    });
    compiled.then((module) => {
      worker.postMessage({ module, link, password: String(password ?? ''), holdMs: settings.testDeriveHoldMs });
    }, reject);
  });
}

function connect({ quiet = false } = {}) {
  if (!quiet) emit('progress', { step: 'connect' });
  return new Promise((resolve, reject) => {
    let opened = false;
    try {
      socket = new WebSocket(settings.relayUrl);
    } catch {
      reject(failure('unreachable'));
      return;
    }
    socket.addEventListener('message', (event) => {
      if (!opened) {
        const frame = parseFrame(event.data);
        if (frame?.type !== 'welcome') {
          reject(failure('unsupported_version', 'the relay did not greet as a Sanctum relay'));
          return;
        }
        opened = true;
        welcome = frame;
        tokens = burst();
        lastRefill = performance.now();
        resolve();
        return;
      }
      receive(event.data);
    });
    socket.addEventListener('close', (event) => {
      if (!opened) reject(failure('unreachable'));
      else onClose(event);
    });
    socket.addEventListener('error', () => {
      if (!opened) reject(failure('unreachable'));
    });
  });
}

function parseFrame(text) {
  try {
    const frame = JSON.parse(text);
    return frame && typeof frame === 'object' ? frame : null;
  } catch {
    return null;
  }
}

function enter(makeFrame) {
  emit('progress', { step: 'enter' });
  return new Promise((resolve, reject) => {
    entering = { resolve, reject };
    queue([makeFrame()]);
  });
}

function entryResult(entered) {
  return {
    link: entered.link,
    resume: client.resume_blob(),
    room: { name: entered.room_name, expiresAt: entered.expires_at_ms },
    self: entered.self,
    members: entered.members,
    limits: { maxAttachment: entered.max_attachment, maxFramesPerSecond: welcome.max_frames_per_second },
  };
}

// Frames from the relay.

function receive(text) {
  if (!client) return;
  const frame = parseFrame(text);
  if (entering && frame?.type === 'error') {
    const { reject } = entering;
    entering = null;
    closeSocket();
    client.free();
    client = null;
    reject(failure(frame.code, frame.message));
    return;
  }
  let output;
  try {
    output = client.receive(String(text), Date.now());
  } catch (error) {
    emit('notice', { kind: 'unverified', text: `A frame could not be read: ${error?.message ?? error}` });
    return;
  }
  apply(output);
}

/** Applies the core's output: frames to send, then events for the page. */
function apply(output) {
  if (output.send?.length) queue(output.send);
  for (const item of output.events ?? []) dispatch(item);
}

function dispatch(item) {
  switch (item.type) {
    case 'entered':
      if (entering) {
        const { resolve } = entering;
        entering = null;
        resolve(entryResult(item));
      }
      return;
    case 'members':
      emit('members', { members: item.members });
      return;
    case 'message':
      emit('message', item);
      return;
    case 'attachment':
      self.postMessage({ event: 'attachment', data: { ...item, type: item.mime } }, [item.bytes.buffer]);
      return;
    case 'notice':
      emit('notice', { kind: item.kind, text: item.text });
      return;
    case 'expiring':
      emit('expiring', { seconds: item.seconds });
      return;
    case 'relay_error':
      emit('notice', { kind: 'relay', code: item.code, text: item.text });
      return;
    case 'ended':
      finish(item);
      return;
    default:
      return;
  }
}

function finish(item) {
  if (ended) return;
  ended = true;
  emit('ended', { reason: item.reason, by: item.by ?? null, code: item.code ?? null });
  closeSocket({ flush: true });
  client?.free();
  client = null;
}

function onClose(event) {
  socket = null;
  if (entering) {
    const { reject } = entering;
    entering = null;
    reject(failure(event.code === 1013 ? 'too_many_connections' : 'unreachable'));
    return;
  }
  if (ended || leaving || !client) return;
  // The relay's close codes say why when no frame did: purge, kick and expiry end the room for this tab.
  const reasons = { 4001: 'purged', 4002: 'kicked', 4003: 'expired' };
  if (reasons[event.code]) {
    finish({ reason: reasons[event.code] });
    return;
  }
  emit('disconnected', { code: event.code });
}

/** Closes the socket; with `flush`, the frames still waiting (a purge, a goodbye) go out first, unpaced. */
function closeSocket({ flush = false } = {}) {
  clearTimeout(pumpTimer);
  pumpTimer = null;
  if (flush && socket?.readyState === WebSocket.OPEN) {
    for (const { frame } of outbox) socket.send(frame);
  }
  outbox.length = 0;
  if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000, 'bye');
  socket = null;
}

// Sending, paced to the relay's frames-per-second limit from its welcome frame.

function rate() {
  // Stay a little under the relay's average so that a long attachment never trips its limit.
  return Math.max(1, Math.floor((welcome?.max_frames_per_second ?? 10) * 0.8));
}

function burst() {
  return Math.max(1, Math.min(8, rate()));
}

function queue(frames, onSent) {
  for (const [index, frame] of frames.entries()) {
    outbox.push({ frame, onSent: index === frames.length - 1 ? onSent : null, index, total: frames.length });
  }
  pump();
}

function pump() {
  clearTimeout(pumpTimer);
  pumpTimer = null;
  const now = performance.now();
  tokens = Math.min(burst(), tokens + ((now - lastRefill) / 1000) * rate());
  lastRefill = now;
  while (outbox.length && tokens >= 1 && socket?.readyState === WebSocket.OPEN) {
    const { frame, onSent } = outbox.shift();
    socket.send(frame);
    tokens -= 1;
    onSent?.();
  }
  if (outbox.length) pumpTimer = setTimeout(pump, Math.ceil((1000 / rate()) * Math.max(0.05, 1 - tokens)));
}

function act(step) {
  if (!client || !socket) throw failure('not_in_room');
  apply(step(client));
  return true;
}

function attach({ name, type, bytes }) {
  if (!client || !socket) throw failure('not_in_room');
  const data = new Uint8Array(bytes);
  const output = client.attach(String(name ?? 'file'), String(type ?? ''), data, Date.now());
  const frames = output.send ?? [];
  for (const item of output.events ?? []) dispatch(item);
  return new Promise((resolve) => {
    const total = frames.length;
    let sent = 0;
    const label = String(name ?? 'file');
    for (const frame of frames) {
      outbox.push({
        frame,
        onSent() {
          sent += 1;
          if (sent === total || sent % 4 === 0) emit('sendProgress', { sent, total, name: label });
          if (sent === total) resolve(true);
        },
      });
    }
    if (total === 0) resolve(true);
    pump();
  });
}

async function leave({ farewell }) {
  if (!client || !socket) return true;
  leaving = true;
  const output = client.leave(String(farewell ?? ''), Date.now());
  await new Promise((resolve) => {
    const frames = output.send ?? [];
    if (!frames.length) resolve();
    queue(frames, resolve);
    setTimeout(resolve, 3000);
  });
  closeSocket();
  client?.free();
  client = null;
  return true;
}

// The core enforces the room's expiry and its own timers from this tick, whatever the relay says.
setInterval(() => {
  if (client && !ended && !entering) {
    try {
      apply(client.tick(Date.now()));
    } catch {
      /* A tick has nothing to fail on; an error here only means the client is gone. */
    }
  }
}, 1000);
