// @ts-check
// The crypto Worker: it owns the wasm client core, every key, and the WebSocket to the relay.
//
// The page talks to it through bridge.js (requests with ids, answers, events). What leaves this Worker for the page is
// what a person sees (aliases, fingerprints, message text, attachment bytes) and opaque values (member ids, the resume
// blob). Argon2 runs in a nested, short-lived Worker (derive-worker.js) so its 64 MiB are released afterwards.
//
// Every frame leaves through one scheduler (see "Sending" below): control frames first, then texts, then attachment
// chunks, paced under the frame rate the relay announces in its welcome.
import init, { Client, alias_problem, check_link, max_attachment, max_farewell_bytes, new_link, parse_room_status, parse_welcome, peek_frame } from './pkg/sanctum.js';
import { CloseCode, ErrorCode, Event, FailureCode } from './codes.js';

/**
 * @typedef {import('./pkg/sanctum.js').Upload} Upload
 * @typedef {{send?: string[], events?: CoreEvent[]}} Output
 * @typedef {{type: string} & Record<string, any>} CoreEvent
 * @typedef {{v: number, max_frame: number, max_lifetime: number, max_members: number, max_frames_per_second: number, frame_burst: number}} Welcome
 * @typedef {{resolve: (value: any) => void, reject: (error: Error) => void}} Waiter
 * @typedef {Waiter & {seal: (client: Client) => Output}} TextIntent
 * @typedef {Waiter & {id: number, to: number | null, name: string, type: string, caption: string, size: number, bytes: Uint8Array | null, upload: Upload | null}} UploadIntent
 */

// The module is compiled once here and handed to each derivation Worker, which then neither fetches nor compiles it again.
const compiled = WebAssembly.compileStreaming(fetch(new URL('./pkg/sanctum_bg.wasm', import.meta.url)));
const ready = compiled.then((module) => init({ module_or_path: module }));

/** Share of the relay's announced frames per second this Worker uses, leaving room for pongs and clock drift. */
const RATE_SHARE = 0.8;
/**
 * The share of the relay's announced burst (`welcome.frame_burst`) the app spends at once: the rest stays for what the
 * network bunches together and for pongs, which the relay charges to the same bucket.
 */
const BURST_SHARE = 0.5;
/** Bytes the socket may hold unsent before attachment chunks wait: a purge or a text never queues behind more. */
const BULK_BUFFER_BYTES = 128 * 1024;
/** How long leaving waits for the goodbye to be written to the socket before it closes anyway. */
const LEAVE_TIMEOUT_MS = 3000;
/** How long a purger waits for the relay's close 4001, the confirmation that the room is purged there. */
const PURGE_TIMEOUT_MS = 10_000;
/** Milliseconds between two looks at the socket's buffer while waiting for it to drain. */
const DRAIN_POLL_MS = 20;

const policy = /** @type {any} */ (self).trustedTypes?.createPolicy('sanctum', {
  /** @param {string} input */
  createScriptURL(input) {
    const url = new URL(input, self.location.href);
    if (url.origin !== self.location.origin || !url.pathname.endsWith('/derive-worker.js')) {
      throw new TypeError('refused a script URL that is not the derivation Worker');
    }
    return url.href;
  },
});

const settings = { relayUrl: '', testDeriveHoldMs: 0 };
/** @type {Client | null} */
let client = null;
/** @type {WebSocket | null} */
let socket = null;
/** @type {Welcome | null} */
let welcome = null;
/** @type {Waiter | null} */
let entering = null;
let ended = false;
let leaving = false;
/** @type {((confirmed: boolean) => void) | null} */
let purgeWaiter = null;

/**
 * @param {string} event
 * @param {unknown} data
 * @param {Transferable[]} [transfer]
 */
function emit(event, data, transfer = []) {
  self.postMessage({ event, data }, { transfer });
}

/**
 * @param {string} code
 * @param {string} [message]
 */
function failure(code, message) {
  return Object.assign(new Error(message ?? code), { code });
}

