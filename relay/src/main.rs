//! `sanctum-relay`: parses flags (with `SANCTUM_*` environment fallbacks), binds, and runs the relay library.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use sanctum_relay::Config;
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::prelude::*;

/// Sanctum's relay: routes opaque end-to-end encrypted frames between the members of ephemeral rooms.
///
/// Rooms live in memory only; nothing is written to disk. Terminate TLS in a proxy in front of it.
/// Every limit below has a safe default; per-address limits count IPv6 clients by /64.
#[derive(Debug, Parser)]
#[command(name = "sanctum-relay", version)]
struct Args {
    /// Address to listen on, IPv4 or IPv6; `[::]:PORT` accepts both. Port 0 picks a free port.
    #[arg(long, env = "SANCTUM_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Log filter (tracing EnvFilter syntax). The default keeps dependencies at warn, so no library logs frames.
    #[arg(long, env = "SANCTUM_LOG", default_value = "warn,sanctum_relay=info")]
    log: String,

    /// Address for `/metrics` (Prometheus text) and `/healthz`, apart from the public listener, e.g. `127.0.0.1:9100`;
    /// keep it private. Without it no metrics are served.
    #[arg(long, env = "SANCTUM_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,

    #[command(flatten)]
    config: Config,
}

/// The crate whose events `--log` may turn up to trace: the relay's own, which never logs a frame's content.
const OWN_TARGET: &str = "sanctum_relay";

/// Whether an event passes whatever `--log` says: the relay's own at any level, every dependency's only at warn
/// and above.
///
/// Dependencies such as tungstenite log every message they read at trace level, content included, so no filter
/// a user writes may reach them. Their `log` records have no way in at all: no `log` bridge is installed (and
/// `tracing-log` is not in the dependency graph, which a test checks).
fn within_pin(target: &str, level: Level) -> bool {
    level <= Level::WARN || target == OWN_TARGET || target.starts_with("sanctum_relay::")
}

/// Logs to stderr, plain text without colour codes (stderr is usually a file or a journal), filtered by `directives`
/// and by [`within_pin`].
fn init_logging(directives: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(directives).context("invalid --log filter")?;
    let pin = filter_fn(|meta| within_pin(meta.target(), *meta.level()));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(filter)
        .with_filter(pin);
    tracing_subscriber::registry().with(layer).init();
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_logging(&args.log)?;
    let listen = args.listen;
    let config = args.config;
    config.validate().context("invalid configuration")?;
    let listener = sanctum_relay::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    let metrics = match args.metrics_listen {
        Some(addr) => Some(sanctum_relay::bind(addr).with_context(|| format!("cannot listen on {addr} for metrics"))?),
        None => None,
    };
    println!("sanctum-relay listening on http://{local}");
    match metrics {
        Some(metrics) => {
            println!("sanctum-relay metrics on http://{}/metrics", metrics.local_addr()?);
            sanctum_relay::run_with_metrics(listener, metrics, config, shutdown_signal()).await?;
        }
        None => sanctum_relay::run(listener, config, shutdown_signal()).await?,
    }
    Ok(())
}
