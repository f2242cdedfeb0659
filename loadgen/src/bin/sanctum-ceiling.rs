//! The ceiling server binary: binds, prints its address on stdout, and fans out until SIGINT or SIGTERM.

use anyhow::Context as _;
use clap::Parser;

/// Bare tokio-tungstenite fan-out used by the bench as the machine's practical limit.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    // The bench reads this one line to find the server, exactly as it does for the relay.
    println!("sanctum-ceiling listening on http://{}", listener.local_addr()?);
    sanctum_loadgen::ceiling::run(listener, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(terminate) => terminate,
        Err(_) => {
            let _ = interrupt.await;
            return;
        }
    };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
}
