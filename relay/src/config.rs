//! The relay's settings and limits, gathered in one struct with safe defaults and checked once at start.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::http::HeaderName;
use sanctum_protocol::MIN_FRAME_LIMIT;

/// Default largest lifetime a creator may be granted, in seconds (one hour).
pub const DEFAULT_MAX_LIFETIME: u32 = 3600;
/// Default warnings before expiry, in seconds left (five minutes and one minute).
pub const DEFAULT_EXPIRY_WARNINGS: [u32; 2] = [300, 60];
/// Default largest frame, in bytes of JSON text (64 KiB).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 * 1024;
/// Default largest number of members in one room.
///
/// Every membership change costs each member one key hand-out per peer, so rooms stay small.
pub const DEFAULT_MAX_MEMBERS: u32 = 50;
/// Default largest number of joins and departures in one room per minute.
pub const DEFAULT_MAX_MEMBERSHIP_EVENTS: u32 = 60;
/// Default largest number of rooms, tombstones included.
pub const DEFAULT_MAX_ROOMS: usize = 10_000;
/// Default largest number of open WebSocket connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default creates per address per minute.
pub const DEFAULT_CREATES_PER_MINUTE: u32 = 10;
/// Default failed joins one connection may make before every further join on it is refused.
pub const DEFAULT_FAILED_JOINS_PER_CONNECTION: u32 = 5;
/// Default failed joins one address may make before it must wait, with growing backoff, between join attempts.
pub const DEFAULT_FAILED_JOINS_PER_ADDRESS: u32 = 20;
/// Default bound of one connection's outgoing queue, in bytes (256 KiB: four frames of the largest size).
pub const DEFAULT_QUEUE_BYTES: usize = 256 * 1024;
/// Default frames per second a connection may send on average.
pub const DEFAULT_FRAMES_PER_SECOND: u32 = 30;
/// Default burst of frames a connection may send at once above its average.
pub const DEFAULT_FRAME_BURST: u32 = 60;
/// Default refused frames, within ten seconds, after which a flooding connection is closed.
pub const DEFAULT_FLOOD_STRIKES: u32 = 20;
/// Default time a new connection has to create or join a room, in seconds.
pub const DEFAULT_HANDSHAKE_TIMEOUT_SECS: u64 = 10;
/// Default time without a pong after which a connection is closed, in seconds.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// Default header a trusted proxy puts the client's address in.
pub const DEFAULT_FORWARDED_HEADER: &str = "x-forwarded-for";

/// Every setting and limit of a relay; `Config::default()` holds the safe defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Directory of the static web app; `None` serves only `/ws`, `/healthz` and `/metrics`.
    pub web_dir: Option<PathBuf>,
    /// Origins allowed to open `/ws` from a browser (`scheme://host[:port]`).
    /// Empty means the relay's own listen origin and its `localhost` equivalents.
    pub public_origins: Vec<String>,
    /// Extra sources for the CSP's `connect-src`, beside `'self'`, when the app talks to a relay elsewhere.
    pub connect_src: Vec<String>,
    /// Largest lifetime granted, in seconds; longer requests are clamped to it.
    pub max_lifetime: u32,
    /// Seconds before expiry at which members receive an `expiring` frame.
    pub expiry_warnings: Vec<u32>,
    /// Largest WebSocket message and frame, in bytes; at least `sanctum_protocol::MIN_FRAME_LIMIT`.
    pub max_frame_bytes: usize,
    /// Largest number of members in one room.
    pub max_members: u32,
    /// Largest number of joins and departures in one room per minute.
    pub max_membership_events: u32,
    /// Largest number of rooms held at once, tombstones included.
    pub max_rooms: usize,
    /// Largest number of open WebSocket connections.
    pub max_connections: usize,
    /// Room creations allowed per address per minute.
    pub creates_per_minute: u32,
    /// Failed joins allowed on one connection; later joins on it are refused.
    pub failed_joins_per_connection: u32,
    /// Failed joins allowed per address before it waits, with growing backoff, between attempts.
    pub failed_joins_per_address: u32,
    /// Bound of one connection's outgoing queue in bytes; a reader that falls further behind is disconnected.
    pub queue_bytes: usize,
    /// Frames per second one connection may send on average.
    pub frames_per_second: u32,
    /// Frames one connection may send at once above its average.
    pub frame_burst: u32,
    /// Refused frames within ten seconds after which the connection is closed for flooding.
    pub flood_strikes: u32,
    /// Time a new connection has to create or join a room.
    pub handshake_timeout: Duration,
    /// Time without a pong to the relay's pings after which a connection is closed.
    pub idle_timeout: Duration,
    /// Proxies whose forwarding header is believed for the client's address.
    pub trusted_proxies: Vec<IpAddr>,
    /// The header a trusted proxy puts the client's address in (`X-Forwarded-For` or `Forwarded` style).
    pub forwarded_header: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            web_dir: None,
            public_origins: Vec::new(),
            connect_src: Vec::new(),
            max_lifetime: DEFAULT_MAX_LIFETIME,
            expiry_warnings: DEFAULT_EXPIRY_WARNINGS.to_vec(),
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_members: DEFAULT_MAX_MEMBERS,
            max_membership_events: DEFAULT_MAX_MEMBERSHIP_EVENTS,
            max_rooms: DEFAULT_MAX_ROOMS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            creates_per_minute: DEFAULT_CREATES_PER_MINUTE,
            failed_joins_per_connection: DEFAULT_FAILED_JOINS_PER_CONNECTION,
            failed_joins_per_address: DEFAULT_FAILED_JOINS_PER_ADDRESS,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            frames_per_second: DEFAULT_FRAMES_PER_SECOND,
            frame_burst: DEFAULT_FRAME_BURST,
            flood_strikes: DEFAULT_FLOOD_STRIKES,
            handshake_timeout: Duration::from_secs(DEFAULT_HANDSHAKE_TIMEOUT_SECS),
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS),
            trusted_proxies: Vec::new(),
            forwarded_header: DEFAULT_FORWARDED_HEADER.to_owned(),
        }
    }
}

