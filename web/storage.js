// @ts-check
// Tab storage: the Worker's opaque resume blob in sessionStorage, and nothing else that matters.
//
// Only this tab's sessionStorage is used: never localStorage, cookies or IndexedDB.
// The page never reads inside the resume blob; it only keeps it and hands it to a new Worker after a refresh.

const RESUME = 'sanctum.resume';
const LINK = 'sanctum.link';
const ENDED = 'sanctum.ended';
const UNSHARED = 'sanctum.unshared';

function store() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

/** Keeps the Worker's resume blob so that a refresh rejoins as a new session. */
export function saveResume(blob) {
  store()?.setItem(RESUME, blob);
}

/** The kept resume blob, or null. */
export function loadResume() {
  return store()?.getItem(RESUME) ?? null;
}

/** Forgets the resume blob (the "don't keep me in" choice, or a failed resume). */
export function forgetResume() {
  store()?.removeItem(RESUME);
}

/**
 * Keeps only the room link, for the "don't keep me in on refresh" choice: a refresh then asks for the password again.
 * The link alone opens nothing without the password.
 */
export function saveLink(link) {
  store()?.setItem(LINK, link);
}

/** The kept room link, or null. */
export function loadLink() {
  return store()?.getItem(LINK) ?? null;
}

/** Forgets the kept room link. */
export function forgetLink() {
  store()?.removeItem(LINK);
}

/**
 * Remembers that another member locked this tab's room: the tab holds the new link but not the new password, so after
 * a refresh, as before it, it has no link to share (no secret: the mark says only that).
 */
export function markUnshared() {
  store()?.setItem(UNSHARED, '1');
}

/** Whether this tab's room was locked by another member (see markUnshared). */
export function isUnshared() {
  return store()?.getItem(UNSHARED) === '1';
}

/** Forgets the mark, for a room entered by its link and password. */
export function forgetUnshared() {
  store()?.removeItem(UNSHARED);
}

/** Wipes everything this tab stored, then remembers only that the session ended (no secret). */
export function wipe({ ended = false } = {}) {
  const s = store();
  if (!s) return;
  s.clear();
  if (ended) s.setItem(ENDED, '1');
}

/** Whether this tab's last session ended by logout (so back, forward and reload say so). */
export function sessionEnded() {
  return store()?.getItem(ENDED) === '1';
}

/** Clears the ended mark when the person starts over. */
export function clearEnded() {
  store()?.removeItem(ENDED);
}