self.addEventListener('message', async (/** @type {MessageEvent} */ event) => {
  const { id, op, args } = event.data ?? {};
  try {
    const result = await handle(op, args ?? {});
    self.postMessage({ id, ok: true, result });
  } catch (error) {
    const { code, message } = /** @type {any} */ (error) ?? {};
    self.postMessage({ id, ok: false, error: { code: code ?? 'failed', message: String(message ?? error) } });
  }
});

/**
 * @param {string} op
 * @param {Record<string, any>} args
 */
async function handle(op, args) {
  await ready;
  switch (op) {
    case 'configure':
      settings.relayUrl = String(args.relayUrl);
      settings.testDeriveHoldMs = Number(args.testDeriveHoldMs) || 0;
      return true;
    case 'aliasProblem':
      return alias_problem(String(args.alias ?? ''));
    case 'checkLink':
      return { expiresAt: check_link(String(args.link ?? ''), Date.now()) };
    case 'peek':
      return peek(String(args.link ?? ''));
    case 'create':
      return enterRoom(() => create(args));
    case 'join':
      return enterRoom(() => join(args));
    case 'prepare':
      return prepare(args);
    case 'resume':
      return enterRoom(() => resume(args));
    case 'send': {
      const text = String(args.text ?? '');
      return sendText((c) => c.send_text(text, Date.now()));
    }
    case 'whisper': {
      const text = String(args.text ?? '');
      const member = Number(args.member);
      return sendText((c) => c.whisper(member, text, Date.now()));
    }
    case 'attach':
      return attach(args);
    case 'cancelUpload':
      return cancelUpload(Number(args.id));
    case 'kick':
      return controlAction((c) => c.kick(Number(args.member), Date.now()));
    case 'transfer':
      return controlAction((c) => c.transfer(Number(args.member), Date.now()));
    case 'lock':
      return lock(args);
    case 'purge':
      return purge();
    case 'leave':
      return leave(args);
    default:
      throw failure('bad_request', `unknown request ${op}`);
  }
}

// Entering a room.

/**
 * Runs one way into a room; when it fails, nothing of the attempt (socket, keys) is kept.
 * @param {() => Promise<any>} attempt
 */
async function enterRoom(attempt) {
  if (client || attempting) throw failure('already_in_room');
  attempting = true;
  try {
    return await attempt();
  } catch (error) {
    entering = null;
    closeSocket();
    client?.free();
    client = null;
    throw error;
  } finally {
    attempting = false;
  }
}

/** Whether a create, join or resume is under way, during which nothing is prepared ahead of a click. */
let attempting = false;

/** @param {Record<string, any>} args */
async function create({ alias, roomName, password, lifetime, everyoneKicks }) {
  // The relay's welcome says its longest lifetime; the link must carry the expiry the relay will grant.
  const greeting = await connect({ quiet: true });
  const granted = Math.max(1, Math.min(Number(lifetime) || 3600, greeting.max_lifetime));
  const link = pageLink(new_link(granted, Date.now()));
  const secrets = await derive(link, password);
  client = Client.create(secrets, String(alias), String(roomName ?? ''), Boolean(everyoneKicks), Date.now());
  return enter(client.create_frame(Date.now()));
}

/**
 * The whole link of a room from its fragment: this app's own address, then the fragment after `#`.
 * @param {string} fragment
 */
function pageLink(fragment) {
  return `${new URL('./', self.location.href).href}#${fragment}`;
}

/** @param {Record<string, any>} args */
async function join({ link, alias, password }) {
  check_link(String(link), Date.now());
  // A derivation started while the form was filled in is used only if it was for exactly this link and password;
  // any other is stopped and its result never read.
  const derivation = takeEarly(String(link), String(password ?? '')) ?? startDerivation(String(link), password);
  emit('progress', { step: 'derive' });
  // The socket opens while Argon2 runs, unless it is open already.
  connect({ quiet: true }).catch(() => {});
  const secrets = await derivation.secrets;
  await connect();
  client = Client.join(secrets, String(alias), Date.now());
  return enter(client.join_frame(Date.now()));
}

// Starting early: while the join form is filled in, the page asks for the derivation of what it holds, so that the
// click waits only for the relay.

