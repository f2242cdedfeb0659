// @ts-check
// The app's words for what the core and the relay report: error and failure codes, events, and why a room ended.
//
// The core and the relay speak in codes and event names only (codes.js); every sentence a person reads about them is
// written here, in one place, the way age keeps its text in a .ftl file apart from its logic.

/** @type {Record<string, string>} */
const WORDS = {
  bad_token:
    'The relay refused this password for this link: the password is wrong, or the room was locked and this link no ' +
    'longer opens it. Check with whoever sent you the link.',
  room_not_found: 'This room does not exist on this relay. It may have expired, or the relay restarted and forgot it.',
  room_gone: 'The relay says this room was purged or has expired.',
  room_full: 'The room is full. Try again when someone leaves.',
  room_exists: 'A room with this id already exists. Create the room again to get a fresh link.',
  rate_limited: 'Too many attempts. Wait a minute and try again.',
  room_busy: 'Too many people joined or left this room in the last minute. Wait a moment and try again.',
  too_many_rooms: 'The relay cannot hold more rooms right now. Try again later.',
  too_many_connections: 'The relay is full right now. Try again later.',
  unsupported_version: 'This relay speaks another version of the protocol. Reload the page to get the current app.',
  frame_too_large: 'That was too large to send.',
  unknown_member: 'That member is no longer in the room.',
  unavailable: 'The relay cannot reach its room store right now. Try again in a few seconds.',
  not_in_room: 'You are not in a room any more.',
  already_in_room: 'This tab is already in a room.',
  bad_frame: 'The relay refused a malformed frame.',
  binary_frame: 'The relay refused a malformed frame.',
  bad_request: 'The relay refused that request.',
  weak_password: 'That password is too easy to guess. Use a longer passphrase.',
  link_invalid: 'That is not a Sanctum room link. Paste the whole link, including everything after #.',
  link_expired: 'This link has expired. The room is gone.',
  // A browser is not told why a WebSocket failed before it opened: the relay may be down or out of reach, or it may
  // have refused the connection because it or this address holds its maximum (HTTP 503 or 429 at the upgrade).
  unreachable: 'Could not connect to the relay: it may be unreachable, or too busy to take more connections right now. Check your connection and try again in a moment; once in a room, the app retries on its own while the room lives.',
  reconnecting: 'Connection lost. Reconnecting…',
  offline: 'The connection to the relay is lost and the app is reconnecting. Try again once it is back.',
  worker: 'The encryption engine stopped unexpectedly. Reload the page.',
  alias_invalid: 'Choose an alias of 1 to 32 characters, without spaces or invisible characters.',
  file_name_invalid: 'That file name holds invisible or direction-changing characters: rename the file and try again.',
  attachment_too_large: 'That file is larger than the largest attachment allowed.',
  cancelled: 'Cancelled.',
  too_long: 'That message is too long to send.',
  room_name_invalid: 'Choose a room name of at most 128 characters.',
  attachment_invalid: 'That file could not be sent.',
  exhausted: 'This session has sent all the messages it can. Leave and join again to go on.',
  not_allowed: 'Only the room\'s owner may do that.',
  lock_invalid: 'The new link does not belong to this room. Try locking it again.',
  resume_invalid: 'The saved session could not be read. Open the link again.',
  bad_password: 'Enter a password of at most 1024 characters.',
  derive: 'The password could not be stretched: this device may be short of memory.',
  unverifiable: 'The relay served a room description that does not open with the room key, so it is not serving this room faithfully.',
};

/**
 * Plain words for an error code, falling back to the relay's own message or a generic sentence.
 * @param {string} code
 * @param {string | null} [fallback]
 * @returns {string}
 */
export function explain(code, fallback) {
  return WORDS[code] ?? fallback ?? 'Something went wrong. Try again.';
}

