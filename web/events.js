// @ts-check
// The shapes of what the Worker sends the page, for the type check: the core's events as `client-wasm/src/wasm.rs`
// converts them (Rust variant names, Rust field names, times as numbers), and the Worker's own events.
// This module holds types only; `codes.js` holds the names, checked against the Rust lists by a test.

/**
 * A member as the core describes it (`MemberInfo`).
 * @typedef {{member: number, alias: string, fingerprint: string, duplicate_alias: boolean}} MemberInfo
 */

/**
 * This session (`Client.identity`); the page only sees it once the relay assigned its member id.
 * `duplicate_alias` says whether an accepted member's alias looks like this one (the core's look-alike rule).
 * @typedef {{member: number, alias: string, fingerprint: string, duplicate_alias: boolean}} Identity
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
/** @typedef {{type: 'MemberLeft', member: number, alias: string, reason: LeaveReason}} MemberLeft */
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
/** @typedef {{type: 'AttachmentDropped', from: number, alias: string, reason: 'Crowded' | 'BadName'}} AttachmentDropped */
/** @typedef {{type: 'Expiring', seconds: number}} Expiring */
/** @typedef {{type: 'CouldNotVerify', from: number}} CouldNotVerify */
/** @typedef {{type: 'RelayError', code: string, message: string}} RelayError */
/** @typedef {{type: 'Ended', reason: EndReason}} Ended */

/**
 * @typedef {Joined | MemberAccepted | MemberLeft | Message | Attachment | AttachmentProgress | Missed | AttachmentDropped | Expiring
 *   | CouldNotVerify | RelayError | Ended} CoreEvent
 */

/** The Worker's `members` event, after a membership change. @typedef {{self: Identity, members: MemberInfo[]}} Members */
/**
 * The Worker's `sendProgress` event during an upload: chunks and bytes sent of the page's upload `id`.
 * @typedef {{id: number, sent: number, total: number, bytes: number, size: number, name: string}} SendProgress
 */

/**
 * What create, join and resume resolve with.
 * @typedef {{link?: string, resume: string, room: {name: string, expiresAt: number}, self: Identity,
 *   members: MemberInfo[], limits: {maxAttachment: number, maxFarewellBytes: number, maxFramesPerSecond: number, frameBurst: number}}} Entered
 */

export {};
