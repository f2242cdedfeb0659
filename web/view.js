// @ts-check
// The view: every DOM change the app makes goes through here, with textContent or the sanitizer only.
import { HELP } from './commands.js';
import { FORMATTING_HELP, say, ui } from './strings.js';

/** @type {(id: string) => any} */
const $ = (id) => document.getElementById(id);

const SCREENS = ['loading', 'home', 'create', 'join', 'working', 'link', 'chat', 'ended', 'gone', 'error'];

/** Shows one screen and hides the others; the chat's header actions show only in the chat. */
export function showScreen(name) {
  for (const screen of SCREENS) $(`screen-${screen}`).hidden = screen !== name;
  $('chat-actions').hidden = name !== 'chat';
  document.body.dataset.screen = name;
  const heading = $(`screen-${name}`).querySelector('h1');
  if (name !== 'chat' && heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

/** The screen now shown. */
export function currentScreen() {
  return document.body.dataset.screen ?? 'loading';
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function svgIcon(pathData) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', pathData);
  svg.append(path);
  return svg;
}

const ICON_WHISPER = 'M4 4h16v12H7l-3 3V4zm4 5v2h8V9H8z';
const ICON_OWNER = 'M3 18h18v2H3v-2zm0-11 5 4 4-6 4 6 5-4-2 9H5L3 7z';
const ICON_KICK = 'M15 12a4 4 0 1 0-4-4 4 4 0 0 0 4 4zM1 10h8v2H1v-2zm14 4c-2.7 0-8 1.3-8 4v2h16v-2c0-2.7-5.3-4-8-4z';

/** How many avatar colours style.css defines (data-hue 0 to 7). */
const HUES = 8;
/** Each member's colour for this tab's session, by fingerprint: given once, on first sight, and kept. */
/** @type {Map<string, number>} */
const hues = new Map();

/**
 * A member's avatar colour, kept for the session: a newcomer takes the colour fewest members hold (the lowest such
 * slot), so two share one only once all eight are taken; colours from keys alone would often clash.
 * @param {string} key the member's fingerprint (or alias when none is known yet)
 */
function hueOf(key) {
  const known = hues.get(key);
  if (known !== undefined) return String(known);
  const used = new Array(HUES).fill(0);
  for (const hue of hues.values()) used[hue] += 1;
  const hue = used.indexOf(Math.min(...used));
  hues.set(key, hue);
  return String(hue);
}

function avatar(member) {
  const node = el('span', 'avatar', Array.from(member.alias ?? '?')[0]?.toUpperCase() ?? '?');
  node.dataset.hue = hueOf(member.fingerprint ?? member.alias);
  node.setAttribute('aria-hidden', 'true');
  return node;
}

// Header facts and the clock.

/** Sets the header's room, alias and own fingerprint; null hides a fact. */
export function setFacts({ room = null, alias = null, fingerprint = null } = {}) {
  for (const [id, value] of [['room', room], ['alias', alias], ['fingerprint', fingerprint]]) {
    $(`fact-${id}`).hidden = value === null;
    $(`fact-${id}-value`).textContent = value ?? '';
  }
}

/** Sets the clock: the time of day, or a countdown to the room's expiry. */
export function setClock(label, text, urgent = false) {
  $('clock-label').textContent = label;
  $('clock').textContent = text;
  $('clock').parentElement.classList.toggle('urgent', urgent);
}

/** Sets the relay status line in the footer. */
export function setRelayStatus(text, bad = false) {
  $('relay-status').textContent = text;
  $('relay-status').classList.toggle('bad', bad);
}

// Forms.

/** Shows an error under a form (role="alert" reads it out), or clears it. */
export function setFieldError(id, text) {
  $(id).textContent = text ?? '';
}

/** Shows the password strength meter's score (0 to 4) and its explanation. */
export function setStrength(score, text) {
  $('strength-bar').dataset.score = String(score);
  $('strength-text').textContent = text;
}

/** Shows the progress screen's state: the active step, the fraction done and the elapsed time. */
export function setProgress({ step, fraction, elapsedMs }) {
  const order = ['derive', 'connect', 'enter'];
  const index = order.indexOf(step);
  for (const item of $('work-steps').children) {
    const at = order.indexOf(item.dataset.step);
    item.classList.toggle('done', at < index);
    item.classList.toggle('active', at === index);
  }
  const titles = { derive: 'Stretching the password', connect: 'Reaching the relay', enter: 'Entering the room' };
  $('working-title').textContent = titles[step] ?? 'Working';
  const percent = Math.round(Math.min(1, Math.max(0, fraction)) * 100);
  $('work-progress').setAttribute('aria-valuenow', String(percent));
  $('work-progress').firstElementChild.style.width = `${percent}%`;
  $('work-elapsed').textContent = `${(elapsedMs / 1000).toFixed(1)} s`;
}

// Link sharing.

/** The latest rendering of each share block, so that a QR code drawn for an older link is never added. */
const shareRenderings = new WeakMap();

/**
 * Fills a share block with the link, a copy button and a QR code drawn locally. The QR encoder is loaded here, the
 * first time a link is shared, so that no one downloads it before entering a room.
 */
export function renderShare(containerId, link, onCopy) {
  const container = $(containerId);
  const rendering = {};
  shareRenderings.set(container, rendering);
  container.replaceChildren();
  const row = el('div', 'link-row');
  const inputId = `${containerId}-link`;
  const label = el('label', 'sr-only', 'Room link');
  label.htmlFor = inputId;
  const input = el('input');
  input.type = 'text';
  input.id = inputId;
  input.readOnly = true;
  input.value = link;
  input.addEventListener('focus', () => input.select());
  const copy = el('button', 'secondary', 'Copy link');
  copy.type = 'button';
  const status = el('p', 'copy-status');
  status.setAttribute('role', 'status');
  copy.addEventListener('click', async () => {
    status.textContent = (await onCopy(link, input)) ? 'Link copied.' : 'Select the link and copy it.';
  });
  row.append(label, input, copy);
  container.append(row, status);
  import('./qr.js').then(({ qrCanvas }) => {
    if (shareRenderings.get(container) === rendering) container.append(qrCanvas(link));
  });
}

// The chat log.

function nearBottom(log) {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
}

/** Entries per block of the log; blocks out of view skip rendering, so each frame and layout sees a few boxes. */
const CHUNK_SIZE = 50;

/**
 * Puts the next entry in the last block, or in a new one when that is full, so that every entry stays in the DOM, in
 * order, and the log changes once per entry. A block clips what overflows it, so a message that continues its group
 * and opens a block cannot move itself up to its group: the block moves up instead (`continues`).
 * @param {HTMLElement} log
 * @param {HTMLElement} node
 */
function appendEntry(log, node) {
  const last = log.lastElementChild;
  if (last && last.childElementCount < CHUNK_SIZE) {
    last.append(node);
    return;
  }
  const chunk = el('div', 'log-chunk');
  chunk.classList.toggle('continues', node.classList.contains('continued'));
  chunk.append(node);
  log.append(chunk);
}

/** The log's newest entry, or null. */
function lastEntry() {
  return /** @type {HTMLElement | null} */ ($('log').lastElementChild?.lastElementChild ?? null);
}

function appendToLog(node, { force = false } = {}) {
  const log = $('log');
  const stick = force || nearBottom(log);
  appendEntry(log, node);
  if (stick) log.scrollTop = log.scrollHeight;
  // Someone reading further up is not pulled down: a marker says that something new arrived below.
  else if (node.classList.contains('msg')) $('new-below').hidden = false;
}

/** Scrolls the log to its newest message and hides the "new messages below" marker. */
export function scrollToNewest() {
  const log = $('log');
  log.scrollTop = log.scrollHeight;
  $('new-below').hidden = true;
}

/** Wires the "new messages below" marker: a click goes down, and reading down to the end hides it. */
export function wireNewBelow() {
  $('new-below').addEventListener('click', () => {
    scrollToNewest();
    $('log').focus({ preventScroll: true });
  });
  $('log').addEventListener('scroll', () => {
    if (nearBottom($('log'))) $('new-below').hidden = true;
  }, { passive: true });
}

/** Messages from one sender within this long of the group's last one share its name and avatar. */
const GROUP_MS = 5 * 60 * 1000;

/**
 * Who sent a message and to whom, as a key: consecutive messages with the same key form a group.
 * @returns {string}
 */
function groupKey({ from, mine, whisper, to, farewell }) {
  return JSON.stringify([mine ? 'self' : from?.id ?? from?.alias, Boolean(whisper), whisper ? to?.id ?? null : null, Boolean(farewell)]);
}

/**
 * Marks a message as the continuation of the one just above it when both come from the same sender in the same way
 * (room or whisper) within GROUP_MS: its name, avatar and time are then shown once, on the group's first message.
 * @param {HTMLElement} article
 */
function groupWithPrevious(article, message) {
  const key = groupKey(message);
  const time = Number(message.time) || 0;
  article.dataset.group = key;
  article.dataset.time = String(time);
  const previous = lastEntry();
  const continues = previous?.classList.contains('msg') && previous.dataset.group === key
    && Math.abs(time - Number(previous.dataset.time)) <= GROUP_MS;
  article.classList.toggle('continued', Boolean(continues));
}

/** Removes every message from the screen, and forgets the members' colours with them. */
export function clearLog() {
  $('log').replaceChildren();
  $('new-below').hidden = true;
  hues.clear();
}

/** Adds a notice line (joins, leaves, warnings) to the log. */
export function appendNotice(text, kind = '') {
  const node = el('p', `notice ${kind}`.trim(), text);
  appendToLog(node);
  return node;
}

/** Adds the list of slash commands and of the formatting a message may use to the log. */
export function appendHelp() {
  const node = el('div', 'notice help');
  for (const [title, entries] of [[ui.helpCommands, HELP], [ui.helpFormatting, FORMATTING_HELP]]) {
    const list = el('ul', 'help-list');
    for (const [usage, what] of entries) {
      const item = el('li');
      item.append(el('code', '', usage), document.createTextNode(` ${what}`));
      list.append(item);
    }
    node.append(el('p', 'help-title', title), list);
  }
  appendToLog(node, { force: true });
}

function timeElement(ms, clockDiffers = false) {
  const parsed = new Date(ms);
  const date = Number.isFinite(parsed.getTime()) ? parsed : new Date();
  const node = el('time', '', date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
  node.dateTime = date.toISOString();
  node.title = date.toLocaleString();
  if (clockDiffers) {
    node.classList.add('skewed');
    node.title += ` (${say.clockDiffers})`;
    node.textContent += ' ⚠';
  }
  return node;
}

function messageShell(message) {
  const { from, mine, whisper, to, time, farewell, clockDiffers } = message;
  const article = el('article', 'msg');
  article.classList.toggle('mine', Boolean(mine));
  article.classList.toggle('whisper', Boolean(whisper));
  article.classList.toggle('farewell', Boolean(farewell));
  const who = mine ? 'You' : from.alias;
  article.setAttribute('aria-label', `${whisper ? 'Whisper from' : 'Message from'} ${who}`);
  const body = el('div', 'body');
  const meta = el('div', 'meta');
  meta.append(el('span', 'who', mine ? 'You' : from.alias));
  if (whisper) {
    meta.append(el('span', 'tag', mine ? `whisper to ${to?.alias ?? 'one member'}` : 'whisper to you'));
  }
  if (farewell) meta.append(el('span', 'tag', 'farewell'));
  if (from?.duplicate && !mine) meta.append(el('span', 'tag warn', `same alias, key ${from.fingerprint}`));
  meta.append(timeElement(time, clockDiffers));
  const bubble = el('div', 'bubble');
  body.append(meta, bubble);
  article.append(avatar(from), body);
  return { article, bubble };
}

// Markdown (markdown.js and the vendored marked) is loaded once the person enters a room, not on the join path.

/** @type {((text: string) => string) | null} */
/** The formatter once loaded: Markdown to markup, then the sanitizer to DOM nodes. */
/** @type {((text: string) => DocumentFragment | Node) | null} */
let formatter = null;
/** @type {Promise<void> | null} */
let formattingLoaded = null;
/** Bubbles shown before the formatter was loaded, with their text, to format once it is. */
/** @type {Array<[HTMLElement, string]>} */
let unformatted = [];

/**
 * A message's text as DOM nodes: its Markdown becomes markup that goes through the sanitizer, the only way to the DOM.
 * Until both are loaded the text is shown as it was typed, as plain text, and formatted again once they are.
 * @param {string} text
 */
function formatted(text) {
  return formatter ? formatter(text) : document.createTextNode(text);
}

/**
 * Starts loading the formatter (Markdown and DOMPurify), needed only in a room; messages shown before it is ready are
 * formatted again once it is.
 */
export function loadFormatting() {
  formattingLoaded ??= Promise.all([import('./markdown.js'), import('./sanitize.js')]).then(
    ([{ markdownToMarkup }, { renderFormatted }]) => {
      formatter = (text) => renderFormatted(markdownToMarkup(text));
      for (const [bubble, text] of unformatted) if (bubble.isConnected) bubble.replaceChildren(formatted(text));
      unformatted = [];
    },
    (error) => {
      // A failed load is tried again by the next call.
      formattingLoaded = null;
      throw error;
    },
  );
  return formattingLoaded;
}

/** Adds a text message; its Markdown becomes markup that goes through the sanitizer. */
export function appendMessage(message) {
  const { article, bubble } = messageShell(message);
  bubble.append(formatted(message.text));
  if (!formatter) unformatted.push([bubble, message.text]);
  groupWithPrevious(article, message);
  appendToLog(article, { force: message.mine });
  return article;
}

const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif', 'image/bmp']);
const VIDEO_TYPES = new Set(['video/mp4', 'video/webm', 'video/ogg']);
const AUDIO_TYPES = new Set(['audio/mpeg', 'audio/ogg', 'audio/wav', 'audio/webm']);

/** @param {number} bytes */
export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * A transfer's progress under its attachment: a bar, bytes and percent in words, and a Cancel button when sending.
 * @param {number} size the file's size in bytes
 * @param {(() => void) | null} onCancel
 * @param {string} [label] what the bar is, for screen readers
 */
function transferRow(size, onCancel, label = `Sending, ${formatSize(size)}`) {
  const row = el('div', 'transfer');
  const bar = /** @type {HTMLProgressElement} */ (el('progress'));
  bar.max = size || 1;
  bar.value = 0;
  const words = el('span', 'transfer-text');
  row.append(bar, words);
  if (onCancel) {
    const cancel = el('button', 'ghost small', 'Cancel');
    cancel.type = 'button';
    cancel.addEventListener('click', onCancel);
    row.append(cancel);
  }
  bar.setAttribute('aria-label', label);
  const transfer = {
    /** @param {number} bytes sent so far */
    update(bytes) {
      const done = Math.min(size, Math.max(0, bytes));
      bar.value = done;
      words.textContent = `${formatSize(done)} of ${formatSize(size)} · ${Math.floor((done / Math.max(1, size)) * 100)}%`;
    },
    /** The transfer ended: the row goes, or says why it stopped. @param {string | null} [why] */
    end(why = null) {
      if (why === null) row.remove();
      else row.replaceChildren(el('span', 'transfer-text stopped', why));
    },
  };
  transfer.update(0);
  return { row, transfer };
}

/**
 * Shows an attachment still arriving from another member: its name, and a progress row of bytes and percent that
 * `update` moves; the finished attachment replaces it (see `appendAttachment`'s `replacing`).
 * @param {{from: {id: number, alias: string}, whisper: boolean, to: unknown, name: string, size: number, caption?: string}} message
 * @returns {{article: HTMLElement, update: (bytes: number) => void, end: (why?: string | null) => void}}
 */
export function appendIncoming(message) {
  const { article, bubble } = messageShell({ ...message, mine: false, time: Date.now() });
  article.classList.add('incoming');
  const box = el('div', 'attachment');
  const file = el('div', 'file');
  file.append(el('span', 'file-name', message.name), el('span', 'file-size', formatSize(message.size)));
  const { row, transfer } = transferRow(message.size, null, `Receiving ${message.name}, ${formatSize(message.size)}`);
  box.append(file, row);
  bubble.append(box);
  groupWithPrevious(article, message);
  appendToLog(article);
  return { article, update: transfer.update, end: transfer.end };
}

/**
 * Replaces a completed attachment's content with a placeholder once its bytes were released to bound memory.
 * @param {HTMLElement} article the attachment's message, as appendAttachment returned it
 * @param {string} text what the placeholder says
 */
export function releaseAttachment(article, text) {
  const box = article.querySelector('.attachment');
  box?.replaceChildren(el('div', 'file released', text));
}

/**
 * Adds an attachment rendered from a blob: URL. Images are decoded before they enter the log, so their box
 * has its final size when it appears and nothing moves. Anything that is not a known image, video or audio type is
 * kept as an opaque download and never rendered. With `onCancel`, the attachment is one this tab is sending: a
 * progress row with a Cancel button shows under it until its transfer ends.
 * @returns {Promise<{url: string, article: HTMLElement, transfer: ReturnType<typeof transferRow>['transfer'] | null}>}
 *   the blob: URL, to be revoked when the log is wiped or the bytes released
 */
export async function appendAttachment(message) {
  const { article, bubble } = messageShell(message);
  const box = el('div', 'attachment');
  bubble.append(box);
  const type = String(message.type ?? '').toLowerCase();
  const name = String(message.name ?? 'file');
  let url;
  if (IMAGE_TYPES.has(type)) {
    url = URL.createObjectURL(new Blob([message.bytes], { type }));
    const img = new Image();
    img.alt = name;
    img.src = url;
    try {
      await img.decode();
      img.width = Math.min(360, img.naturalWidth);
      img.height = Math.round((img.width / Math.max(1, img.naturalWidth)) * img.naturalHeight);
    } catch {
      img.alt = `${name} (could not be shown)`;
    }
    box.append(img);
  } else if (VIDEO_TYPES.has(type) || AUDIO_TYPES.has(type)) {
    url = URL.createObjectURL(new Blob([message.bytes], { type }));
    const media = el(VIDEO_TYPES.has(type) ? 'video' : 'audio');
    media.controls = true;
    media.preload = 'metadata';
    media.src = url;
    media.setAttribute('aria-label', name);
    if (media.localName === 'video') {
      media.width = 360;
      media.height = 203;
    }
    box.append(media);
  } else {
    url = URL.createObjectURL(new Blob([message.bytes], { type: 'application/octet-stream' }));
    const file = el('div', 'file');
    file.append(el('span', 'file-name', name), el('span', 'file-size', formatSize(message.bytes.byteLength)));
    box.append(file);
  }
  const download = el('a', 'download', 'Download');
  download.href = url;
  download.download = name;
  download.setAttribute('aria-label', `Download ${name}`);
  box.append(download);
  if (message.caption) {
    // The caption is a message's text shown with its file: formatted through the same sanitizer.
    const caption = el('div', 'caption');
    caption.append(formatted(message.caption));
    if (!formatter) unformatted.push([caption, message.caption]);
    bubble.append(caption);
  }
  let transfer = null;
  if (message.onCancel) {
    const progress = transferRow(message.bytes.byteLength, message.onCancel);
    transfer = progress.transfer;
    box.append(progress.row);
  }
  if (message.replacing?.isConnected) {
    // The finished attachment takes the place of its progress, so the log does not jump.
    article.className = message.replacing.className.replace(/\bincoming\b/, '').trim();
    Object.assign(article.dataset, message.replacing.dataset);
    message.replacing.replaceWith(article);
  } else {
    groupWithPrevious(article, message);
    appendToLog(article, { force: message.mine });
  }
  return { url, article, transfer };
}

// Members.

/**
 * A small icon button of the member list.
 * @param {string} label its accessible name and tooltip
 * @param {string} icon an SVG path
 * @param {() => void} onClick
 * @param {string} [className]
 */
function memberButton(label, icon, onClick, className = 'icon-button') {
  const button = el('button', className);
  button.type = 'button';
  button.setAttribute('aria-label', label);
  button.title = label;
  button.append(svgIcon(icon));
  button.addEventListener('click', onClick);
  return button;
}

/**
 * @typedef {{id: unknown, alias: string, fingerprint: string, self: boolean, duplicate: boolean, owner?: boolean,
 *   canKick?: boolean, canHandOver?: boolean}} ListedMember
 */

/**
 * Renders the member list: who owns the room, a whisper button for every other member, and a kick or hand-over
 * button only where the Worker says this session may use it.
 * @param {ListedMember[]} members
 * @param {{onWhisper: (member: any) => void, onKick: (member: any) => void, onHandOver?: (member: any) => void}} actions
 */
export function renderMembers(members, { onWhisper, onKick, onHandOver = () => {} }) {
  const list = $('member-list');
  list.replaceChildren();
  for (const member of members) {
    const item = el('li', 'member');
    // The relay's id for the member's session: opaque, and already in every frame the relay sends.
    item.dataset.member = String(member.id);
    item.classList.toggle('owner', Boolean(member.owner));
    const text = el('div', 'member-name', member.self ? `${member.alias} (you)` : member.alias);
    if (member.owner) text.append(el('span', 'tag owner', ui.ownerTag));
    const details = el('div', 'member-details');
    details.append(el('div', 'member-fp', `key ${member.fingerprint}`));
    if (member.duplicate) details.append(el('div', 'member-flag', 'Same or look-alike alias as another member: compare keys'));
    const actions = el('div', 'member-actions');
    if (!member.self) {
      actions.append(memberButton(ui.whisperLabel(member.alias), ICON_WHISPER, () => onWhisper(member)));
      if (member.canHandOver) actions.append(memberButton(ui.handOverLabel(member.alias), ICON_OWNER, () => onHandOver(member)));
      if (member.canKick) actions.append(memberButton(ui.kickLabel(member.alias), ICON_KICK, () => onKick(member), 'icon-button danger'));
    }
    item.append(avatar(member), text, actions, details);
    list.append(item);
  }
  $('member-count').textContent = String(members.length);
  $('members-toggle').setAttribute('aria-label', `Show members (${members.length})`);
}

/** Shows or hides the whisper target above the composer. */
export function setWhisperTarget(member) {
  $('composer-target').hidden = !member;
  $('composer-target-text').textContent = member ? ui.whisperMode(member.alias) : '';
}

/** Shows a banner over the chat (reconnecting, warnings), or hides it. */
export function setBanner(text, bad = false) {
  $('chat-banner').hidden = !text;
  $('chat-banner').textContent = text ?? '';
  $('chat-banner').classList.toggle('bad', bad);
}

/**
 * Shows the expiry warning in a banner that stays until dismissed or replaced by the next one; null hides it.
 * @param {string | null} text
 */
export function setExpiryBanner(text) {
  $('expiry-banner').hidden = !text;
  $('expiry-banner-text').textContent = text ?? '';
}

/**
 * Shows whether desktop notifications are on in the header's bell button.
 * @param {boolean} on
 * @param {string} label what a click does
 */
export function setNotifyButton(on, label) {
  $('notify-button').setAttribute('aria-pressed', String(on));
  $('notify-button').setAttribute('aria-label', label);
  $('notify-button').title = label;
}

/** Shows a short status under the composer (sending progress, command errors). */
export function setComposerStatus(text) {
  $('composer-status').textContent = text ?? '';
}

// Dialogs.

/**
 * Asks for confirmation in the page's <dialog>; resolves with {ok, value}.
 * @param {{title: string, text: string, ok: string, danger?: boolean, input?: string, check?: (value: string) => string | null}} options
 */
export function confirmDialog({ title, text, ok, danger = false, input = null, check = null }) {
  const dialog = $('confirm-dialog');
  const field = $('confirm-input');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = ok;
  $('confirm-ok').classList.toggle('danger-button', danger);
  $('confirm-extra').hidden = input === null;
  field.value = input ?? '';
  dialog.returnValue = '';
  // `check(value)` says what is wrong with the typed value (or null): shown while typing, and OK does not close.
  const problem = () => (input !== null && check ? check(field.value) : null);
  const show = () => {
    const why = problem();
    $('confirm-error').textContent = why ?? '';
    if (why) field.setAttribute('aria-invalid', 'true');
    else field.removeAttribute('aria-invalid');
    return why;
  };
  const form = dialog.querySelector('form');
  /** @param {SubmitEvent} event */
  const onSubmit = (event) => {
    if (/** @type {HTMLButtonElement | null} */ (event.submitter)?.value === 'ok' && show()) {
      event.preventDefault();
      field.focus();
    }
  };
  show();
  field.addEventListener('input', show);
  form.addEventListener('submit', onSubmit);
  return new Promise((resolve) => {
    dialog.addEventListener(
      'close',
      () => {
        field.removeEventListener('input', show);
        form.removeEventListener('submit', onSubmit);
        resolve({ ok: dialog.returnValue === 'ok' && !problem(), value: field.value });
      },
      { once: true },
    );
    dialog.showModal();
    (input === null ? $('confirm-cancel') : field).focus();
  });
}

/** Closes any open dialog (when the room ends under it). */
export function closeDialogs() {
  for (const dialog of document.querySelectorAll('dialog[open]')) /** @type {HTMLDialogElement} */ (dialog).close('cancel');
}

/** Opens the share dialog with the link and its QR code. */
export function openShareDialog(link, onCopy) {
  renderShare('share-block-dialog', link, onCopy);
  $('share-dialog').showModal();
}
