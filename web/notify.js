// @ts-check
// Telling a person in another tab that something happened: an unread count in the tab's title while it is hidden, and
// desktop notifications when they asked for them.
//
// A notification leaves the page for the operating system, which may show it on a locked screen, keep it in a history
// or sync it to other devices: its text is therefore fixed wording (strings.js `notify`) and never holds an alias, a
// room name or anything a member wrote.
import { notify as words } from './strings.js';

let unread = 0;
let baseTitle = '';
let wanted = false;
/** @type {Notification | null} */
let shown = null;

const hidden = () => document.visibilityState === 'hidden';

/** Whether this browser can show desktop notifications at all. */
export const notificationsSupported = () => typeof Notification === 'function';

/** Whether desktop notifications are on: asked for in this tab and allowed by the browser. */
export function notificationsOn() {
  return wanted && notificationsSupported() && Notification.permission === 'granted';
}

function renderTitle() {
  document.title = unread > 0 ? `(${unread > 99 ? '99+' : unread}) ${baseTitle}` : baseTitle;
}

/**
 * Sets the tab's title without the unread count, e.g. the room's name; the count, if any, is put in front of it.
 * @param {string} title
 */
export function setTitle(title) {
  baseTitle = title;
  renderTitle();
}

/** Forgets the unread count and closes a notification still shown (when the tab is seen again, or the room ends). */
export function clearUnread() {
  unread = 0;
  shown?.close();
  shown = null;
  renderTitle();
}

/**
 * Shows a notification with fixed wording when the person asked for them and the tab is hidden.
 * @param {string} body
 */
function show(body) {
  if (!notificationsOn() || !hidden()) return;
  try {
    shown?.close();
    // One tag for the app: a newer notification replaces the last instead of piling up.
    shown = new Notification(words.title, { body, tag: 'sanctum', silent: false });
    shown.onclick = () => {
      window.focus();
      shown?.close();
    };
  } catch {
    /* A browser may refuse page notifications (some phones allow them only from a service worker): the title stays. */
  }
}

/** A message or file from another member arrived: counted in the title and notified while the tab is hidden. */
export function noteMessage() {
  if (!hidden()) return;
  unread += 1;
  renderTitle();
  show(words.message);
}

/**
 * Something about the room itself that a person must not miss even in another tab (it ends soon, it ended).
 * @param {string} body fixed wording from strings.js
 */
export function noteRoom(body) {
  show(body);
}

/**
 * Turns desktop notifications on or off; asks the browser's permission the first time, so only from a click.
 * @returns {Promise<boolean>} whether notifications are now on
 */
export async function toggleNotifications() {
  if (!notificationsSupported()) return false;
  if (wanted) {
    wanted = false;
    return false;
  }
  const permission = Notification.permission === 'default' ? await Notification.requestPermission() : Notification.permission;
  wanted = permission === 'granted';
  return wanted;
}

document.addEventListener('visibilitychange', () => {
  if (!hidden()) clearUnread();
});