/// Why a configuration was refused at start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The frame limit cannot carry the protocol's largest item.
    #[error("the frame limit must be at least {MIN_FRAME_LIMIT} bytes, the size of the protocol's largest frame")]
    FrameLimitTooSmall,
    /// The outgoing queue could not hold even one frame of the largest size.
    #[error("the queue bound must be at least the frame limit")]
    QueueTooSmall,
    /// A limit that must be positive is zero.
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    /// The forwarding header is not a valid header name.
    #[error("the forwarded header is not a valid HTTP header name")]
    BadForwardedHeader,
    /// A public origin or connect-src entry is not of the form `scheme://host[:port]`.
    #[error("origins must look like https://host or http://host:port, without a path")]
    BadOrigin,
    /// The web directory does not exist or is not a directory.
    #[error("the web directory is not a readable directory")]
    WebDir,
}

impl Config {
    /// Checks that every limit makes sense; the relay refuses to start otherwise.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_frame_bytes < MIN_FRAME_LIMIT {
            return Err(ConfigError::FrameLimitTooSmall);
        }
        if self.queue_bytes < self.max_frame_bytes {
            return Err(ConfigError::QueueTooSmall);
        }
        let positive = [
            ("the maximum lifetime", self.max_lifetime as usize),
            ("the member limit", self.max_members as usize),
            ("the membership event limit", self.max_membership_events as usize),
            ("the room limit", self.max_rooms),
            ("the connection limit", self.max_connections),
            ("the create limit", self.creates_per_minute as usize),
            (
                "the failed join limit per connection",
                self.failed_joins_per_connection as usize,
            ),
            (
                "the failed join limit per address",
                self.failed_joins_per_address as usize,
            ),
            ("the frame rate", self.frames_per_second as usize),
            ("the frame burst", self.frame_burst as usize),
            ("the flood strike limit", self.flood_strikes as usize),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError::Zero(name));
        }
        if self.handshake_timeout.is_zero() {
            return Err(ConfigError::Zero("the handshake timeout"));
        }
        if self.idle_timeout.is_zero() {
            return Err(ConfigError::Zero("the idle timeout"));
        }
        if HeaderName::try_from(self.forwarded_header.as_str()).is_err() {
            return Err(ConfigError::BadForwardedHeader);
        }
        if !self
            .public_origins
            .iter()
            .chain(&self.connect_src)
            .all(|o| is_origin(o))
        {
            return Err(ConfigError::BadOrigin);
        }
        if self.web_dir.as_ref().is_some_and(|dir| !dir.is_dir()) {
            return Err(ConfigError::WebDir);
        }
        Ok(())
    }
}

/// Whether `text` is a serialized origin: a scheme, `://`, and a host with an optional port, nothing after.
///
/// The characters are restricted so that an entry can never break out of the CSP header it is written into.
fn is_origin(text: &str) -> bool {
    let text = text.strip_suffix('/').unwrap_or(text);
    let Some((scheme, host)) = text.split_once("://") else {
        return false;
    };
    let scheme_ok = !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let host_ok = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c));
    scheme_ok && host_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn a_frame_limit_below_the_protocol_is_refused() {
        let config = Config {
            max_frame_bytes: MIN_FRAME_LIMIT - 1,
            ..Config::default()
        };
        assert_eq!(config.validate(), Err(ConfigError::FrameLimitTooSmall));
        let config = Config {
            max_frame_bytes: MIN_FRAME_LIMIT,
            queue_bytes: MIN_FRAME_LIMIT,
            ..Config::default()
        };
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn zero_limits_and_bad_origins_are_refused() {
        let config = Config {
            max_members: 0,
            ..Config::default()
        };
        assert_eq!(config.validate(), Err(ConfigError::Zero("the member limit")));
        let config = Config {
            idle_timeout: Duration::ZERO,
            ..Config::default()
        };
        assert_eq!(config.validate(), Err(ConfigError::Zero("the idle timeout")));
        for origin in [
            "example.org",
            "https://example.org/app",
            "https://a b",
            "https://x;script-src *",
        ] {
            let config = Config {
                connect_src: vec![origin.to_owned()],
                ..Config::default()
            };
            assert_eq!(config.validate(), Err(ConfigError::BadOrigin), "{origin}");
        }
        let config = Config {
            public_origins: vec!["https://chat.example.org".into(), "http://[::1]:8080/".into()],
            ..Config::default()
        };
        assert_eq!(config.validate(), Ok(()));
        let config = Config {
            web_dir: Some("/nonexistent/sanctum/web".into()),
            ..Config::default()
        };
        assert_eq!(config.validate(), Err(ConfigError::WebDir));
    }
}
