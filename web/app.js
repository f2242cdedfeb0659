// @ts-check
// The app's entry point: screens, forms and the chat, wired to the room session and the view.
import { loadConfig } from './config.js';
import { RoomSession } from './session.js';
import * as view from './view.js';
import * as storage from './storage.js';
import { explain, say as words, ended as endedWords, notify as notifyWords, ui } from './strings.js';
import * as notify from './notify.js';
import { parseCommand } from './commands.js';
import { showManifestDigest } from './manifest.js';
import { ErrorCode, Event, FailureCode } from './codes.js';
import * as strength from './strength.js';

/** The page's elements by id; index.html fixes what each one is (an input, a dialog), so they are not narrowed here. */
/** @type {(id: string) => any} */
const $ = (id) => document.getElementById(id);


/**
 * A member as the view shows it: whether it owns the room, and whether this session may kick it or hand it the room,
 * as the Worker says.
 * @typedef {{id: number, alias: string, fingerprint: string, self: boolean, duplicate: boolean, owner: boolean,
 *   canKick: boolean, canHandOver: boolean}} MemberView
 * @typedef {import('./events.js').MemberInfo} MemberInfo
 * @typedef {import('./events.js').Identity} Identity
 * @typedef {import('./events.js').Entered} Entered
 */

const state = {
  config: null,
  session: null,
  link: null,
  /** @type {Identity | null} */
  self: null,
  /** @type {MemberView[]} */
  members: [],
  /** Every member seen in this session by id, so that notices can name members after they are gone. */
  /** @type {Map<number, MemberView>} */
  known: new Map(),
  roomName: '',
  whisperTo: null,
  blobUrls: [],
  /** Completed attachments whose bytes this tab still holds, oldest first, bounded by config.keptAttachmentBytes. */
  /** @type {Array<{url: string, size: number, article: HTMLElement, name: string}>} */
  kept: [],
  keptBytes: 0,
  /** The uploads under way by the page's id, for their progress and Cancel. */
  /** @type {Map<number, {update: (bytes: number) => void, end: (why?: string | null) => void}>} */
  transfers: new Map(),
  /** Attachments arriving from other members, by sender (a sender has at most one at a time), with their progress. */
  /** @type {Map<number, {name: string, size: number, article: HTMLElement, update: (bytes: number) => void, end: (why?: string | null) => void}>} */
  incoming: new Map(),
  nextUpload: 1,
  keep: true,
  progressTimer: null,
  maxAttachment: 0,
  /** The core's limit on a farewell, in bytes of UTF-8. */
  maxFarewellBytes: 0,
  shownWarnings: new Set(),
};

// Boot.

async function boot() {
  wireStaticControls();
  startClock();
  showManifestDigest($('manifest-digest'), ui.manifestDigest);
  state.config = await loadConfig();
  state.session = newSession();

  window.addEventListener('hashchange', () => {
    // A link opened in a tab that already runs the app changes only the fragment; in a room, it is ignored.
    if (state.self) {
      history.replaceState(null, '', location.pathname + location.search);
      return;
    }
    takeLinkFromAddress();
  });
  if (await takeLinkFromAddress()) return;
  if (storage.sessionEnded()) {
    view.showScreen('ended');
    return;
  }
  const blob = storage.loadResume();
  if (blob) {
    await resumeAfterRefresh(blob);
    return;
  }
  // The person chose not to stay in on refresh: the same room, but the password again.
  const kept = storage.loadLink();
  if (kept) {
    storage.forgetLink();
    $('join-keep').checked = false;
    await openJoin(kept);
    if (!$('join-submit').disabled) view.setFieldError('join-error', ui.reloadedAskPassword);
    return;
  }
  view.showScreen('home');
}

/**
 * The link's fragment holds the room's secrets: read it once, then take it out of the address bar and history entry.
 * @returns {Promise<boolean>} whether there was a link
 */
async function takeLinkFromAddress() {
  if (location.hash.length <= 1) return false;
  const link = location.href;
  history.replaceState(null, '', location.pathname + location.search);
  storage.clearEnded();
  await openJoin(link);
  return true;
}

function newSession() {
  return new RoomSession(state.config, {
    progress: onProgress,
    [Event.Message]: onMessage,
    [Event.Attachment]: onAttachment,
    [Event.Missed]: onMissed,
    [Event.AttachmentDropped]: onAttachmentDropped,
    [Event.AttachmentProgress]: onAttachmentProgress,
    [Event.MemberAccepted]: onMemberAccepted,
    [Event.MemberLeft]: onMemberLeft,
    [Event.CouldNotVerify]: onCouldNotVerify,
    [Event.RelayError]: onRelayError,
    [Event.Expiring]: onExpiring,
    [Event.Ended]: onEnded,
    [Event.NotAllowed]: onNotAllowed,
    [Event.OwnerChanged]: onOwnerChanged,
    [Event.Locked]: onLocked,
    [Event.LockConfirmed]: onLockConfirmed,
    [Event.MemberPresent]: onMemberPresent,
    [Event.Reconnected]: onMemberReconnected,
    members: onMembers,
    sendProgress: onSendProgress,
    // The derivation asked for last is done: a click on Join now waits only for the relay.
    prepared: () => {
      $('join-form').dataset.prepared = 'true';
    },
    reconnecting: onReconnecting,
    reconnected: onReconnected,
    lookalikeUnavailable: () => view.appendNotice(ui.lookalikeUnavailable, 'warn'),
    failed: (data) => showError(explain(data.code, data.message)),
  });
}

// The clock: the time of day, or the countdown to the room's expiry.

