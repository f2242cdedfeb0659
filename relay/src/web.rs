//! The HTTP side: the public routes and the private metrics routes, the security headers on every response, and the
//! upgrade to `/ws`.
//!
//! No route takes a room id: room links keep everything in the fragment, which browsers never send.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeader;

use crate::app::{App, origin_allowed};
use crate::config::Config;
use crate::connection;
use crate::metrics;
use crate::tally::{Frames, Tally};
use crate::throttle::{AddressKey, NoSlot};

/// Read buffer of each connection; tungstenite allocates it up front, so it dominates an idle connection's memory.
const READ_BUFFER_BYTES: usize = 2 * 1024;
/// Bytes tungstenite gathers before writing to the socket; frames are also flushed whenever the queue runs dry.
///
/// With TCP_NODELAY every write leaves as its own segment, so a busy connection should write a whole batch at once:
/// at 4 KiB, a room of 200 at 1,000 messages per second had a p99 near twice the bare fan-out's, at 64 KiB the same.
/// The buffer is empty until a burst and costs nothing on an idle connection that never had one; after a burst it
/// keeps its capacity (at most this plus one frame), which `docs/performance.md` weighs.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// The Content-Security-Policy of the web app, with `extra` sources allowed for `connect-src`.
///
/// `trusted-types` names the app's two policies: its own and the sanitizer's.
pub fn content_security_policy(extra: &[String]) -> String {
    let mut connect = String::from("'self'");
    for source in extra {
        connect.push(' ');
        connect.push_str(source.trim_end_matches('/'));
    }
    format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src {connect}; \
         img-src 'self' blob:; media-src blob:; style-src 'self'; font-src 'self'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; \
         trusted-types sanctum dompurify"
    )
}

/// The headers every response carries.
fn security_headers(config: &Config) -> HeaderMap {
    let mut headers = HeaderMap::new();
    // `validate` restricts connect-src entries to origin characters, so the value is always a valid header.
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(&config.connect_src)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers
}

/// Adds the security headers to a response, whichever route or error produced it.
async fn with_security_headers(State(headers): State<Arc<HeaderMap>>, request: Request, next: Next) -> Response {
    // Browsers load ES modules only with a JavaScript type, and `.mjs` is not always guessed as one.
    let module = request.uri().path().ends_with(".mjs");
    let mut response = next.run(request).await;
    if module && response.status().is_success() {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript"));
    }
    for (name, value) in headers.iter() {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

/// The relay's routes.
pub(crate) fn router(app: Arc<App>) -> Router {
    let headers = Arc::new(security_headers(&app.config));
    let router = Router::new().route("/ws", get(upgrade)).route("/healthz", get(healthz));
    let router = match &app.config.web_dir {
        Some(dir) => router.fallback_service(static_files(dir)),
        None => router.fallback(|| async { (StatusCode::NOT_FOUND, "not found") }),
    };
    router
        .layer(middleware::from_fn_with_state(headers, with_security_headers))
        .with_state(app)
}

/// The private listener's routes: `/metrics` and `/healthz`, nothing a browser loads.
///
/// The counters tell recipients per broadcast, size buckets and failed joins, which is the operator's business and
/// no one else's, so they are never on the public listener.
pub(crate) fn metrics_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .layer(middleware::from_fn_with_state(
            Arc::new(security_headers(&app.config)),
            with_security_headers,
        ))
        .with_state(app)
}

/// The web app's files, with the gzip or brotli variant that `cargo xtask build-web` wrote beside each one when the
/// request's Accept-Encoding takes it (brotli first, it is smaller), and the file itself otherwise.
fn static_files(dir: &std::path::Path) -> SetResponseHeader<ServeDir, HeaderValue> {
    let files = ServeDir::new(dir).precompressed_br().precompressed_gzip();
    SetResponseHeader::appending(files, header::VARY, HeaderValue::from_static("accept-encoding"))
}

/// `200 ok` while the relay serves rooms; `503` while its Redis backplane is lost.
async fn healthz(State(app): State<Arc<App>>) -> impl IntoResponse {
    if app.registry.is_available() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "backplane unavailable")
    }
}