/**
 * @typedef {{secrets: Promise<string>, stop: () => void}} Derivation
 * @typedef {{link: string, password: string, derivation: Derivation}} Early
 */

/** The derivation started before the click, for the link and password the form held then. @type {Early | null} */
let early = null;

/**
 * Starts stretching `password` for `link` now, and opens the socket, for a join the person has not clicked yet.
 * Called again with another link or password, it stops the older derivation first; with an empty password or a link
 * the core refuses, it only stops it. Resolves with whether a derivation runs.
 * @param {Record<string, any>} args
 */
function prepare({ link, password }) {
  if (client || attempting) return false;
  const key = { link: String(link ?? ''), password: String(password ?? '') };
  if (early && early.link === key.link && early.password === key.password) {
    preconnect();
    return true;
  }
  early?.derivation.stop();
  early = null;
  if (!key.password) return false;
  try {
    check_link(key.link, Date.now());
  } catch {
    return false;
  }
  const derivation = startDerivation(key.link, key.password);
  const mine = { ...key, derivation };
  // Nobody may be waiting for it yet: its failure is read at the click, if there is one. The page hears only that
  // the derivation it asked for last is done, never anything of the secrets.
  derivation.secrets.then(() => {
    if (early === mine) emit('prepared', {});
  }, () => {});
  early = mine;
  preconnect();
  return true;
}

/**
 * The early derivation if it was for this link and password, else null (and the stale one stopped).
 * @param {string} link
 * @param {string} password
 * @returns {Derivation | null}
 */
function takeEarly(link, password) {
  const taken = early;
  early = null;
  if (taken && taken.link === link && taken.password === password) return taken.derivation;
  taken?.derivation.stop();
  return null;
}

/** How long a socket opened ahead of a join is used for it; the relay closes one that has not joined after its handshake timeout (10 s by default). */
const EARLY_SOCKET_MS = 5000;
/** When the current socket was opened (performance.now()). */
let socketOpenedAt = 0;

/** Opens the socket ahead of the click, or opens a fresh one when the one opened earlier is about to be closed. */
function preconnect() {
  if (client) return;
  if (socket && performance.now() - socketOpenedAt > EARLY_SOCKET_MS) closeSocket();
  connect({ quiet: true }).catch(() => {});
}

/** @param {Record<string, any>} args */
async function resume({ blob }) {
  emit('progress', { step: 'connect' });
  client = Client.resume(String(blob), Date.now());
  await connect();
  return enter(client.join_frame(Date.now()));
}

/**
 * @param {string} link
 * @param {unknown} password
 * @returns {Promise<string>}
 */
function derive(link, password) {
  emit('progress', { step: 'derive' });
  return startDerivation(link, password).secrets;
}

/**
 * Stretches the password in a derivation Worker of its own; `stop` ends that Worker, and with it the work and the
 * secrets, which then never reach this Worker.
 * @param {string} link
 * @param {unknown} password
 * @returns {Derivation}
 */