function renderClock() {
  const expiresAt = state.self ? state.session?.expiresAt : null;
  // Outside a room there is nothing to count down: the clock is hidden rather than showing the time of day.
  $('clock').closest('.fact').hidden = !expiresAt;
  if (!expiresAt) return;
  const left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
  const minutes = Math.floor(left / 60);
  const seconds = String(left % 60).padStart(2, '0');
  view.setClock(ui.clockLeft, `${minutes}:${seconds}`, left <= 60);
  $('chat-expiry').textContent = ui.roomEndsAt(new Date(expiresAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
  // The Worker's core ends the session at expiry; this is the page's own backstop should the Worker be stuck.
  if (left === 0 && Date.now() > expiresAt + 3000) onEnded({ reason: { type: 'Expired' } });
}

function startClock() {
  const tick = () => {
    renderClock();
    setTimeout(tick, 1000 - (Date.now() % 1000));
  };
  tick();
}

// Static controls.

function wireStaticControls() {
  for (const button of document.querySelectorAll('[data-go="home"]')) {
    button.addEventListener('click', () => {
      state.session?.cancel();
      view.showScreen('home');
    });
  }
  for (const button of document.querySelectorAll('button.reveal')) {
    button.addEventListener('click', () => {
      const input = $(button.getAttribute('aria-controls'));
      showPassword(input, input.type === 'password');
    });
  }
  $('brand-link').addEventListener('click', (event) => {
    if (state.self) event.preventDefault();
  });
  $('go-create').addEventListener('click', openCreate);
  $('home-join-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const link = $('home-link').value.trim();
    if (!link.includes('#')) {
      view.setFieldError('home-link-error', explain('link_invalid'));
      return;
    }
    view.setFieldError('home-link-error', '');
    $('home-link').value = '';
    openJoin(link);
  });
  $('create-form').addEventListener('submit', (event) => {
    event.preventDefault();
    submitCreate();
  });
  $('create-password').addEventListener('input', onPasswordInput);
  $('create-generate').addEventListener('click', generatePassword);
  for (const id of ['join-alias', 'join-password']) $(id).addEventListener('input', prepareJoin);
  $('join-form').addEventListener('submit', (event) => {
    event.preventDefault();
    submitJoin();
  });
  $('work-cancel').addEventListener('click', cancelWork);
  $('work-why-toggle').addEventListener('click', () => {
    const open = $('work-why').hidden;
    $('work-why').hidden = !open;
    $('work-why-toggle').setAttribute('aria-expanded', String(open));
  });
  $('enter-chat').addEventListener('click', enterChat);
  $('ended-home').addEventListener('click', startOver);
  $('gone-home').addEventListener('click', startOver);
  $('error-home').addEventListener('click', startOver);
  $('share-button').addEventListener('click', () => view.openShareDialog(state.link, copyLink));
  $('notify-button').hidden = !notify.notificationsSupported();
  $('notify-button').addEventListener('click', toggleNotifications);
  $('expiry-banner-close').addEventListener('click', () => {
    view.setExpiryBanner(null);
    $('message').focus();
  });
  $('members-toggle').addEventListener('click', () => {
    const panel = $('members-panel');
    // On a wide screen the list is always shown beside the chat: the button takes the reader there.
    if (getComputedStyle(panel).position !== 'absolute') {
      $('members-title').tabIndex = -1;
      $('members-title').focus();
      return;
    }
    const open = !panel.classList.contains('open');
    panel.classList.toggle('open', open);
    $('members-toggle').setAttribute('aria-expanded', String(open));
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && $('members-panel').classList.contains('open') && !document.querySelector('dialog[open]')) {
      closeMembersPanel({ focusToggle: true });
    }
  });
  $('leave-button').addEventListener('click', () => confirmLeave(''));
  $('purge-button').addEventListener('click', confirmPurge);
  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    submitComposer();
  });
  $('message').addEventListener('keydown', (event) => {
    // On a touch screen Enter makes a new line, as in the chats people use there; the Send button sends.
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && !touchScreen()) {
      event.preventDefault();
      submitComposer();
    }
    if (event.key === 'Escape' && state.whisperTo) {
      event.preventDefault();
      setWhisper(null);
    }
  });
  // A tap in the composer or anywhere outside the members panel closes it where it covers the chat.
  document.addEventListener('pointerdown', (event) => {
    const target = /** @type {Node} */ (event.target);
    if ($('members-panel').contains(target) || $('members-toggle').contains(target)) return;
    closeMembersPanel({ focusToggle: false });
  });
  $('message').addEventListener('focus', () => closeMembersPanel({ focusToggle: false }));
  $('message').addEventListener('input', autoGrow);
  $('composer-target-clear').addEventListener('click', () => setWhisper(null));
  $('attach-button').addEventListener('click', () => $('file-input').click());
  $('file-input').addEventListener('change', () => {
    sendFiles(Array.from($('file-input').files ?? []));
    $('file-input').value = '';
  });
  $('message').addEventListener('paste', (event) => {
    const files = Array.from(event.clipboardData?.files ?? []);
    if (files.length) {
      event.preventDefault();
      sendFiles(files);
    }
  });
  wireDrop();
  view.wireNewBelow();
  window.addEventListener('popstate', onHistory);
  window.addEventListener('pageshow', (event) => {
    if (event.persisted && !state.self && storage.sessionEnded()) view.showScreen('ended');
  });
}

/** Whether the main pointer is a finger: Enter then makes a new line instead of sending. */
const touchScreen = () => matchMedia('(pointer: coarse)').matches;

/**
 * Closes the members panel where it covers the chat (a narrow screen); on a wide screen it is always shown.
 * @param {{focusToggle: boolean}} options whether focus goes back to the button that opened it (after Escape)
 */
function closeMembersPanel({ focusToggle }) {
  if (!$('members-panel').classList.contains('open')) return;
  $('members-panel').classList.remove('open');
  $('members-toggle').setAttribute('aria-expanded', 'false');
  if (focusToggle) $('members-toggle').focus();
}

function autoGrow() {
  const box = $('message');
  box.style.height = 'auto';
  box.style.height = `${Math.min(160, box.scrollHeight + 2)}px`;
}

function wireDrop() {
  const screen = $('screen-chat');
  let depth = 0;
  screen.addEventListener('dragenter', (event) => {
    if (!event.dataTransfer?.types.includes('Files')) return;
    depth += 1;
    $('drop-hint').hidden = false;
  });
  screen.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) $('drop-hint').hidden = true;
  });
  screen.addEventListener('dragover', (event) => {
    if (event.dataTransfer?.types.includes('Files')) event.preventDefault();
  });
  screen.addEventListener('drop', (event) => {
    event.preventDefault();
    depth = 0;
    $('drop-hint').hidden = true;
    sendFiles(Array.from(event.dataTransfer?.files ?? []));
  });
}

