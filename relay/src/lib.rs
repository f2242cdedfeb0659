//! Sanctum's relay: an untrusted router of opaque frames between the members of ephemeral rooms.
//!
//! The relay serves the static web app, `/ws` and `/healthz`, and `/metrics` on a listener of its own; it holds rooms in memory only,
//! fans frames out, enforces lifetime, purge and every limit of [`Config`], and never sees a key or a message.
//! [`run`] and [`run_with_metrics`] take bound listeners, so that tests and the binary share everything but the flags.
//!
//! Code map: `server` accepts HTTP connections; `web` (routes, headers, upgrade) hands each socket to `connection`,
//! which speaks the protocol and calls the `registry`, the seam behind which `room` keeps each room's state and
//! fan-out; `app` is the state they all share, `outbox` a connection's bounded queue, `throttle` the rate limiters,
//! `metrics` the counters.

mod app;
mod backplane;
mod config;
mod connection;
mod error;
mod metrics;
mod outbox;
mod registry;
mod room;
mod server;
mod tally;
mod throttle;
mod web;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{Config, ConfigError, RedisUrl};
pub use error::{Error, Refusal};
pub use web::content_security_policy;

/// How long a shutdown waits for HTTP requests in flight, then again for WebSocket members to take their close frame.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves the relay on `listener` until `shutdown` resolves (or this future is dropped), without metrics.
///
/// On shutdown the listener stops accepting, every WebSocket member receives close 1012 "relay restarting",
/// and `run` returns once every connection is gone (or the shutdown's grace is over).
/// Every room is forgotten: nothing is ever written to disk.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    serve(listener, None, config, shutdown).await
}

/// [`run`], with `/metrics` (and `/healthz`) served on `metrics`, a listener apart from the public one.
///
/// Bind it where only the operator's scraper reaches it, such as `127.0.0.1:9100`.
pub async fn run_with_metrics(
    listener: TcpListener,
    metrics: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    serve(listener, Some(metrics), config, shutdown).await
}

async fn serve(
    listener: TcpListener,
    metrics: Option<TcpListener>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    config.validate()?;
    let local = listener.local_addr()?;
    let cancel = CancellationToken::new();
    // Dropping `run` cancels too, which stops the timer task and closes every connection.
    let _stop_on_drop = cancel.clone().drop_guard();
    let tracker = TaskTracker::new();
    let counters = Arc::new(metrics::Metrics::default());
    let registry = registry::Registry::open(&config, counters.clone(), &cancel).await?;
    let app = Arc::new(app::App::new(
        config,
        registry,
        counters,
        local,
        cancel.clone(),
        tracker.clone(),
    ));
    tracker.spawn(app.registry.clone().run(cancel.clone()));
    let signal = {
        let cancel = cancel.clone();
        async move {
            tokio::select! {
                () = shutdown => {}
                () = cancel.cancelled() => {}
            }
            tracing::info!("shutting down");
            cancel.cancel();
        }
    };
    tracing::info!("relay started");
    // A request's headers get the handshake timeout too; upgraded sockets leave the HTTP server and are tracked
    // separately, since axum's `on_upgrade` spawns them outside its graceful shutdown.
    let header_timeout = app.config.handshake_timeout;
    let private = async {
        if let Some(metrics) = metrics {
            let router = web::metrics_router(app.clone());
            server::serve(metrics, router, header_timeout, SHUTDOWN_GRACE, cancel.cancelled()).await;
        }
    };
    let public = server::serve(
        listener,
        web::router(app.clone()),
        header_timeout,
        SHUTDOWN_GRACE,
        signal,
    );
    tokio::join!(public, private);
    cancel.cancel();
    tracker.close();
    // Every member has been sent its close frame; one that neither reads it nor goes away is not waited for.
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait()).await.is_err() {
        tracing::warn!("connections still open after the shutdown grace");
    }
    tracing::info!("relay stopped");
    Ok(())
}

/// Binds a listening socket on `addr`; an IPv6 wildcard (`[::]`) accepts IPv4 clients too.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};

    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}
