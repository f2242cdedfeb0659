//! `sanctum-relay`: parses flags (with `SANCTUM_*` environment fallbacks), binds, and runs the relay library.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use sanctum_relay::Config;
use tracing_subscriber::EnvFilter;

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

    #[command(flatten)]
    config: Config,
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
    let filter = EnvFilter::try_new(&args.log).context("invalid --log filter")?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let listen = args.listen;
    let config = args.config;
    config.validate().context("invalid configuration")?;
    let listener = sanctum_relay::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    println!("sanctum-relay listening on http://{local}");
    sanctum_relay::run(listener, config, shutdown_signal()).await?;
    Ok(())
}
