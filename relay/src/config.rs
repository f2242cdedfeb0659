//! The relay's settings and limits, gathered in one struct with safe defaults and checked once at start.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::http::HeaderName;
use sanctum_protocol::MIN_FRAME_LIMIT;

/// The longest handshake timeout accepted: a connection that has not sent its request within it is not coming.
const MAX_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3600);
/// The longest idle timeout accepted.
const MAX_IDLE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Every setting and limit of a relay, and the relay binary's flags: `Config::default()` holds the safe defaults.
///
/// Each field is one flag with a `SANCTUM_*` environment fallback; its documentation is the flag's help.
/// Per-address limits count IPv6 clients by /64.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct Config {
    /// Directory of the static web app, served at `/`; without it only `/ws` and `/healthz` are served.
    #[arg(long, env = "SANCTUM_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// Origin allowed to open `/ws` from a browser, as `scheme://host[:port]` (repeatable, or comma-separated in the
    /// environment); every host name and port users type must be listed. Default: the listen origin, e.g.
    /// `http://127.0.0.1:8080` and `http://localhost:8080`.
    #[arg(
        long = "public-origin",
        env = "SANCTUM_PUBLIC_ORIGIN",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub public_origins: Vec<String>,
    /// Extra source for the Content-Security-Policy's `connect-src`, beside `'self'`, when the app talks to a relay
    /// elsewhere (repeatable).
    #[arg(long = "connect-src", env = "SANCTUM_CONNECT_SRC", value_delimiter = ',')]
    pub connect_src: Vec<String>,
    /// Largest room lifetime granted, in seconds; longer requests are clamped to it.
    #[arg(long, env = "SANCTUM_MAX_LIFETIME", default_value_t = 3600)]
    pub max_lifetime: u32,
    /// Seconds before expiry at which members receive an `expiring` frame, comma-separated.
    #[arg(
        long,
        env = "SANCTUM_EXPIRY_WARNINGS",
        value_delimiter = ',',
        default_value = "300,60"
    )]
    pub expiry_warnings: Vec<u32>,
    /// Largest WebSocket message and frame, in bytes; refused at start if below the protocol's largest frame.
    #[arg(long, env = "SANCTUM_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub max_frame_bytes: usize,
    /// Largest number of members in one room; every membership change costs each member one key hand-out per peer,
    /// so rooms stay small.
    #[arg(long, env = "SANCTUM_MAX_MEMBERS", default_value_t = 50)]
    pub max_members: u32,
    /// Joins and departures allowed per room per minute (error `room_busy` beyond).
    #[arg(long, env = "SANCTUM_MAX_MEMBERSHIP_EVENTS", default_value_t = 60)]
    pub max_membership_events: u32,
    /// Locks allowed per room per minute: each replaces the room's verifier and descriptor (error `rate_limited`
    /// beyond).
    #[arg(long, env = "SANCTUM_LOCKS_PER_MINUTE", default_value_t = 3)]
    pub locks_per_minute: u32,
    /// Largest number of rooms held at once, purged rooms' tombstones included (error `too_many_rooms` beyond).
    #[arg(long, env = "SANCTUM_MAX_ROOMS", default_value_t = 10_000)]
    pub max_rooms: usize,
    /// Largest number of rooms, tombstones included, that rooms created from one client address may hold
    /// (error `rate_limited` beyond).
    #[arg(long, env = "SANCTUM_MAX_ROOMS_PER_ADDRESS", default_value_t = 50)]
    pub max_rooms_per_address: u32,
    /// Largest number of open WebSocket connections (HTTP 503 at the upgrade beyond).
    #[arg(long, env = "SANCTUM_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Largest number of open WebSocket connections from one client address (HTTP 429 at the upgrade beyond).
    #[arg(long, env = "SANCTUM_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 100)]
    pub max_connections_per_address: u32,
    /// Room creations allowed per client address per minute (error `rate_limited` beyond).
    #[arg(long, env = "SANCTUM_CREATES_PER_MINUTE", default_value_t = 10)]
    pub creates_per_minute: u32,
    /// Failed joins allowed on one connection; later joins on it are refused with `rate_limited`.
    #[arg(long, env = "SANCTUM_FAILED_JOINS_PER_CONNECTION", default_value_t = 5)]
    pub failed_joins_per_connection: u32,
    /// Failed joins allowed per client address before it waits 1 s, then twice as long after each further failure
    /// (at most 5 minutes), between join attempts; forgotten after 15 quiet minutes.
    #[arg(long, env = "SANCTUM_FAILED_JOINS_PER_ADDRESS", default_value_t = 20)]
    pub failed_joins_per_address: u32,
    /// Bound of each connection's outgoing queue in bytes, each queued frame counting its text and 64 bytes for its
    /// place in the queue (by default about four frames of the largest size); a slower reader is cut off with close 4008.
    #[arg(long, env = "SANCTUM_QUEUE_BYTES", default_value_t = 256 * 1024)]
    pub queue_bytes: usize,
    /// Frames per second one connection may send on average (error `rate_limited` beyond).
    #[arg(long, env = "SANCTUM_FRAMES_PER_SECOND", default_value_t = 30)]
    pub frames_per_second: u32,
    /// Frames one connection may send at once above its average.
    #[arg(long, env = "SANCTUM_FRAME_BURST", default_value_t = 60)]
    pub frame_burst: u32,
    /// Refused frames within 10 seconds after which a flooding connection is closed with 4009.
    #[arg(long, env = "SANCTUM_FLOOD_STRIKES", default_value_t = 20)]
    pub flood_strikes: u32,
    /// Seconds a connection has to send its request headers, then, once upgraded, to create or join a room
    /// (close 4010 after).
    #[arg(
        long = "handshake-timeout",
        env = "SANCTUM_HANDSHAKE_TIMEOUT",
        value_name = "SECONDS",
        value_parser = parse_seconds,
        default_value = "10"
    )]
    pub handshake_timeout: Duration,
    /// Seconds without a pong to the relay's pings after which a connection is closed with 4010.
    #[arg(
        long = "idle-timeout",
        env = "SANCTUM_IDLE_TIMEOUT",
        value_name = "SECONDS",
        value_parser = parse_seconds,
        default_value = "60"
    )]
    pub idle_timeout: Duration,
    /// Proxy whose forwarding header gives the client address for per-address limits (repeatable).
    #[arg(
        long = "trusted-proxy",
        env = "SANCTUM_TRUSTED_PROXY",
        value_delimiter = ',',
        value_name = "ADDRESS"
    )]
    pub trusted_proxies: Vec<IpAddr>,
    /// Header a trusted proxy puts the client address in (`X-Forwarded-For` or `Forwarded` syntax).
    #[arg(long, env = "SANCTUM_FORWARDED_HEADER", default_value = "x-forwarded-for")]
    pub forwarded_header: String,
    /// Redis to share rooms with every relay pointed at it, as `redis://host:port/` (memory only: a Redis that would
    /// write to disk is refused). Without it, rooms live in this relay's memory and nothing else runs.
    #[arg(long, env = "SANCTUM_REDIS", value_name = "URL")]
    pub redis: Option<RedisUrl>,
    /// Start even though Redis has `save` or `appendonly` set and would write room state to disk.
    #[arg(long, env = "SANCTUM_REDIS_ALLOW_PERSISTENCE")]
    pub redis_allow_persistence: bool,
    /// Seconds after which a relay that stopped renewing its heartbeat in Redis counts as dead: the others then
    /// remove its members (`member_left` dropped). Heartbeats are renewed, and dead relays looked for, every third
    /// of it, so a killed relay's members disappear within 4/3 of it.
    #[arg(
        long = "redis-heartbeat",
        env = "SANCTUM_REDIS_HEARTBEAT",
        value_name = "SECONDS",
        value_parser = parse_seconds,
        default_value = "6"
    )]
    pub redis_heartbeat: Duration,
}