function startDerivation(link, password) {
  const url = new URL('derive-worker.js', import.meta.url).href;
  const worker = new Worker(policy ? policy.createScriptURL(url) : url, { type: 'module', name: 'sanctum-derive' });
  /** @type {(error: Error) => void} */
  let fail = () => {};
  const secrets = new Promise((resolve, reject) => {
    fail = reject;
    worker.addEventListener('message', (event) => {
      worker.terminate();
      if (event.data?.ok) resolve(event.data.secrets);
      else reject(failure(event.data?.code ?? FailureCode.DERIVE, event.data?.message));
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
  return {
    secrets,
    stop() {
      worker.terminate();
      fail(failure('cancelled'));
    },
  };
}

/** How long a peek waits for the relay before the app shows the join form anyway. */
const PEEK_TIMEOUT_MS = 4000;

/**
 * Asks the relay, on a connection of its own that closes right after, whether a link's room is live, gone or
 * unknown, so that a dead link leads to "this room is gone" before anyone types a password. The relay sees only the
 * room id, as it would on the join that follows. Resolves with `"live"`, `"gone"` or `"unknown"`, or null when the
 * relay did not say (unreachable, refused, too slow): then the join itself will tell.
 * @param {string} link
 * @returns {Promise<string | null>}
 */
function peek(link) {
  const frame = peek_frame(link, Date.now());
  return new Promise((resolve) => {
    /** @type {WebSocket} */
    let ws;
    try {
      ws = new WebSocket(settings.relayUrl);
    } catch {
      resolve(null);
      return;
    }
    const finish = (/** @type {string | null} */ state) => {
      clearTimeout(timer);
      ws.close(1000);
      resolve(state);
    };
    const timer = setTimeout(() => finish(null), PEEK_TIMEOUT_MS);
    let greeted = false;
    ws.addEventListener('message', (event) => {
      const text = String(event.data);
      if (!greeted) {
        greeted = parse_welcome(text) !== null;
        if (!greeted) finish(null);
        else ws.send(frame);
        return;
      }
      const state = parse_room_status(text);
      // Anything else (an error frame, e.g. rate_limited) is no answer.
      finish(typeof state === 'string' ? state : null);
    });
    ws.addEventListener('close', () => finish(null));
    ws.addEventListener('error', () => finish(null));
  });
}

/**
 * Opens the socket and waits for the relay's welcome, whose limits the scheduler keeps to.
 * @returns {Promise<Welcome>}
 */
function connect({ quiet = false } = {}) {
  if (!quiet) emit('progress', { step: 'connect' });
  // A socket opened ahead of the click (or while Argon2 ran) is the one a join uses, once greeted.
  if (connecting && socket && socket.readyState <= WebSocket.OPEN) return connecting;
  connecting = new Promise((resolve, reject) => {
    let opened = false;
    /** @type {WebSocket} */
    let ws;
    try {
      ws = new WebSocket(settings.relayUrl);
    } catch {
      reject(failure('unreachable'));
      return;
    }
    socket = ws;
    socketOpenedAt = performance.now();
    ws.addEventListener('message', (event) => {
      if (ws !== socket) return;
      if (!opened) {
        const greeting = parse_welcome(String(event.data));
        if (!greeting) {
          reject(failure(ErrorCode.UNSUPPORTED_VERSION, 'the relay did not greet as a Sanctum relay'));
          return;
        }
        opened = true;
        welcome = greeting;
        resetPacing();
        resolve(greeting);
        return;
      }
      receive(String(event.data));
    });
    ws.addEventListener('close', (event) => {
      if (!opened) reject(failure('unreachable'));
      else if (ws === socket) onClose(event);
      else if (purgeWaiter) purgeWaiter(event.code === CloseCode.PURGED);
    });
    ws.addEventListener('error', () => {
      if (!opened) reject(failure('unreachable'));
    });
  });
  return connecting;
}

/** The greeting of the current socket, while it is being opened or open. @type {Promise<Welcome> | null} */
let connecting = null;

/**
 * Sends the create or join frame and waits for the core's `Joined`, or its `Ended` with the relay's refusal.
 * @param {string} frame
 */
function enter(frame) {
  emit('progress', { step: 'enter' });
  return new Promise((resolve, reject) => {
    entering = { resolve, reject };
    queueControl([frame]);
  });
}

/** @param {CoreEvent} joined */
function entryResult(joined) {
  const c = /** @type {Client} */ (client);
  return {
    resume: c.resume_blob(),
    // From the core's secrets, so that a resumed session has it too, and after a lock it is the new one.
    link: pageLink(c.link()),
    room: { name: joined.room_name, expiresAt: joined.expires_at * 1000 },
    self: c.identity(),
    members: c.members(),
    limits: { maxAttachment: max_attachment(), maxFarewellBytes: max_farewell_bytes(), maxFramesPerSecond: welcome?.max_frames_per_second ?? 0, frameBurst: welcome?.frame_burst ?? 0 },
  };
}

// Frames from the relay: the core parses every one, refusals included.
//
// Aliases are compared by their confusable skeleton (UTS #39), whose tables are a wasm module of their own
// (pkg/lookalike_bg.wasm), larger than the whole join path may download. It is fetched once the room is joined, at the
// first frame after the relay's `joined`: every later member is admitted through such frames, so the core never
// compares an alias without it. Frames that arrive meanwhile wait, in order.

/** @type {Promise<void> | null} */
let lookalike = null;
/** Frames received while the look-alike module loads. @type {string[] | null} */
let held = null;

/** @param {string} text */
function receive(text) {
  if (!client) return;
  if (held) {
    held.push(text);
    return;
  }
  if (!lookalike && !entering) {
    held = [text];
    lookalike = loadLookalike().then(releaseHeld);
    return;
  }
  apply(client.receive(text, Date.now()));
}

/**
 * Loads the look-alike module and hands its skeleton function to the core. If it cannot load, the core keeps
 * flagging aliases equal but for case only, and the page is told, since look-alikes across scripts then pass.
 */
async function loadLookalike() {
  try {
    const module = await import('./pkg/lookalike.js');
    await module.default({ module_or_path: new URL('./pkg/lookalike_bg.wasm', import.meta.url) });
    client?.use_skeleton(module.skeleton);
  } catch {
    emit('lookalikeUnavailable', {});
  }
}

/** Applies the frames that waited for the look-alike module, in the order they came. */
function releaseHeld() {
  const waiting = held ?? [];
  held = null;
  for (const text of waiting) {
    if (client) apply(client.receive(text, Date.now()));
  }
}

/**
 * Applies the core's output: frames to send (control frames: answers, hand-outs, leaves), then events for the page.
 * @param {Output} output
 */
function apply(output) {
  if (output.send?.length) queueControl(output.send);
  let membership = false;
  for (const event of output.events ?? []) membership = dispatch(event) || membership;
  if (membership && client && !ended) emit('members', { self: client.identity(), members: client.members() });
}

/**
 * Passes one core event to the page under its own name; returns whether the member list changed.
 * @param {CoreEvent} event
 */
function dispatch(event) {
  switch (event.type) {
    case Event.Joined:
      if (entering) {
        const { resolve } = entering;
        entering = null;
        resolve(entryResult(event));
      }
      return false;
    case Event.Ended:
      finish(event);
      return false;
    case Event.Attachment:
      emit(event.type, event, [event.bytes.buffer]);
      return false;
    case Event.Locked:
      // The room's secrets changed: the page replaces the resume blob it keeps with this one.
      if (client && !entering) emit(event.type, { ...event, resume: client.resume_blob() });
      return false;
    default:
      if (!entering) emit(event.type, event);
      // An owner change moves the owner flag and who may kick whom in the member list.
      return (
        event.type === Event.MemberAccepted ||
        event.type === Event.MemberPresent ||
        event.type === Event.Reconnected ||
        event.type === Event.MemberLeft ||
        event.type === Event.OwnerChanged
      );
  }
}

/**
 * The session is over (refused, kicked, purged by another, expired): the page hears why, and the socket closes once
 * the core's last frames (a leave) are written.
 * @param {CoreEvent} event
 */
function finish(event) {
  if (entering) {
    const { reject } = entering;
    entering = null;
    const reason = event.reason ?? {};
    const codes = { Refused: reason.code, Expired: FailureCode.LINK_EXPIRED, Unverifiable: 'unverifiable' };
    reject(failure(codes[reason.type] ?? 'unreachable'));
    return;
  }
  if (ended) return;
  ended = true;
  cancelIntents(FailureCode.NOT_IN_ROOM);
  emit(Event.Ended, event);
  client?.free();
  client = null;
  drained(LEAVE_TIMEOUT_MS).then(() => closeSocket());
}

/** @param {CloseEvent} event */
function onClose(event) {
  socket = null;
  stopPump();
  if (purgeWaiter) {
    purgeWaiter(event.code === CloseCode.PURGED);
    return;
  }
  if (entering) {
    const { reject } = entering;
    entering = null;
    reject(failure(event.code === CloseCode.TRY_AGAIN_LATER ? ErrorCode.TOO_MANY_CONNECTIONS : 'unreachable'));
    return;
  }
  if (ended || leaving || !client) return;
  cancelIntents('offline');
  // The relay's close codes say why when no frame did: purge, kick and expiry end the room for this tab.
  const reasons = {
    [CloseCode.PURGED]: { type: 'Purged', by: null },
    [CloseCode.KICKED]: { type: 'RemovedByRelay' },
    [CloseCode.EXPIRED]: { type: 'Expired' },
  };
  const reason = reasons[event.code];
  if (reason) {
    finish({ type: Event.Ended, reason });
    return;
  }
  emit('disconnected', { code: event.code });
}

function closeSocket() {
  stopPump();
  control.length = 0;
  const ws = socket;
  socket = null;
  if (ws && ws.readyState <= WebSocket.OPEN) ws.close(CloseCode.NORMAL, 'bye');
}

// Sending: one scheduler for every frame.
//
// Control frames (create and join, purge, kick, goodbye, hand-outs of a new generation, answers to newcomers) are
// sealed by the core when it makes them and go first. Texts and whispers wait as requests and are sealed only when
// their turn comes, then attachment chunks, one at a time. Sealing at the moment of sending keeps every chain's
// counters in the order the frames leave, which receivers require, so nothing sealed earlier is ever overtaken.
// Frames leave through a token bucket of the app's own, the relay's in miniature: it refills at `rate()`, below the
// relay's average, and holds `burstDepth()`, half the burst the relay announces in `welcome`, so a few texts typed
// quickly leave at once while the relay's bucket always keeps the other half for what the network bunches together.
// Both start full on a new connection. So the app never draws a refusal or the flood close 4009, whatever burst the
// relay allows; from a relay that announces none, frames leave evenly spaced. Attachment chunks take no part in the
// burst (see pump).

/** @type {string[]} */
const control = [];
/** @type {TextIntent[]} */
const texts = [];
/** @type {UploadIntent[]} */
const uploads = [];
/** Frames the app may send now, and when that was computed (performance.now()). */
let tokens = 1;
let tokensAt = 0;
/** @type {ReturnType<typeof setTimeout> | null} */
let pumpTimer = null;

function rate() {
  return Math.max(1, (welcome?.max_frames_per_second ?? 10) * RATE_SHARE);
}

/** How many frames the app sends at once at most: half the relay's announced burst, at least one. */
function burstDepth() {
  return Math.max(1, Math.floor((welcome?.frame_burst ?? 0) * BURST_SHARE));
}

function resetPacing() {
  tokens = burstDepth();
  tokensAt = performance.now();
}

/**
 * Refills the app's bucket up to `now`; returns how many milliseconds until it holds `needed` tokens (0: now).
 * @param {number} now
 * @param {number} [needed]
 */
function waitForToken(now, needed = 1) {
  tokens = Math.min(burstDepth(), tokens + ((now - tokensAt) * rate()) / 1000);
  tokensAt = now;
  return tokens >= needed ? 0 : Math.ceil(((needed - tokens) * 1000) / rate());
}

function stopPump() {
  if (pumpTimer !== null) clearTimeout(pumpTimer);
  pumpTimer = null;
}

/** @param {string[]} frames */
function queueControl(frames) {
  control.push(...frames);
  pump();
}

/**
 * Refuses every request still waiting, e.g. when the session ended under them.
 * @param {string} code
 */
function cancelIntents(code) {
  for (const intent of texts.splice(0)) intent.reject(failure(code));
  for (const intent of uploads.splice(0)) dropUpload(intent, failure(code));
}

/**
 * Refuses an upload and frees its handle, whose drop wipes the file's plaintext from the wasm memory.
 * @param {UploadIntent} intent
 * @param {Error} error
 */
function dropUpload(intent, error) {
  intent.upload?.free();
  intent.upload = null;
  intent.bytes = null;
  intent.reject(error);
}

/**
 * Sends the next frame if its time has come, and schedules the one after.
 */
function pump() {
  stopPump();
  const ws = socket;
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  const now = performance.now();
  // Attachment chunks never burst: each is as large as a frame may be, and the relay queues about one frame for each
  // recipient, so a chunk waits until the bucket is full again and chunks leave evenly at the refill rate. The burst
  // is kept for control frames and texts, which then never wait behind a file.
  const wait = control.length || texts.length ? waitForToken(now) : waitForToken(now, burstDepth());
  if (wait > 0) {
    pumpTimer = setTimeout(pump, wait);
    return;
  }
  const frame = nextFrame(ws);
  if (frame === null) {
    // Only chunks wait, for the socket's buffer to drain: look again shortly.
    if (uploads.length) pumpTimer = setTimeout(pump, DRAIN_POLL_MS);
    return;
  }
  ws.send(frame);
  tokens -= 1;
  if (control.length || texts.length) pumpTimer = setTimeout(pump, waitForToken(now));
  else if (uploads.length) pumpTimer = setTimeout(pump, waitForToken(now, burstDepth()));
}

/**
 * The next frame by priority, sealing a text or a chunk only now; null when nothing may go yet.
 * @param {WebSocket} ws
 * @returns {string | null}
 */
function nextFrame(ws) {
  while (control.length || texts.length) {
    const frame = control.shift();
    if (frame !== undefined) return frame;
    const intent = /** @type {TextIntent} */ (texts.shift());
    const sealed = sealWith(intent, intent.seal);
    if (sealed !== null) {
      intent.resolve(true);
      return sealed;
    }
  }
  if (!uploads.length || ws.bufferedAmount > BULK_BUFFER_BYTES || !client) return null;
  const upload = uploads[0];
  const sealed = sealWith(upload, (c) => {
    if (upload.upload === null) {
      const bytes = /** @type {Uint8Array} */ (upload.bytes);
      upload.upload = c.attach(upload.to ?? undefined, upload.name, upload.type, upload.caption, bytes, Date.now());
      upload.bytes = null;
      return { send: c.take_frames() };
    }
    const output = c.send_chunk(upload.upload, Date.now());
    const sent = upload.upload.sent();
    const total = upload.upload.chunks();
    if (sent === total || sent % 4 === 0) {
      // Chunks are of one size but the last: bytes sent so far, as a person counts them.
      const bytes = sent === total ? upload.size : Math.round((upload.size * sent) / Math.max(1, total));
      emit('sendProgress', { id: upload.id, sent, total, bytes, size: upload.size, name: upload.name });
    }
    return output;
  });
  if (sealed === null || upload.upload?.done()) {
    uploads.shift();
    upload.upload?.free();
    upload.upload = null;
    if (sealed !== null) upload.resolve(true);
  }
  return sealed;
}

/**
 * Seals one item with the core; on failure the request is refused and null returned.
 * @param {Waiter} intent
 * @param {(client: Client) => Output} seal
 * @returns {string | null}
 */
function sealWith(intent, seal) {
  if (!client) {
    intent.reject(failure(FailureCode.NOT_IN_ROOM));
    return null;
  }
  try {
    const output = seal(client);
    const [frame, ...rest] = output.send ?? [];
    control.unshift(...rest);
    for (const event of output.events ?? []) dispatch(event);
    return frame ?? null;
  } catch (error) {
    intent.reject(/** @type {Error} */ (error));
    return null;
  }
}

/**
 * Resolves once every control frame is written to the socket and its buffer is empty, or after `timeoutMs`.
 * @param {number} timeoutMs
 * @returns {Promise<void>}
 */
function drained(timeoutMs) {
  const until = performance.now() + timeoutMs;
  return new Promise((resolve) => {
    const look = () => {
      const ws = socket;
      const empty = !control.length && (!ws || ws.readyState !== WebSocket.OPEN || ws.bufferedAmount === 0);
      if (empty || performance.now() >= until) resolve();
      else setTimeout(look, DRAIN_POLL_MS);
    };
    look();
  });
}

function requireRoom() {
  if (!client || !socket || ended) throw failure(FailureCode.NOT_IN_ROOM);
  return client;
}

/**
 * Queues a text or a whisper; resolves once it is sealed and handed to the socket.
 * @param {(client: Client) => Output} seal
 */
function sendText(seal) {
  requireRoom();
  return new Promise((resolve, reject) => {
    texts.push({ seal, resolve, reject });
    pump();
  });
}

/**
 * Queues a file for the room, or whispered to one member; resolves once its last chunk is handed to the socket.
 * @param {Record<string, any>} args
 */
function attach({ id, name, type, bytes, to, caption }) {
  requireRoom();
  return new Promise((resolve, reject) => {
    const file = new Uint8Array(bytes);
    uploads.push({
      id: Number(id),
      to: to === null || to === undefined ? null : Number(to),
      name: String(name ?? 'file'),
      type: String(type ?? ''),
      caption: String(caption ?? ''),
      size: file.byteLength,
      bytes: file,
      upload: null,
      resolve,
      reject,
    });
    pump();
  });
}

/**
 * Stops an upload that is waiting or under way: no further chunk of it leaves, and its file is wiped. One under way
 * has reached its receivers in part, so a signed cancel follows its last chunk, and they drop what they hold of it.
 * @param {number} id the page's id for the upload
 * @returns {boolean} whether there was such an upload still to stop
 */
function cancelUpload(id) {
  const at = uploads.findIndex((intent) => intent.id === id);
  if (at < 0) return false;
  const [intent] = uploads.splice(at, 1);
  if (intent.upload !== null && client && !ended) {
    try {
      apply(client.cancel_upload(intent.upload, Date.now()));
    } catch {
      // Out of the room already: there is no one left to tell.
    }
  }
  dropUpload(intent, failure('cancelled'));
  return true;
}

/**
 * A control action (a kick): its frames go before every waiting text and chunk.
 * @param {(client: Client) => Output} step
 */
function controlAction(step) {
  apply(step(requireRoom()));
  return true;
}

/**
 * Remove and lock (the owner only): the derivation Worker runs the key schedule on a fresh link of this room (same
 * room id and expiry, new link secret) with the new password, then the core removes `member` (when given), hands the
 * new secrets to every remaining member and the relay the new verifier. Resolves with the new link to share and the
 * new resume blob.
 * @param {Record<string, any>} args
 */
async function lock({ member, password }) {
  const link = pageLink(requireRoom().fresh_link());
  const secrets = await derive(link, password);
  const kick = member === undefined || member === null ? undefined : Number(member);
  controlAction((c) => c.lock(kick, secrets, Date.now()));
  return { link, resume: requireRoom().resume_blob() };
}

/**
 * Purges the room: the signed purge and the relay's purge go first, everything still waiting is dropped, and the
 * answer says whether the relay confirmed (its close 4001, which it sends to every member, the purger included).
 */
async function purge() {
  const c = requireRoom();
  const output = c.purge(Date.now());
  ended = true;
  cancelIntents(FailureCode.NOT_IN_ROOM);
  control.length = 0;
  queueControl(output.send ?? []);
  c.free();
  client = null;
  const confirmed = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), PURGE_TIMEOUT_MS);
    purgeWaiter = (value) => {
      clearTimeout(timer);
      resolve(value);
    };
    if (!socket) purgeWaiter(false);
  });
  purgeWaiter = null;
  closeSocket();
  return { confirmed };
}

/**
 * Leaves with a signed goodbye: texts already asked for are sealed and sent before it, unsent files are dropped, and
 * the socket closes once the goodbye is written (or after LEAVE_TIMEOUT_MS).
 * @param {Record<string, any>} args
 */
async function leave({ farewell }) {
  if (!client || !socket || ended) return true;
  leaving = true;
  for (const intent of texts.splice(0)) {
    const frame = sealWith(intent, intent.seal);
    if (frame !== null) {
      control.push(frame);
      intent.resolve(true);
    }
  }
  for (const intent of uploads.splice(0)) dropUpload(intent, failure('cancelled'));
  const output = client.leave(String(farewell ?? ''), Date.now());
  queueControl(output.send ?? []);
  client.free();
  client = null;
  await drained(LEAVE_TIMEOUT_MS);
  closeSocket();
  return true;
}

// The core enforces the room's expiry and its own timers from this tick, whatever the relay says.
setInterval(() => {
  if (client && !ended && !entering) apply(client.tick(Date.now()));
}, 1000);
