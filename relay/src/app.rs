//! The state every connection shares: the configuration, the room registry, the per-address limits, the metrics,
//! the encoded welcome, the allowed Origins, and the cancellation and tracking of upgraded sockets.
//!
//! It sits apart from `web` (the HTTP side) and `connection` (one socket), which both use it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::http::header::{self, HeaderMap, HeaderName};
use sanctum_protocol::{PROTOCOL_VERSION, RelayFrame, Welcome};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tungstenite::Utf8Bytes;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::throttle::{AddressLimits, ConnectionSlots};

/// Everything a connection needs, shared by all of them.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) config: Config,
    pub(crate) registry: Registry,
    pub(crate) limits: AddressLimits,
    pub(crate) slots: Arc<ConnectionSlots>,
    pub(crate) metrics: Arc<Metrics>,
    /// Origins allowed to open `/ws`, lowercase, without a trailing slash.
    pub(crate) origins: Vec<String>,
    /// The header a trusted proxy names the client in.
    pub(crate) forwarded_header: HeaderName,
    /// The welcome frame, encoded once and shared by every connection.
    pub(crate) welcome: Utf8Bytes,
    pub(crate) cancel: CancellationToken,
    pub(crate) tracker: TaskTracker,
}

impl App {
    /// Shared state for a relay listening on `local` with `config`.
    pub(crate) fn new(
        config: Config,
        registry: Registry,
        metrics: Arc<Metrics>,
        local: SocketAddr,
        cancel: CancellationToken,
        tracker: TaskTracker,
    ) -> Self {
        let origins = if config.public_origins.is_empty() {
            default_origins(local)
        } else {
            config.public_origins.iter().map(|o| normalize_origin(o)).collect()
        };
        let welcome = RelayFrame::Welcome(Welcome {
            v: PROTOCOL_VERSION,
            max_frame: u32::try_from(config.max_frame_bytes).unwrap_or(u32::MAX),
            max_lifetime: config.max_lifetime,
            max_members: config.max_members,
            max_frames_per_second: config.frames_per_second,
            frame_burst: config.frame_burst,
        });
        // `validate` has checked the name; the fallback only keeps this constructor total.
        let forwarded_header = HeaderName::try_from(config.forwarded_header.as_str())
            .unwrap_or(HeaderName::from_static("x-forwarded-for"));
        Self {
            forwarded_header,
            registry,
            limits: AddressLimits::new(config.creates_per_minute, config.failed_joins_per_address),
            slots: ConnectionSlots::new(
                config.max_connections,
                config.max_connections_per_address,
                metrics.clone(),
            ),
            metrics,
            origins,
            welcome: Utf8Bytes::from(welcome.encode()),
            config,
            cancel,
            tracker,
        }
    }
}

fn normalize_origin(origin: &str) -> String {
    origin.trim_end_matches('/').to_ascii_lowercase()
}

/// The listen origin and its loopback equivalents, for when no public origin is configured.
fn default_origins(local: SocketAddr) -> Vec<String> {
    let port = local.port();
    match local.ip() {
        ip if ip.is_unspecified() || ip.is_loopback() => vec![
            format!("http://127.0.0.1:{port}"),
            format!("http://localhost:{port}"),
            format!("http://[::1]:{port}"),
        ],
        IpAddr::V4(ip) => vec![format!("http://{ip}:{port}")],
        IpAddr::V6(ip) => vec![format!("http://[{ip}]:{port}")],
    }
}

/// Whether a request's Origin may open a socket: absent (not a browser) or on the allow-list.
pub(crate) fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    origin
        .to_str()
        .is_ok_and(|origin| allowed.iter().any(|a| *a == normalize_origin(origin)))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn origins_default_to_the_listen_address() {
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert!(default_origins(local).contains(&"http://localhost:8080".to_owned()));
        let local: SocketAddr = "[2001:db8::5]:443".parse().unwrap();
        assert_eq!(default_origins(local), vec!["http://[2001:db8::5]:443".to_owned()]);
        let mut headers = HeaderMap::new();
        assert!(origin_allowed(&headers, &[]));
        headers.insert(header::ORIGIN, HeaderValue::from_static("HTTP://LOCALHOST:8080"));
        assert!(origin_allowed(
            &headers,
            &default_origins("127.0.0.1:8080".parse().unwrap())
        ));
        headers.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!origin_allowed(
            &headers,
            &default_origins("127.0.0.1:8080".parse().unwrap())
        ));
    }
}
