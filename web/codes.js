// @ts-check
// The names the page shares with the core and the relay, written from client-wasm/src/contract.rs.
// Do not edit: `cargo test -p sanctum-client contract` fails when this file differs from the Rust lists,
// and prints the text it expects.

/** Events from the core, named after the Rust `Event` variants. */
export const Event = Object.freeze({
  Joined: 'Joined',
  MemberAccepted: 'MemberAccepted',
  MemberPresent: 'MemberPresent',
  Reconnected: 'Reconnected',
  OwnerChanged: 'OwnerChanged',
  NotAllowed: 'NotAllowed',
  Locked: 'Locked',
  LockConfirmed: 'LockConfirmed',
  MemberLeft: 'MemberLeft',
  Message: 'Message',
  Attachment: 'Attachment',
  AttachmentProgress: 'AttachmentProgress',
  Missed: 'Missed',
  AttachmentDropped: 'AttachmentDropped',
  Expiring: 'Expiring',
  CouldNotVerify: 'CouldNotVerify',
  RelayError: 'RelayError',
  Ended: 'Ended',
});

/** Codes of the relay's `error` frames. */
export const ErrorCode = Object.freeze({
  BAD_FRAME: 'bad_frame',
  BINARY_FRAME: 'binary_frame',
  FRAME_TOO_LARGE: 'frame_too_large',
  UNSUPPORTED_VERSION: 'unsupported_version',
  BAD_REQUEST: 'bad_request',
  ALREADY_IN_ROOM: 'already_in_room',
  NOT_IN_ROOM: 'not_in_room',
  ROOM_EXISTS: 'room_exists',
  ROOM_NOT_FOUND: 'room_not_found',
  ROOM_GONE: 'room_gone',
  BAD_TOKEN: 'bad_token',
  ROOM_FULL: 'room_full',
  TOO_MANY_ROOMS: 'too_many_rooms',
  TOO_MANY_CONNECTIONS: 'too_many_connections',
  RATE_LIMITED: 'rate_limited',
  ROOM_BUSY: 'room_busy',
  UNKNOWN_MEMBER: 'unknown_member',
  UNAVAILABLE: 'unavailable',
});

/** Codes an action of the core fails with. */
export const FailureCode = Object.freeze({
  LINK_EXPIRED: 'link_expired',
  LINK_INVALID: 'link_invalid',
  UNSUPPORTED_VERSION: 'unsupported_version',
  BAD_PASSWORD: 'bad_password',
  DERIVE: 'derive',
  RESUME_INVALID: 'resume_invalid',
  NOT_IN_ROOM: 'not_in_room',
  UNKNOWN_MEMBER: 'unknown_member',
  ALIAS_INVALID: 'alias_invalid',
  ROOM_NAME_INVALID: 'room_name_invalid',
  FILE_NAME_INVALID: 'file_name_invalid',
  TOO_LONG: 'too_long',
  ATTACHMENT_TOO_LARGE: 'attachment_too_large',
  ATTACHMENT_INVALID: 'attachment_invalid',
  EXHAUSTED: 'exhausted',
  NOT_ALLOWED: 'not_allowed',
  LOCK_INVALID: 'lock_invalid',
});

/** The relay's WebSocket close codes. */
export const CloseCode = Object.freeze({
  NORMAL: 1000,
  INVALID_TEXT: 1007,
  POLICY_VIOLATION: 1008,
  TOO_LARGE: 1009,
  RESTARTING: 1012,
  TRY_AGAIN_LATER: 1013,
  PURGED: 4001,
  KICKED: 4002,
  EXPIRED: 4003,
  SLOW_READER: 4008,
  FLOODING: 4009,
  TIMEOUT: 4010,
  UNAVAILABLE: 4011,
});
