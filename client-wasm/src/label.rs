//! Domain-separation labels: every hash, key derivation and signature in the protocol starts from one of these.
//!
//! Each label is ASCII, names protocol version 1, and is used for exactly one purpose, so that no output of one step
//! can be mistaken for the output of another.

/// Prefix of the SHA-256 input whose output is the Argon2id salt.
pub(crate) const ARGON2_SALT: &[u8] = b"sanctum v1 argon2id salt";
/// HKDF-Expand info for the auth token presented to the relay.
pub(crate) const AUTH_TOKEN: &[u8] = b"sanctum v1 auth token";
/// HKDF-Expand info for the room key that seals the descriptor, hellos and answers.
pub(crate) const ROOM_KEY: &[u8] = b"sanctum v1 room key";
/// HKDF-Expand info for the channel salt, the HKDF salt of every pairwise channel (the room key has one job: sealing).
pub(crate) const CHANNEL_SALT: &[u8] = b"sanctum v1 channel salt";
/// HKDF-Expand info prefix for the two chain keys of a pairwise channel.
pub(crate) const PAIRWISE: &[u8] = b"sanctum v1 pairwise";
/// HKDF-Expand info for the message key of one chain step.
pub(crate) const MESSAGE_KEY: &[u8] = b"sanctum v1 message key";
/// HKDF-Expand info for the next chain key of one chain step.
pub(crate) const CHAIN_STEP: &[u8] = b"sanctum v1 chain step";
/// Prefix of the associated data of every sealed item.
pub(crate) const ITEM_AAD: &[u8] = b"sanctum v1 item";
/// Prefix of the message every Ed25519 signature covers.
pub(crate) const SIGNATURE: &[u8] = b"sanctum v1 signature";
/// Prefix of the SHA-256 input whose output is a session's fingerprint.
pub(crate) const FINGERPRINT: &[u8] = b"sanctum v1 fingerprint";
/// Prefix of the SHA-256 input whose output commits to a whole attachment.
pub(crate) const ATTACHMENT_DIGEST: &[u8] = b"sanctum v1 attachment";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct_and_prefix_free() {
        let all = [
            ARGON2_SALT,
            AUTH_TOKEN,
            ROOM_KEY,
            CHANNEL_SALT,
            PAIRWISE,
            MESSAGE_KEY,
            CHAIN_STEP,
            ITEM_AAD,
            SIGNATURE,
            FINGERPRINT,
            ATTACHMENT_DIGEST,
        ];
        for (i, a) in all.iter().enumerate() {
            for (j, b) in all.iter().enumerate() {
                if i != j {
                    assert!(
                        !a.starts_with(b),
                        "{} starts with {}",
                        String::from_utf8_lossy(a),
                        String::from_utf8_lossy(b)
                    );
                }
            }
        }
    }
}