/** Sentences about the room and its members, each a function of what the event carries. */
export const say = Object.freeze({
  /** @param {string} alias @param {string} fingerprint */
  joined: (alias, fingerprint) => `\u2068${alias}\u2069 joined · key ${fingerprint}`,
  /** @param {string} alias */
  duplicateAlias: (alias) => `Two members use the alias ${alias}, or aliases that look alike: compare their keys before trusting either.`,
  /** @param {string} alias */
  left: (alias) => `${alias} left`,
  /** @param {string} alias */
  youRemoved: (alias) => `You removed ${alias} from the room`,
  /** @param {string} kicker @param {string} alias */
  removedBy: (kicker, alias) => `${kicker} removed ${alias} from the room`,
  /**
   * A signed kick from a member without the right to remove anyone: every client refused it.
   * @param {string} kicker @param {string | null} alias whom it named, when this session shows that member
   */
  kickRefused: (kicker, alias) =>
    `${kicker} tried to remove ${alias ?? 'someone'}. Refused: only the room\u2019s owner may remove members.`,
  /** @param {string} alias */
  handOverRefused: (alias) => `${alias} tried to hand the room on without owning it. Refused.`,
  /** @param {string} alias @param {string} fingerprint the member's key, as members compare them */
  present: (alias, fingerprint) => `\u2068${alias}\u2069 is here · key ${fingerprint}`,
  /**
   * A member that came back as a new session after a refresh or a dropped connection: a new key, shown like a safety
   * number change, so that the others compare it again.
   * @param {string} alias @param {string} fingerprint the new key @param {string} previous the key it replaces
   */
  reconnected: (alias, fingerprint, previous) =>
    `\u2068${alias}\u2069 reconnected (new key) · key ${fingerprint}, was ${previous}: vouched for by the previous key`,
  /** @param {string} from @param {string} to */
  ownerHandedOver: (from, to) => `${from} handed the room to ${to}: ${to} is now its owner.`,
  /** @param {string} alias */
  youAreOwner: (alias) => `${alias} handed the room to you: you are now its owner and may remove members and lock the room.`,
  /** @param {string} to */
  youHandedOver: (to) => `You handed the room to ${to}: ${to} is now its owner.`,
  ownerGone: 'The room\u2019s owner is no longer in it: no one holds the owner\u2019s rights now.',
  /** @param {string} by */
  locked: (by) => `${by} locked the room: everyone still in moved to a new link, and the old link and password stop opening it. You are still in, and the chat goes on.`,
  lockedUnnamed: 'The room was locked: everyone still in moved to a new link, and the old link and password stop opening it. You are still in, and the chat goes on.',
  lockedByYou: 'You locked the room and moved everyone still in it to a new link. Share it with anyone who should still be able to join.',
  lockConfirmed: 'The relay took the new link: the old link and password no longer open the room.',
  /** @param {string} alias */
  lockRefused: (alias) => `${alias} tried to lock the room without owning it. Refused: nothing changed.`,
  /** @param {string} alias @param {string} said what the relay reported: Left, Kicked or Dropped */
  relayReported: (alias, said) =>
    `The relay says ${alias} ${said === 'Kicked' ? 'was removed' : said === 'Left' ? 'left' : 'lost their connection'}`,
  /** @param {string} alias @param {number} count */
  missed: (alias, count) =>
    `${count === 1 ? 'A message' : `${count} messages`} from ${alias} did not reach you and cannot be shown: the relay did not deliver ${count === 1 ? 'it' : 'them'} in time, or too many arrived out of order.`,
  /** @param {string} alias @param {string} reason */
  attachmentDropped: (alias, reason) =>
    reason === 'BadName'
      ? `A file from ${alias} was refused: its name holds invisible or direction-changing characters that could disguise it.`
      : `A file from ${alias} was dropped before it was complete: too many files were arriving at once. Ask ${alias} to send it again.`,
  receiveDropped: 'Stopped: dropped before it was complete.',
  receiveStopped: 'Stopped: the rest never arrived.',
  receiveCancelled: 'Stopped: the sender cancelled it.',
  /** @param {string} _problem */
  aliasProblem: (_problem) => 'Choose 1 to 32 characters, no spaces or hidden ones.',
  clockDiffers: 'sender clock differs',
  /** @param {string} alias */
  couldNotVerify: (alias) => `Something sent as from ${alias} could not be verified and is not shown.`,
  /** @param {number} id */
  someMember: (id) => `member ${id}`,
  /** @param {number} seconds */
  expiring(seconds) {
    const minutes = Math.round(seconds / 60);
    const words = seconds >= 60 ? `${minutes} minute${minutes === 1 ? '' : 's'}` : `${seconds} seconds`;
    return `This room ends in ${words}. Everything will be wiped.`;
  },
});

