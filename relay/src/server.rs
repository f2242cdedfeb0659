//! The HTTP accept loop: HTTP/1.1 only, with one deadline on everything a connection sends before its request.
//!
//! `axum::serve` gives hyper no timer, so a connection that never finishes its request (a slowloris upgrade, a silent
//! TCP connection) would hold a socket for as long as its peer likes. This loop is `axum::serve` with that gap closed:
//! hyper's `header_read_timeout` starts when the connection is accepted (and again whenever a kept-alive connection
//! waits for its next request) and bounds everything until the request's headers are in, the upgrade's included.
//!
//! It speaks HTTP/1.1 alone. The relay needs nothing else: a WebSocket upgrade is HTTP/1.1, and the proxy in front
//! of it talks HTTP/1.1 to it. Serving HTTP/2 as well meant guessing the version from the first bytes, a wait that
//! no timer bounded, so that a lone `P` or an HTTP/2 preface held a connection forever.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// Pause after a failed accept, such as running out of file descriptors, so the loop does not spin on the error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `shutdown` resolves, then lets every HTTP connection finish its request,
/// for at most `grace`.
///
/// Upgraded WebSocket connections are not HTTP connections any more: the caller tracks and closes them.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    grace: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
    let stop = CancellationToken::new();
    // A `JoinSet` and not a `TaskTracker`: connections still open when the grace runs out are aborted with it.
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // Frames are small and latency matters: without TCP_NODELAY a frame can wait for the peer's delayed ACK of
        // the previous one (about 5 ms at the median in `cargo xtask bench`, against 0.15 ms with it).
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            router.clone().oneshot(request)
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
        let stop = stop.clone();
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            // A connection error (a reset, a timed-out header) concerns that connection alone.
            tokio::select! {
                _ = connection.as_mut() => return,
                () = stop.cancelled() => {}
            }
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        });
    }
    drop(listener);
    stop.cancel();
    // A response that never drains (a peer that stopped reading a large file) must not hold the shutdown up.
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, drained).await.is_err() {
        connections.abort_all();
    }
}