async function copyLink(link, input) {
  try {
    await navigator.clipboard.writeText(link);
    return true;
  } catch {
    input.focus();
    input.select();
    return false;
  }
}

// Create.

async function openCreate() {
  view.setFieldError('create-error', '');
  $('create-members-kick-label').textContent = ui.membersMayKick;
  $('create-members-kick-hint').textContent = ui.membersMayKickHint;
  fillLifetimes();
  view.showScreen('create');
  $('create-alias').focus();
  // Only this screen needs the estimator's dictionaries: they load once it is on screen, while the person types.
  strength.preload();
}

function fillLifetimes() {
  const select = $('create-lifetime');
  if (select.options.length) return;
  /** @type {Array<[number, string]>} */
  const choices = [[60, '1 hour'], [30, '30 minutes'], [15, '15 minutes'], [5, '5 minutes']];
  for (const [minutes, label] of choices) {
    select.append(new Option(label, String(minutes * 60)));
  }
}

let strengthSeq = 0;
async function onPasswordInput() {
  const password = $('create-password').value;
  const seq = ++strengthSeq;
  if (!password) {
    view.setStrength(0, ui.passwordHint);
    return;
  }
  try {
    const result = await strength.estimate(password, $('create-alias').value.trim(), $('create-room').value.trim());
    if (seq !== strengthSeq) return;
    view.setStrength(result.score, strengthWords(result));
    // A "too easy to guess" refusal from an earlier try no longer holds once the password is good enough.
    if (result.acceptable && $('create-password').getAttribute('aria-invalid') === 'true') {
      $('create-password').removeAttribute('aria-invalid');
      view.setFieldError('create-error', '');
    }
  } catch {
    /* The meter is advisory; the Worker checks again on submit. */
  }
}

/**
 * Fills the password field with a generated passphrase that the estimator accepts (with this alias and room name),
 * and shows it so that it can be copied; the word list loads on the first press.
 */
async function generatePassword() {
  const field = $('create-password');
  const seq = ++strengthSeq;
  try {
    const { generatePassphrase } = await import('./passphrase.js');
    // Six random words pass at once in practice; the loop only guards against an alias or room name that happens to
    // match words drawn.
    for (let attempt = 0; attempt < 4; attempt += 1) {
      const candidate = generatePassphrase();
      const verdict = await strength.estimate(candidate, $('create-alias').value.trim(), $('create-room').value.trim());
      if (seq !== strengthSeq) return;
      if (!verdict.acceptable) continue;
      field.value = candidate;
      showPassword(field, true);
      field.removeAttribute('aria-invalid');
      view.setFieldError('create-error', '');
      view.setStrength(verdict.score, ui.generated(strengthWords(verdict)));
      field.focus();
      field.select();
      return;
    }
  } catch {
    /* Falls through to the message below. */
  }
  if (seq === strengthSeq) view.setFieldError('create-error', ui.generateFailed);
}

/**
 * Shows or hides a password field's text, and keeps its Show button in step.
 * @param {HTMLInputElement} input
 * @param {boolean} show
 */
function showPassword(input, show) {
  input.type = show ? 'text' : 'password';
  const button = document.querySelector(`button.reveal[aria-controls="${input.id}"]`);
  if (!button) return;
  button.textContent = show ? ui.hide : ui.show;
  button.setAttribute('aria-pressed', String(show));
}

function strengthWords({ score, acceptable, feedback }) {
  return ui.strength(score, acceptable, feedback);
}

/** Checks the alias field of the `create` or `join` form by asking the core, marking it and saying why when refused. */
async function aliasAccepted(form, alias) {
  const field = $(`${form}-alias`);
  const problem = await state.session.aliasProblem(alias);
  if (problem === null) {
    field.removeAttribute('aria-invalid');
    return true;
  }
  view.setFieldError(`${form}-error`, words.aliasProblem(problem));
  field.setAttribute('aria-invalid', 'true');
  field.focus();
  return false;
}

async function submitCreate() {
  const alias = $('create-alias').value.trim();
  const roomName = $('create-room').value.trim() || ui.defaultRoomName;
  const password = $('create-password').value;
  const lifetime = Number($('create-lifetime').value);
  const membersMayKick = $('create-members-kick').checked;
  if (!(await aliasAccepted('create', alias))) return;
  let verdict;
  try {
    verdict = await strength.estimate(password, alias, roomName);
  } catch (error) {
    view.setFieldError('create-error', explain(error.code, error.message));
    return;
  }
  view.setStrength(verdict.score, strengthWords(verdict));
  if (!verdict.acceptable) {
    view.setFieldError('create-error', `${explain('weak_password')} ${verdict.feedback ?? ''}`.trim());
    $('create-password').setAttribute('aria-invalid', 'true');
    $('create-password').focus();
    return;
  }
  $('create-password').removeAttribute('aria-invalid');
  view.setFieldError('create-error', '');
  state.keep = $('create-keep').checked;
  startWork('create');
  try {
    const askedUntil = Date.now() + lifetime * 1000;
    const result = await state.session.create({ alias, roomName, password, lifetime, everyoneKicks: membersMayKick });
    $('create-password').value = '';
    showPassword($('create-password'), false);
    onEntered(result);
    // A relay grants at most its own maximum lifetime: say so when it gave less than was asked (a few seconds of
    // clock and network aside).
    const granted = Math.round((result.room.expiresAt - Date.now()) / 1000);
    const shortened = result.room.expiresAt < askedUntil - 10_000;
    $('link-lifetime').hidden = !shortened;
    $('link-lifetime').textContent = shortened ? ui.lifetimeShortened(ui.duration(granted)) : '';
    view.renderShare('share-block-page', result.link, copyLink);
    stopWork();
    view.showScreen('link');
  } catch (error) {
    stopWork();
    if (error.code === 'cancelled') return;
    view.showScreen('create');
    view.setFieldError('create-error', explain(error.code, error.message));
  }
}

// Join.