/** Why the room ended for this tab, by the `type` of the core's `Ended` reason, and the purger's own outcomes. */
export const ended = Object.freeze({
  purgedByYou: 'You purged the room. The relay confirmed it: every member was told and disconnected, and the link is dead.',
  purgeNotDelivered:
    'The relay did not confirm the purge. This tab forgot the room, and every member who received your signed purge ' +
    'left and wiped their screen, but the relay may still hold the room: its link keeps working until the room expires.',
  purgeNotDeliveredTitle: 'The purge was not confirmed',
  /** @param {string | null} by */
  purged: (by) => (by ? `${by} purged the room.` : 'A member purged the room.'),
  purgedPerRelay: 'The relay says the room was purged.',
  removedByRelay: 'The relay says you were removed; no member\'s signed kick reached you.',
  removedByRelayTitle: 'The relay says you were removed',
  removedByRelayDetail: 'The relay may be wrong or lying: the room may go on. Everything on this screen was wiped.',
  expired: 'The room reached the end of its lifetime.',
  /** @param {string | null} by */
  kicked: (by) => `You were removed by ${by ?? 'a member'}. The room goes on without you.`,
  kickedTitle: 'You were removed from the room',
  kickedDetail: 'Everything on this screen was wiped. The link and the password open the room again, unless its owner locked it.',
  /** Under every ending that kills the room's link: a purge, the expiry. */
  deadDetail: 'Everything on this screen was wiped and the link is dead.',
  /** Under endings whose cause only the relay asserts. */
  relayDetail: 'Everything on this screen was wiped. Only the relay says why.',
  /** Under a failed purge, and refusals that say nothing of the link. */
  wipedDetail: 'Everything on this screen was wiped.',
  notFound: 'The relay no longer knows this room: it may have restarted, which ends every room.',
  goneTitle: 'This room is gone',
  goneOnReload: 'This room was purged or has expired.',
  unknownRoom: 'The relay does not know this room: it has expired, or the relay restarted, which ends every room.',
  unverifiable: WORDS.unverifiable,
});

/**
 * Desktop notifications and the tab title after the room ended. A notification may be shown on a locked screen or
 * kept by the operating system, so none of these words ever holds an alias, a room name or a message.
 */
export const notify = Object.freeze({
  title: 'Sanctum',
  message: 'New message in Sanctum',
  /** @param {number} seconds */
  expiring(seconds) {
    const minutes = Math.round(seconds / 60);
    return `A Sanctum room ends in ${seconds >= 60 ? `${minutes} minute${minutes === 1 ? '' : 's'}` : `${seconds} seconds`}`;
  },
  ended: 'A Sanctum room has ended',
  endedTitle: 'Room ended · Sanctum',
  turnOn: 'Turn on desktop notifications',
  turnOff: 'Turn off desktop notifications',
  blocked: 'Notifications are blocked for this site in the browser\u2019s settings.',
  on: 'Desktop notifications on: they say only \u201cNew message in Sanctum\u201d.',
  off: 'Desktop notifications off.',
  dismiss: 'Dismiss',
});

/** What /help lists under formatting: what to type, and what it gives. */
export const FORMATTING_HELP = Object.freeze([
  ['**bold**', 'bold'],
  ['_italic_', 'italic'],
  ['~~struck~~', 'struck through'],
  ['`code`', 'code'],
  ['```', 'a code block: a line of ``` before and after it'],
  ['- item', 'a list (or 1. for a numbered one)'],
  ['> quote', 'a quote'],
  ['https://…', 'a link; [words](https://…) names it'],
  ['<b>, <i>, <u>, <s>, <code>, <pre>, <h1>…<h6>, <ul>, <ol>, <li>, <blockquote>, <br>, <hr>, <a href>', 'HTML formatting tags work too'],
]);