/// A Redis URL, `redis://[user:password@]host[:port][/db]`, whose `Debug` omits any credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for RedisUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // TLS terminates outside the relay, which has no TLS stack: `rediss://` would need one.
        if !text.starts_with("redis://") {
            return Err("the Redis URL must start with redis://".to_owned());
        }
        Ok(Self(text.to_owned()))
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rest = &self.0["redis://".len().min(self.0.len())..];
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        write!(f, "RedisUrl(redis://{host})")
    }
}

/// Reads a whole number of seconds, as the timeout flags take them.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: u64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number of seconds"))?;
    Ok(Duration::from_secs(secs))
}

impl Default for Config {
    /// The defaults written on the flags above, read without the command line or the environment.
    fn default() -> Self {
        use clap::{Args as _, FromArgMatches as _};

        let command = Self::augment_args(clap::Command::new("defaults")).mut_args(|arg| arg.env(None::<&str>));
        let matches = command
            .try_get_matches_from(["defaults"])
            .expect("every flag's default parses");
        Self::from_arg_matches(&matches).expect("every flag's default is a valid value")
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
    /// A timeout is longer than the relay allows.
    #[error("{0} must be at most {1} seconds")]
    TooLong(&'static str, u64),
    /// The Redis heartbeat is too short to be renewed reliably.
    #[error("the Redis heartbeat must be at least 2 seconds")]
    HeartbeatTooShort,
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
            ("the lock limit", self.locks_per_minute as usize),
            ("the room limit", self.max_rooms),
            ("the room limit per address", self.max_rooms_per_address as usize),
            ("the connection limit", self.max_connections),
            (
                "the connection limit per address",
                self.max_connections_per_address as usize,
            ),
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
        // Deadlines are instants plus these durations: an unbounded one would overflow and panic every connection.
        for (name, timeout, max) in [
            ("the handshake timeout", self.handshake_timeout, MAX_HANDSHAKE_TIMEOUT),
            ("the idle timeout", self.idle_timeout, MAX_IDLE_TIMEOUT),
        ] {
            if timeout > max {
                return Err(ConfigError::TooLong(name, max.as_secs()));
            }
        }
        if self.redis_heartbeat < Duration::from_secs(2) {
            return Err(ConfigError::HeartbeatTooShort);
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
        for (handshake, idle) in [
            (Duration::MAX, Duration::from_secs(60)),
            (Duration::from_secs(10), Duration::MAX),
        ] {
            let config = Config {
                handshake_timeout: handshake,
                idle_timeout: idle,
                ..Config::default()
            };
            assert!(matches!(config.validate(), Err(ConfigError::TooLong(..))), "{config:?}");
        }
        let config = Config {
            handshake_timeout: MAX_HANDSHAKE_TIMEOUT,
            idle_timeout: MAX_IDLE_TIMEOUT,
            ..Config::default()
        };
        assert_eq!(config.validate(), Ok(()));
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