async function openJoin(link) {
  state.link = link;
  view.setFieldError('join-error', '');
  $('join-expiry').textContent = '';
  let expiresAt;
  try {
    ({ expiresAt } = await state.session.checkLink(link));
  } catch (error) {
    view.showScreen('join');
    view.setFieldError('join-error', explain(error.code, error.message));
    $('join-submit').disabled = error.code === 'link_invalid' || error.code === 'link_expired';
    return;
  }
  // A link whose room the relay says is purged or unknown leads straight to "this room is gone", before any password.
  const room = await state.session.peek(link).catch(() => null);
  if (room === 'gone' || room === 'unknown') {
    state.link = null;
    showGone(room === 'gone' ? endedWords.goneOnReload : endedWords.unknownRoom);
    return;
  }
  view.showScreen('join');
  $('join-alias').focus();
  $('join-expiry').textContent = ui.linkEndsAt(new Date(expiresAt).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' }));
  $('join-submit').disabled = false;
  prepareJoin();
}

let prepareSeq = 0;
/**
 * Once the join form is valid, asks the Worker to start Argon2 and open the socket, so that the click waits only for
 * the relay; each change asks again, and the Worker drops a derivation for anything but what the form holds.
 */
async function prepareJoin() {
  const seq = ++prepareSeq;
  delete $('join-form').dataset.prepared;
  const link = state.link;
  const password = $('join-password').value;
  const alias = $('join-alias').value.trim();
  const usable = Boolean(link) && !$('join-submit').disabled && Boolean(password) && Boolean(alias);
  const accepted = usable && (await state.session.aliasProblem(alias).catch(() => 'failed')) === null;
  if (seq !== prepareSeq) return;
  await state.session.prepare(accepted ? link : '', accepted ? password : '');
}

async function submitJoin() {
  const alias = $('join-alias').value.trim();
  const password = $('join-password').value;
  if (!(await aliasAccepted('join', alias))) return;
  if (!password) {
    view.setFieldError('join-error', ui.enterPassword);
    $('join-password').focus();
    return;
  }
  view.setFieldError('join-error', '');
  state.keep = $('join-keep').checked;
  startWork('join');
  try {
    const result = await state.session.join({ link: state.link, alias, password });
    $('join-password').value = '';
    onEntered(result);
    stopWork();
    enterChat();
  } catch (error) {
    stopWork();
    if (error.code === 'cancelled') return;
    view.showScreen('join');
    view.setFieldError('join-error', explain(error.code, error.message));
    if (error.code === 'bad_token') {
      $('join-password').select();
      $('join-password').focus();
    }
  }
}

async function resumeAfterRefresh(blob) {
  startWork('resume');
  try {
    const result = await state.session.resume(blob);
    onEntered(result, { resumed: true });
    stopWork();
    enterChat();
    view.appendNotice(ui.reloaded, 'good');
  } catch (error) {
    stopWork();
    storage.wipe();
    state.session.destroy();
    state.session = newSession();
    if (['room_gone', 'room_not_found', 'link_expired'].includes(error.code)) {
      showGone(error.code === ErrorCode.ROOM_GONE ? endedWords.goneOnReload : explain(error.code));
    } else if (error.code !== 'cancelled') {
      view.showScreen('home');
      view.setFieldError('home-link-error', explain(error.code, error.message));
    }
  }
}

// The progress screen.

let workStarted = 0;
let workStep = 'derive';
let workFrom = 'home';

function startWork(kind) {
  // The chat's Markdown formatter loads while the password is stretched, off the join path's budget.
  view.loadFormatting().catch(() => {});
  workFrom = kind === 'create' ? 'create' : kind === 'join' ? 'join' : 'home';
  workStarted = performance.now();
  workStep = kind === 'resume' ? 'connect' : 'derive';
  view.showScreen('working');
  const update = () => {
    const elapsed = performance.now() - workStarted;
    const base = { derive: 0, connect: 0.75, enter: 0.88 }[workStep];
    const span = { derive: 0.75, connect: 0.13, enter: 0.1 }[workStep];
    const expected = workStep === 'derive' ? 900 : 400;
    const within = 1 - Math.exp(-elapsed / expected);
    view.setProgress({ step: workStep, fraction: base + span * within * 0.95, elapsedMs: elapsed });
  };
  update();
  clearInterval(state.progressTimer);
  state.progressTimer = setInterval(update, 100);
}

function onProgress({ step }) {
  if (['derive', 'connect', 'enter'].includes(step)) workStep = step;
}

function stopWork() {
  clearInterval(state.progressTimer);
  state.progressTimer = null;
}

function cancelWork() {
  stopWork();
  state.session.cancel();
  view.showScreen(workFrom);
}

// In the room.

/**
 * @param {Entered} result
 * @param {{ resumed?: boolean }} [how] a session resumed after a refresh keeps what its room's locks left it
 */
function onEntered(result, { resumed = false } = {}) {
  view.loadFormatting().catch(() => {});
  state.self = result.self;
  // A room another member locked keeps its Share hidden across a refresh, as onLocked hid it.
  if (!resumed) storage.forgetUnshared();
  const unshared = resumed && storage.isUnshared();
  state.link = unshared ? null : result.link;
  $('share-button').hidden = unshared;
  state.roomName = result.room.name || ui.defaultRoomName;
  state.maxAttachment = result.limits?.maxAttachment ?? 0;
  state.maxFarewellBytes = result.limits?.maxFarewellBytes ?? 0;
  showAttachmentLimit();
  state.shownWarnings.clear();
  state.known.clear();
  if (state.keep) {
    storage.saveResume(result.resume);
    storage.forgetLink();
  } else {
    storage.forgetResume();
    storage.saveLink(state.link);
  }
  storage.clearEnded();
  view.clearLog();
  state.incoming.clear();
  view.setFacts({ room: state.roomName, alias: result.self.alias, fingerprint: result.self.fingerprint });
  $('chat-title').textContent = state.roomName;
  notify.setTitle(`${state.roomName} · ${ui.appName}`);
  onMembers({ self: result.self, members: result.members });
  view.setRelayStatus(ui.connected);
  renderClock();
}

function enterChat() {
  view.showScreen('chat');
  $('message').focus();
}

/**
 * @param {MemberInfo} info
 * @returns {MemberView}
 */
function memberView(info) {
  return {
    id: info.member,
    alias: info.alias,
    fingerprint: info.fingerprint,
    self: false,
    duplicate: info.duplicate_alias,
    owner: Boolean(info.owner),
    // The Worker says, per member, whether this session may kick it: the page never decides who may.
    canKick: Boolean(info.kickable),
    // Only the owner may hand the room on (the Worker refuses anyone else).
    canHandOver: Boolean(state.self?.owner),
  };
}

/**
 * This session as the view shows it, flagged when the core says an accepted member's alias looks like its own.
 * @returns {MemberView}
 */
function selfView() {
  const self = /** @type {Identity} */ (state.self);
  return {
    id: self.member,
    alias: self.alias,
    fingerprint: self.fingerprint,
    self: true,
    duplicate: self.duplicate_alias,
    owner: Boolean(self.owner),
    canKick: false,
    canHandOver: false,
  };
}

/**
 * The sender of an item: the member as last listed, or the alias the event carries.
 * @param {number} id
 * @param {string} alias
 * @returns {MemberView}
 */
function sender(id, alias) {
  return state.known.get(id) ?? { id, alias, fingerprint: '', self: false, duplicate: false, owner: false, canKick: false, canHandOver: false };
}

/** @param {number | null | undefined} id */
function aliasOf(id) {
  if (id === null || id === undefined) return null;
  if (id === state.self?.member) return state.self.alias;
  return state.known.get(id)?.alias ?? words.someMember(id);
}

/**
 * The Worker's member list, sent when membership changed: this session and the members it accepts.
 * @param {import('./events.js').Members} data
 */
function onMembers({ self, members }) {
  state.self = self;
  const others = members.map(memberView);
  for (const member of others) state.known.set(member.id, member);
  state.members = [selfView(), ...others];
  view.renderMembers(state.members, { onWhisper: (member) => setWhisper(member), onKick: confirmKick, onHandOver: confirmHandOver });
  if (state.whisperTo && !others.some((m) => m.id === state.whisperTo.id)) setWhisper(null);
}

function setWhisper(member) {
  state.whisperTo = member;
  view.setWhisperTarget(member);
  $('message').focus();
}

// The core's events, by their Rust names (codes.js). The log is role="log" with aria-live: screen readers hear each
// message and notice once, from the log itself.

/** @param {import('./events.js').Message} event */
function onMessage({ from, alias, text, sent_at: time, clock_differs: clockDiffers, whisper }) {
  view.appendMessage({ from: sender(from, alias), mine: false, whisper, to: whisper ? selfView() : null, text, time, clockDiffers });
  notify.noteMessage();
}

/** @param {import('./events.js').Missed} event */
function onMissed({ alias, count }) {
  view.appendNotice(words.missed(alias, count), 'warn');
}

/** @param {import('./events.js').AttachmentDropped} event */
function onAttachmentDropped({ from, alias, reason }) {
  // A sender's own cancel is no warning: the attachment's row says it stopped, and why.
  if (reason === 'Cancelled') {
    stopIncoming(from, words.receiveCancelled);
    return;
  }
  stopIncoming(from, words.receiveDropped);
  view.appendNotice(words.attachmentDropped(alias, reason), 'warn');
}

/**
 * One more chunk of a member's attachment arrived: its progress shows in the log, bytes and percent, until the
 * attachment is complete (and replaces it) or stops.
 * @param {import('./events.js').AttachmentProgress} event
 */
function onAttachmentProgress({ from, alias, name, received, size, whisper }) {
  let incoming = state.incoming.get(from);
  if (!incoming || incoming.name !== name || incoming.size !== size) {
    stopIncoming(from, words.receiveStopped);
    incoming = { name, size, ...view.appendIncoming({ from: sender(from, alias), whisper, to: whisper ? selfView() : null, name, size }) };
    state.incoming.set(from, incoming);
  }
  incoming.update(received);
}

/**
 * Ends the progress shown for a member's attachment that will not complete, saying why.
 * @param {number} from
 * @param {string} why
 */
function stopIncoming(from, why) {
  const incoming = state.incoming.get(from);
  if (!incoming) return;
  state.incoming.delete(from);
  incoming.end(why);
  incoming.article.classList.remove('incoming');
}

/** @param {import('./events.js').Attachment} event */
async function onAttachment({ from, alias, name, mime, caption, bytes, sent_at: time, clock_differs: clockDiffers, whisper }) {
  // The progress shown for this file gives way to it; progress for another file (abandoned by this new one) stops.
  let incoming = state.incoming.get(from);
  if (incoming && (incoming.name !== name || incoming.size !== bytes.byteLength)) {
    stopIncoming(from, words.receiveStopped);
    incoming = undefined;
  }
  state.incoming.delete(from);
  const shown = await view.appendAttachment({
    replacing: incoming?.article ?? null,
    from: sender(from, alias),
    mine: false,
    whisper,
    to: whisper ? selfView() : null,
    name,
    type: mime,
    caption,
    bytes,
    time,
    clockDiffers,
  });
  keepAttachment(shown, name, bytes.byteLength);
  notify.noteMessage();
}

/**
 * Counts a shown attachment's bytes against the configured bound and releases the oldest beyond it.
 * @param {{url: string, article: HTMLElement}} shown
 * @param {string} name
 * @param {number} size
 */
function keepAttachment({ url, article }, name, size) {
  state.blobUrls.push(url);
  state.kept.push({ url, size, article, name });
  state.keptBytes += size;
  while (state.keptBytes > state.config.keptAttachmentBytes && state.kept.length > 1) {
    const oldest = /** @type {{url: string, size: number, article: HTMLElement, name: string}} */ (state.kept.shift());
    state.keptBytes -= oldest.size;
    URL.revokeObjectURL(oldest.url);
    state.blobUrls = state.blobUrls.filter((kept) => kept !== oldest.url);
    view.releaseAttachment(oldest.article, ui.attachmentReleased(oldest.name, view.formatSize(oldest.size)));
  }
}

/** @param {import('./events.js').MemberAccepted} info */
function onMemberAccepted(info) {
  state.known.set(info.member, memberView(info));
  view.appendNotice(words.joined(info.alias, info.fingerprint), 'good');
  if (info.duplicate_alias) view.appendNotice(words.duplicateAlias(info.alias), 'warn');
}

/**
 * After a refresh, a member that was already in the room: present, not joining.
 * @param {import('./events.js').MemberPresent} info
 */
function onMemberPresent(info) {
  state.known.set(info.member, memberView(info));
  view.appendNotice(words.present(info.alias, info.fingerprint));
  if (info.duplicate_alias) view.appendNotice(words.duplicateAlias(info.alias), 'warn');
}

/**
 * A member came back as a new session, its new hello signed by the previous session's key: shown like a safety-number
 * change, with the new key and the one it replaces, so that whoever compared keys compares again.
 * @param {import('./events.js').Reconnected} event
 */
function onMemberReconnected({ alias, old_fingerprint: before, new_fingerprint: after }) {
  view.appendNotice(words.reconnected(alias, after, before), 'warn rekeyed');
}

/**
 * A member signed something only the owner may do (a kick, unless every member may; a hand-over): every client
 * refused it, and says who tried.
 * @param {import('./events.js').NotAllowed} event
 */
function onNotAllowed({ alias, attempt }) {
  if (attempt.type === 'Transfer') {
    view.appendNotice(words.handOverRefused(alias), 'bad');
    return;
  }
  if (attempt.type === 'Lock') {
    view.appendNotice(words.lockRefused(alias), 'bad');
    return;
  }
  const target = attempt.target === null || attempt.target === undefined ? null : aliasOf(attempt.target);
  view.appendNotice(words.kickRefused(alias, target), 'bad');
}

/**
 * The room's owner changed: by the signed hand-over of the previous owner (an owner who leaves hands the room to the
 * member present longest), or the owner's session is gone and no one holds the owner's rights. What a newcomer learns
 * from the answers it gets (`by` null, an owner named) is shown by the member list alone.
 * @param {import('./events.js').OwnerChanged} event
 */
function onOwnerChanged({ owner, by }) {
  const me = state.self?.member;
  if (owner === null || owner === undefined) {
    view.appendNotice(words.ownerGone, 'warn');
    return;
  }
  if (by === null || by === undefined) return;
  const name = aliasOf(owner) ?? '';
  if (by === me) view.appendNotice(words.youHandedOver(name), 'warn');
  else if (owner === me) view.appendNotice(words.youAreOwner(aliasOf(by) ?? ''), 'good');
  else view.appendNotice(words.ownerHandedOver(aliasOf(by) ?? '', name), 'warn');
}

/**
 * A member locked the room: this session moved to the new link secret and room key, so its saved resume blob is
 * replaced, and the link it holds no longer opens the room.
 * @param {import('./events.js').Locked} event
 */
function onLocked({ by, resume }) {
  adoptResume(resume);
  if (by === state.self?.member) return;
  // Only the owner knows the new password, and the link this tab held no longer opens the room: Share goes.
  state.link = null;
  $('share-button').hidden = true;
  storage.markUnshared();
  view.appendNotice(by === null || by === undefined ? words.lockedUnnamed : words.locked(aliasOf(by) ?? ''), 'warn');
}

/** The relay took this owner's new verifier: only now does the old link stop opening the room. */
function onLockConfirmed() {
  view.appendNotice(words.lockConfirmed, 'good');
  import('./moderation.js').then(({ lockConfirmed }) => lockConfirmed());
}

/** @param {import('./events.js').MemberLeft} event */
function onMemberLeft({ member, alias, reason }) {
  stopIncoming(member, words.receiveStopped);
  const known = sender(member, alias);
  state.known.set(member, { ...known, alias });
  let text;
  switch (reason.type) {
    case 'Left':
      if (reason.farewell) {
        view.appendMessage({ from: known, mine: false, whisper: false, to: null, farewell: true, text: reason.farewell, time: Date.now() });
      }
      text = words.left(alias);
      break;
    case 'Kicked':
      if (reason.by === state.self?.member) text = words.youRemoved(alias);
      else text = words.removedBy(aliasOf(reason.by), alias);
      break;
    default:
      text = words.relayReported(alias, reason.said);
  }
  view.appendNotice(text);
}

/** @param {import('./events.js').CouldNotVerify} event */
function onCouldNotVerify({ from }) {
  view.appendNotice(words.couldNotVerify(aliasOf(from)), 'bad');
}

/** @param {import('./events.js').RelayError} event */
function onRelayError({ code, message }) {
  // A kicked member often leaves on the signed kick before the relay's kick lands: nothing to tell anyone.
  if (code === ErrorCode.UNKNOWN_MEMBER) return;
  view.appendNotice(explain(code, message), 'bad');
}

/** @param {import('./events.js').Expiring} event */
function onExpiring({ seconds }) {
  view.appendNotice(words.expiring(seconds), 'warn');
  view.setExpiryBanner(words.expiring(seconds));
  notify.noteRoom(notifyWords.expiring(seconds));
}

async function toggleNotifications() {
  const on = await notify.toggleNotifications();
  view.setNotifyButton(on, on ? notifyWords.turnOff : notifyWords.turnOn);
  const blocked = !on && typeof Notification === 'function' && Notification.permission === 'denied';
  view.setComposerStatus(blocked ? notifyWords.blocked : on ? notifyWords.on : notifyWords.off);
}

/** @param {import('./events.js').SendProgress} event */
function onSendProgress({ id, bytes }) {
  state.transfers.get(id)?.update(bytes);
}

function onReconnecting() {
  view.setBanner(explain('reconnecting'));
  view.setRelayStatus(ui.reconnectingStatus, true);
}

/** @param {Entered} result */
function onReconnected(result) {
  if (state.keep) storage.saveResume(result.resume);
  view.setFacts({ room: state.roomName, alias: result.self.alias, fingerprint: result.self.fingerprint });
  onMembers({ self: result.self, members: result.members });
  view.setBanner(null);
  view.setRelayStatus(ui.connected);
  view.appendNotice(ui.reconnected, 'warn');
}

/**
 * The session ended under this tab: the core's `Ended` with its reason, or the page's own backstops.
 * @param {{reason: import('./events.js').EndReason}} event
 */
function onEnded({ reason }) {
  if (!state.self && reason.type !== 'Kicked' && reason.type !== 'RemovedByRelay') return;
  if (reason.type === 'Left') return;
  /** @type {string} */
  let title = endedWords.goneTitle;
  let text;
  // What the screen says of the link must be true: only a purge or the expiry kills it.
  /** @type {string} */
  let detail = endedWords.deadDetail;
  switch (reason.type) {
    case 'Kicked':
      text = endedWords.kicked(aliasOf(reason.by));
      title = endedWords.kickedTitle;
      detail = endedWords.kickedDetail;
      break;
    case 'RemovedByRelay':
      text = endedWords.removedByRelay;
      title = endedWords.removedByRelayTitle;
      detail = endedWords.removedByRelayDetail;
      break;
    case 'Expired':
      text = endedWords.expired;
      break;
    case 'Refused':
      text = reason.code === ErrorCode.ROOM_NOT_FOUND ? endedWords.notFound : explain(reason.code);
      detail = endedWords.relayDetail;
      break;
    case 'Unverifiable':
      text = endedWords.unverifiable;
      detail = endedWords.wipedDetail;
      break;
    default:
      if (reason.by === null || reason.by === undefined) {
        text = endedWords.purgedPerRelay;
        detail = endedWords.relayDetail;
      } else {
        text = endedWords.purged(aliasOf(reason.by));
      }
  }
  wipeEverything();
  state.session = newSession();
  showGone(text, title, detail);
  notify.setTitle(notifyWords.endedTitle);
  notify.noteRoom(notifyWords.ended);
}

/**
 * @param {string} text why the room is gone for this tab
 * @param {string} [title]
 * @param {string} [detail] what that means for the link: dead only when it is
 */
function showGone(text, title = endedWords.goneTitle, detail = endedWords.deadDetail) {
  $('gone-title').textContent = title;
  $('gone-reason').textContent = text;
  $('gone-detail').textContent = detail;
  view.showScreen('gone');
}

function showError(text) {
  wipeEverything();
  state.session = newSession();
  $('error-text').textContent = text;
  view.showScreen('error');
}

/** Wipes the view, the blob: URLs, the session's Worker and the tab's storage. */
function wipeEverything({ ended = false } = {}) {
  view.closeDialogs();
  state.session?.destroy();
  view.clearLog();
  for (const url of state.blobUrls) URL.revokeObjectURL(url);
  state.blobUrls = [];
  state.kept = [];
  state.keptBytes = 0;
  state.transfers.clear();
  state.incoming.clear();
  state.self = null;
  state.members = [];
  state.known.clear();
  state.link = null;
  state.whisperTo = null;
  view.setWhisperTarget(null);
  view.renderMembers([], { onWhisper() {}, onKick() {} });
  view.setFacts({});
  view.setBanner(null);
  view.setExpiryBanner(null);
  view.setComposerStatus('');
  view.setRelayStatus('');
  $('message').value = '';
  notify.clearUnread();
  notify.setTitle(ui.appName);
  storage.wipe({ ended });
  renderClock();
}

function startOver() {
  storage.clearEnded();
  notify.setTitle(ui.appName);
  view.showScreen('home');
}

// Back and forward after logout land on entries of this same document: they show that the session ended.
function onHistory() {
  if (!state.self && storage.sessionEnded()) view.showScreen('ended');
}

// The composer and slash commands.

async function submitComposer() {
  const box = $('message');
  const text = box.value;
  if (!text.trim() || !state.self) return;
  const command = parseCommand(text);
  if (command) {
    box.value = '';
    autoGrow();
    await runCommand(command);
    return;
  }
  const to = state.whisperTo;
  // To the Worker before the box empties, whose resizing lays the page out.
  const sending = to ? state.session.whisper(to.id, text) : state.session.send(text);
  box.value = '';
  autoGrow();
  try {
    await sending;
    if (state.self) view.appendMessage({ from: selfView(), mine: true, whisper: Boolean(to), to, text, time: Date.now() });
  } catch (error) {
    view.appendNotice(ui.notSent(explain(error.code, error.message)), 'bad');
    // Offline, the text goes back into an empty message box, so that it can be sent again after the reconnect.
    if (error.code === 'offline' && !box.value) {
      box.value = text;
      autoGrow();
    }
  }
}

function memberByAlias(alias) {
  const found = state.members.filter((m) => !m.self && m.alias === alias);
  if (found.length === 0) return { error: ui.noSuchMember(alias) };
  if (found.length > 1) return { error: ui.ambiguousAlias(alias) };
  return { member: found[0] };
}

async function runCommand(command) {
  if (command.error) {
    view.appendNotice(command.error, 'warn');
    return;
  }
  switch (command.name) {
    case 'help':
      view.appendHelp();
      return;
    case 'purr': {
      const { member, error } = memberByAlias(command.alias);
      if (error) {
        view.appendNotice(error, 'warn');
        return;
      }
      try {
        await state.session.whisper(member.id, command.text);
        if (state.self) {
          view.appendMessage({ from: selfView(), mine: true, whisper: true, to: member, text: command.text, time: Date.now() });
        }
      } catch (failure) {
        view.appendNotice(ui.notSent(explain(failure.code, failure.message)), 'bad');
      }
      return;
    }
    case 'kick': {
      const { member, error } = memberByAlias(command.alias);
      if (error) view.appendNotice(error, 'warn');
      // The Worker said this session may not kick that member; it would refuse the kick as well.
      else if (!member.canKick) view.appendNotice(member.owner ? ui.ownerNotKickable(member.alias) : ui.onlyOwnerKicks(member.alias), 'warn');
      else await confirmKick(member);
      return;
    }
    case 'exit':
      await confirmLeave(command.text);
      return;
    case 'stop':
      await confirmPurge();
      return;
    default:
      view.appendNotice(ui.unknownCommand(command.text), 'warn');
  }
}

/**
 * The kick dialog (moderation.js, loaded on first use): a kick, or, for a session that may lock, "Remove and lock",
 * which ends with the new link shown to this owner.
 * @param {MemberView} member
 */
async function confirmKick(member) {
  const { askKick, showLocked, lockStarted } = await import('./moderation.js');
  const result = await askKick({
    alias: member.alias,
    fingerprint: member.fingerprint,
    canLock: Boolean(state.self?.owner),
    estimate: (password) => strength.estimate(password, state.self?.alias ?? '', state.roomName),
    kick: () => state.session.kick(member.id),
    lock: async (password) => {
      lockStarted();
      const locked = await state.session.lock(member.id, password);
      // A refresh or a reconnect after the lock must rejoin under the new secrets: the old ones no longer open the room.
      adoptResume(locked.resume);
      return locked;
    },
  });
  if (result.outcome !== 'locked' || !state.self) return;
  onLockedByMe(result.link);
  showLocked(result.link, copyLink);
}

/**
 * This owner locked the room: the share button and a refresh now use the new link, and the log says so.
 * @param {string} link
 */
function onLockedByMe(link) {
  state.link = link;
  // A member whom another's lock had left nothing to share chose this password: the new link is theirs to share.
  $('share-button').hidden = false;
  storage.forgetUnshared();
  if (!state.keep) storage.saveLink(link);
  view.appendNotice(words.lockedByYou, 'warn');
}

/**
 * Keeps the resume blob of the room's new secrets after a lock, in the session for a reconnect and in the tab's
 * storage for a refresh.
 * @param {string | undefined} blob
 */
function adoptResume(blob) {
  if (!blob) return;
  state.session.adoptResume(blob);
  if (state.keep) storage.saveResume(blob);
}

/**
 * Asks before handing the room to another member; the Worker signs the hand-over, every member checks it.
 * @param {MemberView} member
 */
async function confirmHandOver(member) {
  const { ok } = await view.confirmDialog({ ...ui.confirmHandOver(member.alias) });
  if (!ok || !state.self) return;
  try {
    await state.session.transfer(member.id);
  } catch (error) {
    view.appendNotice(ui.notHandedOver(explain(error.code, error.message)), 'bad');
  }
}

async function confirmLeave(farewell) {
  const { ok, value } = await view.confirmDialog({
    ...ui.confirmLeave,
    input: farewell,
    // The core refuses a goodbye whose farewell is longer than its limit, and the others would then see only the
    // relay's report that this member left: say so before leaving instead.
    check: (text) => {
      const bytes = new TextEncoder().encode(text.trim()).length;
      return state.maxFarewellBytes && bytes > state.maxFarewellBytes ? ui.farewellTooLong(bytes, state.maxFarewellBytes) : null;
    },
  });
  if (!ok || !state.self) return;
  try {
    await state.session.leave(value.trim());
  } catch {
    /* Leaving goes on even when the relay is gone: the local wipe is what matters. */
  }
  wipeEverything({ ended: true });
  state.session = newSession();
  history.pushState({ ended: true }, '', location.pathname);
  view.showScreen('ended');
}

async function confirmPurge() {
  const { ok } = await view.confirmDialog({
    ...ui.confirmPurge,
    danger: true,
  });
  if (!ok || !state.self) return;
  let confirmed = false;
  try {
    ({ confirmed } = await state.session.purge());
  } catch (error) {
    // Offline, nothing was sent: the room lives on, so this tab must not say it purged it.
    if (error.code === 'offline') {
      view.appendNotice(ui.notPurged(explain(error.code)), 'bad');
      return;
    }
    /* The purge is also signed in-band; whatever the relay says, this tab wipes itself. */
  }
  wipeEverything();
  state.session = newSession();
  // Only the relay's close after the purge says the room is dead there; without it, the person must know the link lives.
  if (confirmed) showGone(endedWords.purgedByYou);
  else showGone(endedWords.purgeNotDelivered, endedWords.purgeNotDeliveredTitle, endedWords.wipedDetail);
}

// Attachments.

async function sendFiles(files) {
  if (!state.self) return;
  // Text waiting in the message box goes with the first file as its caption, as a photo and its words go together
  // in other chats; a command is left where it is.
  const box = $('message');
  let caption = box.value.trim() && !parseCommand(box.value) ? box.value : '';
  if (caption) {
    box.value = '';
    autoGrow();
  }
  for (const file of files) {
    if (state.maxAttachment && file.size > state.maxAttachment) {
      view.appendNotice(ui.fileRefused(file.name, explain(FailureCode.ATTACHMENT_TOO_LARGE)), 'warn');
      continue;
    }
    // A file dropped while whispering is whispered: sealed to that member only.
    const to = state.whisperTo;
    const id = state.nextUpload++;
    const fileCaption = caption;
    caption = '';
    /** @type {{url: string, article: HTMLElement, transfer: any} | null} */
    let shown = null;
    try {
      const bytes = await file.arrayBuffer();
      const sending = state.session.attach(file.name, file.type, bytes, to?.id ?? null, id, fileCaption);
      const own = {
        from: selfView(), mine: true, whisper: Boolean(to), to, name: file.name, type: file.type, bytes, caption: fileCaption, time: Date.now(),
        onCancel: () => state.session.cancelUpload(id).catch(() => {}),
      };
      shown = await view.appendAttachment(own);
      if (shown.transfer) state.transfers.set(id, shown.transfer);
      await sending;
      shown.transfer?.end();
      keepAttachment(shown, file.name, bytes.byteLength);
    } catch (error) {
      const why = error.code === 'cancelled' ? ui.uploadCancelled : ui.fileNotSent(file.name, explain(error.code, error.message));
      if (shown?.transfer) shown.transfer.end(why);
      else view.appendNotice(why, 'bad');
      if (shown) state.blobUrls.push(shown.url);
    } finally {
      state.transfers.delete(id);
    }
  }
}

/** Shows the largest file the room takes before a file is picked: on the Attach button and in the composer's hint. */
function showAttachmentLimit() {
  const size = state.maxAttachment ? view.formatSize(state.maxAttachment) : null;
  $('attach-button').title = size ? ui.attachLimit(size) : ui.attachAny;
  $('attach-limit').textContent = size ? ui.filesUpTo(size) : '';
}

boot().catch((error) => {
  console.error(error);
  showError(explain('worker'));
});