async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        app.metrics.render(),
    )
}

/// The `Sec-WebSocket-Key` of a valid upgrade request (RFC 6455 §4.2.1), or `None`.
fn websocket_key(headers: &HeaderMap) -> Option<&HeaderValue> {
    let has_token = |name: HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value
                .to_str()
                .is_ok_and(|value| value.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let version_13 = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes() == b"13");
    (has_token(header::CONNECTION, "upgrade") && has_token(header::UPGRADE, "websocket") && version_13)
        .then(|| headers.get(header::SEC_WEBSOCKET_KEY))
        .flatten()
}

/// Upgrades `/ws` by hand rather than through axum's `WebSocketUpgrade`, so that the socket under tungstenite is a
/// [`Tally`], which counts every frame the client sends.
async fn upgrade(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    let headers = request.headers();
    if !origin_allowed(headers, &app.origins) {
        tracing::debug!("refused an upgrade from a foreign origin");
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let Some(key) = websocket_key(headers) else {
        return (StatusCode::BAD_REQUEST, "not a WebSocket version 13 upgrade").into_response();
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let Some(on_upgrade) = request.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        return (StatusCode::BAD_REQUEST, "this connection cannot be upgraded").into_response();
    };
    let headers = request.headers();
    let config = &app.config;
    let address = AddressKey::of_client(peer, headers, &config.trusted_proxies, &app.forwarded_header);
    // Counted before the upgrade: a refused connection never becomes a WebSocket, so one address cannot hold every
    // slot, and nothing over the limit lives on uncounted.
    let permit = match app.slots.try_acquire(address) {
        Ok(permit) => permit,
        Err(limit) => {
            let (counter, status) = match limit {
                NoSlot::Relay => (&app.metrics.upgrades_refused_relay, StatusCode::SERVICE_UNAVAILABLE),
                NoSlot::Address => (&app.metrics.upgrades_refused_address, StatusCode::TOO_MANY_REQUESTS),
            };
            metrics::add(counter, 1);
            tracing::debug!(
                status = status.as_u16(),
                "refused an upgrade over the connection limits"
            );
            return (status, [(header::RETRY_AFTER, "10")], "too many connections").into_response();
        }
    };
    // No extension is negotiated, so permessage-deflate stays off: compression next to secrets invites
    // length side channels, and inflating costs memory the frame limit would not bound.
    let socket_config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(WRITE_BUFFER_BYTES + 2 * config.max_frame_bytes)
        .max_message_size(Some(config.max_frame_bytes))
        .max_frame_size(Some(config.max_frame_bytes));
    let tracker = app.tracker.clone();
    tracker.spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let frames = Arc::new(Frames::default());
        let io = Tally::new(TokioIo::new(upgraded), frames.clone());
        let socket = WebSocketStream::from_raw_socket(io, Role::Server, Some(socket_config)).await;
        connection::serve(socket, frames, app, address, permit).await;
    });
    let Ok(accept) = HeaderValue::from_str(&accept) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONNECTION, HeaderValue::from_static("upgrade")),
            (header::UPGRADE, HeaderValue::from_static("websocket")),
            (header::SEC_WEBSOCKET_ACCEPT, accept),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_is_exactly_the_designed_policy() {
        assert_eq!(
            content_security_policy(&[]),
            "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; \
             img-src 'self' blob:; media-src blob:; style-src 'self'; font-src 'self'; base-uri 'none'; \
             form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; \
             trusted-types sanctum dompurify"
        );
        assert!(
            content_security_policy(&["wss://relay.example.org/".into()])
                .contains("connect-src 'self' wss://relay.example.org;")
        );
    }
}