/** The rest of the page's words: forms, the clock, the composer and the confirmations. */
export const ui = Object.freeze({
  appName: 'Sanctum',
  defaultRoomName: 'Chatroom',
  clockLeft: 'Left',
  show: 'Show',
  hide: 'Hide',
  connected: 'Connected, end-to-end encrypted',
  /** @param {string} digest */
  manifestDigest: (digest) => `build ${digest}`,
  reconnectingStatus: 'Reconnecting…',
  reconnected: 'Reconnected as a new session. Messages sent while you were disconnected are not shown.',
  lookalikeUnavailable: 'Aliases that look alike in other scripts cannot be flagged: the check did not load. Compare keys before trusting anyone.',
  reloaded: 'The page was reloaded: earlier messages are gone from this screen, and you are back in as a new session.',
  reloadedAskPassword: 'The page was reloaded. Enter the password again to rejoin as a new session.',
  passwordHint: 'Use a long passphrase: four or more unrelated words work well.',
  /** @param {string} verdict the strength meter's words */
  generated: (verdict) => `${verdict} Generated for you: keep a copy, and share it apart from the link.`,
  generateFailed: 'No passphrase could be generated here; type one instead.',
  enterPassword: 'Enter the room password.',
  /** @param {string} time */
  roomEndsAt: (time) => `Room ends at ${time}`,
  /** @param {string} when */
  linkEndsAt: (when) => `This room ends at ${when} at the latest.`,
  /**
   * The strength meter's words for the core's estimate.
   * @param {number} score 0 to 4
   * @param {boolean} acceptable
   * @param {string} feedback the estimator's advice, if any
   */
  strength(score, acceptable, feedback) {
    const names = ['Very weak', 'Weak', 'Fair', 'Strong', 'Very strong'];
    const base = `${names[score] ?? 'Weak'}.`;
    const advice = feedback ? ` ${feedback}` : '';
    return acceptable ? `${base} Good enough for a room.${advice}` : `${base} Too easy to guess for a room.${advice}`;
  },
  /** @param {number} bytes @param {number} limit */
  farewellTooLong: (bytes, limit) =>
    `Too long to send: ${bytes.toLocaleString('en')} bytes, and a farewell holds at most ${limit.toLocaleString('en')}. Shorten it, or leave it empty.`,
  /** @param {string} why */
  notSent: (why) => `Not sent: ${why}`,
  /** @param {string} why */
  notKicked: (why) => `Could not kick: ${why}`,
  /** @param {string} why */
  notPurged: (why) => `Not purged: ${why}`,
  /** @param {string} name @param {string} why */
  fileNotSent: (name, why) => `${name} not sent: ${why}`,
  /** @param {string} name @param {string} why */
  fileRefused: (name, why) => `${name}: ${why}`,
  /** @param {string} alias */
  whisperMode: (alias) => `Whispering to ${alias} only. Stays on after sending; Esc or Cancel whisper ends it.`,
  /** @param {string} granted */
  lifetimeShortened: (granted) => `This relay allows rooms of at most ${granted}: your room lives that long, not as long as you asked.`,
  /** @param {number} seconds */
  duration(seconds) {
    const minutes = Math.max(1, Math.round(seconds / 60));
    if (seconds < 60) return `${seconds} seconds`;
    return minutes % 60 === 0 ? `${minutes / 60} hour${minutes === 60 ? '' : 's'}` : `${minutes} minute${minutes === 1 ? '' : 's'}`;
  },
  helpCommands: 'Commands',
  /** @param {string} size */
  attachLimit: (size) => `Attach a file (up to ${size})`,
  /** @param {string} size */
  filesUpTo: (size) => `files up to ${size}`,
  attachAny: 'Attach a file',
  uploadCancelled: 'Cancelled: the rest of the file was not sent, so no one receives it whole.',
  /** @param {string} name @param {string} size */
  attachmentReleased: (name, size) => `${name} (${size}): released from this tab's memory to make room for newer files.`,
  helpFormatting: 'Formatting',
  /** @param {string} alias */
  noSuchMember: (alias) => `No one called ${alias} is in the room.`,
  /** @param {string} alias */
  ambiguousAlias: (alias) => `Two members use the alias ${alias}; use the buttons in the member list.`,
  /** @param {string} command */
  unknownCommand: (command) => `Unknown command ${command}. Type /help for the list.`,
  /**
   * The kick dialog: whether the person can come back is said before anything is done.
   * @param {string} alias @param {string} fingerprint @param {boolean} canLock whether this session may also lock
   */
  confirmKick: (alias, fingerprint, canLock) => ({
    title: `Kick ${alias}?`,
    text:
      `${alias} (key ${fingerprint}) is removed and stops receiving keys. ` +
      (canLock
        ? 'They can rejoin with the link and password unless you also lock the room.'
        : 'They can rejoin with the link and password unless the owner locks the room.'),
    ok: `Kick ${alias}`,
    lock: 'Remove and lock',
    lockHint:
      'Remove and lock moves everyone else to a new link: the old link and password stop working, and you share the new link with whoever should still get in.',
  }),
  /** The lock's password step: the new link needs a password, the current one or a new one. */
  lockPassword: Object.freeze({
    title: 'Password for the new link',
    text: 'The new link needs a password. Keep the current one, or choose a new one and tell it to the members who should still get in.',
    keep: 'Keep the current password',
    change: 'Choose a new password',
    password: 'Password',
    again: 'The same password again',
    keepHint: 'Type the room\u2019s current password.',
    mismatch: 'The two passwords differ.',
    empty: 'Enter the password for the new link.',
    /** @param {string} alias */
    ok: (alias) => `Remove ${alias} and lock`,
  }),
  lockWorking: 'Locking the room: stretching the password and moving everyone to the new link…',
  /** @param {string} why */
  notLocked: (why) => `The room was not locked: ${why}`,
  /** The owner's view of a finished lock: the old link is closed only once the relay took the new verifier. */
  lockedDialog: Object.freeze({
    title: 'The room is locked',
    text: 'Everyone still in the room moved to this new link. Share it with anyone who should still be able to join, and tell them the password another way.',
    waiting: 'Waiting for the relay to take the new link; until it does, the old link still opens the room.',
    confirmed: 'The relay took the new link: the old link no longer opens the room, with the old password or any other.',
  }),
  /** @param {string} alias */
  confirmHandOver: (alias) => ({
    title: `Make ${alias} the owner?`,
    text: `${alias} becomes the room\u2019s owner: they can remove members and lock the room, and you no longer can. Only ${alias} can hand it back.`,
    ok: `Make ${alias} the owner`,
  }),
  /** @param {string} why */
  notHandedOver: (why) => `The room was not handed over: ${why}`,
  ownerTag: 'owner',
  /** @param {string} alias */
  onlyOwnerKicks: (alias) => `You cannot remove ${alias}: only the room\u2019s owner may remove members.`,
  /** @param {string} alias */
  ownerNotKickable: (alias) => `You cannot remove ${alias}: no one may remove the room\u2019s owner.`,
  /** @param {string} alias */
  kickLabel: (alias) => `Kick ${alias}`,
  /** @param {string} alias */
  handOverLabel: (alias) => `Make ${alias} the owner`,
  /** @param {string} alias */
  whisperLabel: (alias) => `Whisper to ${alias}`,
  membersMayKick: 'Let every member remove others',
  membersMayKickHint: 'Off: only you, the room\u2019s owner, can remove someone. Anyone in the room can always purge it.',
  confirmLeave: Object.freeze({
    title: 'Leave the room?',
    text: 'This tab forgets the room, its keys and every message. Only the link and the password get you back in.',
    ok: 'Leave',
  }),
  confirmPurge: Object.freeze({
    title: 'Purge the room for everyone?',
    text: 'Every member\u2019s screen is wiped, everyone is out, and the link dies for good. This cannot be undone.',
    ok: 'Purge the room',
  }),
});
