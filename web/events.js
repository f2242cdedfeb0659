// @ts-check
// The shapes of what the Worker sends the page, for the type check: the core's events as `client-wasm/src/wasm.rs`
// converts them (Rust variant names, Rust field names, times as numbers), and the Worker's own events.
// This module holds types only; `codes.js` holds the names, checked against the Rust lists by a test.

/**
 * A member as the core describes it (`MemberInfo`): `owner` marks the room's owner, `kickable` whether this session
 * may kick the member (the page offers Kick only then).
 * @typedef {{member: number, alias: string, fingerprint: string, duplicate_alias: boolean, owner: boolean,
 *   kickable: boolean}} MemberInfo
 */

/**
 * This session (`Client.identity`); the page only sees it once the relay assigned its member id.
 * `duplicate_alias` says whether an accepted member's alias looks like this one (the core's look-alike rule).
 * `owner` says whether this session owns the room (it may kick, hand ownership on with the Worker's `transfer`
 * request); `everyone_kicks` whether the room lets every member kick anyone but the owner.
 * @typedef {{member: number, alias: string, fingerprint: string, duplicate_alias: boolean, owner: boolean,
 *   everyone_kicks: boolean}} Identity
 */

/**
 * Why a member is gone (`LeaveReason`).
 * Only the relay's report (`RelayReported`) names no signer: `said` is what the relay claimed.
 * @typedef {{type: 'Left', farewell: string} | {type: 'Kicked', by: number}
 *   | {type: 'RelayReported', said: 'Left' | 'Kicked' | 'Dropped'}} LeaveReason
 */

/**
 * Why this session ended (`EndReason`).
 * @typedef {{type: 'Left'} | {type: 'Kicked', by: number} | {type: 'RemovedByRelay'} | {type: 'Purged', by: number | null}
 *   | {type: 'Expired'} | {type: 'Refused', code: string} | {type: 'Unverifiable'}} EndReason
 */

/** @typedef {{type: 'Joined', member: number, expires_at: number, room_name: string}} Joined */
/** @typedef {{type: 'MemberAccepted'} & MemberInfo} MemberAccepted */
/**
 * After a refresh (a session resumed from the blob), a member that was already in the room: shown as present, not as
 * joining.
 * @typedef {{type: 'MemberPresent'} & MemberInfo} MemberPresent
 */
/**
 * A member reconnected as a new session with new keys ("bob reconnected (new key)"), proven by the previous session's
 * signature: `previous` is the old session's member id, the fingerprints old and new. The old session no longer
 * receives keys; an owner's role moved to the new one.
 * @typedef {{type: 'Reconnected', member: number, previous: number | null, alias: string, old_fingerprint: string,
 *   new_fingerprint: string}} Reconnected
 */
/** @typedef {{type: 'MemberLeft', member: number, alias: string, reason: LeaveReason}} MemberLeft */
/**
 * The owner (`by`, this session's own id when it locked) moved the room to new secrets: the old link and password stop
 * opening it once the relay takes the new verifier (`LockConfirmed`, to the owner). The Worker adds `resume`, the new
 * resume blob, which replaces the one the page keeps. The owner's `lock` request resolves with the new link.
 * @typedef {{type: 'Locked', by: number | null, resume?: string}} Locked
 */
/** @typedef {{type: 'LockConfirmed'}} LockConfirmed */
/**
 * The owner changed: `by` handed it on with a signed transfer, or (`by` null) this session learned it from the answers
 * it got, or the owner's session left (`owner` null: nobody can kick unless every member may; anyone can purge).
 * @typedef {{type: 'OwnerChanged', owner: number | null, by: number | null}} OwnerChanged
 */
/**
 * A member tried something only the owner may do; every client refused it. A signed item, so `from` is truthful.
 * `target` is the member a refused kick named (this session's own id when it named this session), null when unknown.
 * @typedef {{type: 'NotAllowed', from: number, alias: string,
 *   attempt: {type: 'Kick', target: number | null} | {type: 'Transfer'} | {type: 'Lock'}}} NotAllowed
 */
/**
 * When a message was received, the sender's time clamped to it, and whether the two differ by more than a minute.
 * @typedef {{received_at: number, sent_at: number, clock_differs: boolean}} Timing
 */
/** @typedef {{type: 'Message', from: number, alias: string, text: string, whisper: boolean} & Timing} Message */
/**
 * @typedef {{type: 'Attachment', from: number, alias: string, name: string, mime: string, caption: string, bytes: Uint8Array,
 *   whisper: boolean} & Timing} Attachment
 */
/**
 * One more chunk of an attachment arrived: `received` of `size` bytes (every chunk but the last).
 * @typedef {{type: 'AttachmentProgress', from: number, alias: string, name: string, received: number, size: number,
 *   whisper: boolean}} AttachmentProgress
 */
/** @typedef {{type: 'Missed', from: number, alias: string, count: number}} Missed */
/** @typedef {{type: 'AttachmentDropped', from: number, alias: string, reason: 'Crowded' | 'BadName' | 'Cancelled'}} AttachmentDropped */
/** @typedef {{type: 'Expiring', seconds: number}} Expiring */
/** @typedef {{type: 'CouldNotVerify', from: number}} CouldNotVerify */
/** @typedef {{type: 'RelayError', code: string, message: string}} RelayError */
/** @typedef {{type: 'Ended', reason: EndReason}} Ended */

/**
 * @typedef {Joined | MemberAccepted | MemberPresent | Reconnected | OwnerChanged | NotAllowed | Locked | LockConfirmed
 *   | MemberLeft | Message | Attachment | AttachmentProgress | Missed | AttachmentDropped | Expiring | CouldNotVerify
 *   | RelayError | Ended} CoreEvent
 */

/** The Worker's `members` event, after a membership change. @typedef {{self: Identity, members: MemberInfo[]}} Members */
/**
 * The Worker's `sendProgress` event during an upload: chunks and bytes sent of the page's upload `id`.
 * @typedef {{id: number, sent: number, total: number, bytes: number, size: number, name: string}} SendProgress
 */

/** What the Worker's `lock` request resolves with: the new link to share, and the new resume blob. @typedef {{link: string, resume: string}} LockResult */

/**
 * What create, join and resume resolve with; `link` is the room's current link (after a lock, the new one).
 * @typedef {{link: string, resume: string, room: {name: string, expiresAt: number}, self: Identity,
 *   members: MemberInfo[], limits: {maxAttachment: number, maxFarewellBytes: number, maxFramesPerSecond: number, frameBurst: number}}} Entered
 */

export {};
