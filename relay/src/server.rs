//! The HTTP accept loop: hyper with a header read timeout, so that a request whose headers never finish is dropped.
//!
//! `axum::serve` gives hyper no timer, and a connection that never finishes its request (a slowloris upgrade, a silent
//! TCP connection) would hold a socket for as long as its peer likes. This loop is `axum::serve` with that one gap
//! closed: hyper's `header_read_timeout` bounds the wait for every request's headers, the upgrade included.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// Pause after a failed accept, such as running out of file descriptors, so the loop does not spin on the error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `shutdown` resolves, then waits for every HTTP connection to finish.
///
/// Upgraded WebSocket connections are not HTTP connections any more: the caller tracks and closes them.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
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
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // hyper starts its header timer at the first byte, so a peer that sends nothing at all is bounded here.
            // `peek` waits for a byte (or the end of the stream) without taking it from hyper.
            if !matches!(
                tokio::time::timeout(header_timeout, stream.peek(&mut [0u8; 1])).await,
                Ok(Ok(1..))
            ) {
                return;
            }
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            // A connection error (a reset, a timed-out header) concerns that connection alone.
            let _ = watcher.watch(connection.into_owned()).await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
