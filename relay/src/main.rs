//! `sanctum-relay`: parses flags (with `SANCTUM_*` environment fallbacks), binds, and runs the relay library.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

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

    /// Directory of the static web app, served at `/`. Without it only /ws, /healthz and /metrics are served.
    #[arg(long, env = "SANCTUM_WEB_DIR")]
    web_dir: Option<PathBuf>,

    /// Origin allowed to open /ws from a browser (repeatable, or comma-separated in the environment).
    /// Default: the listen origin, e.g. http://127.0.0.1:8080 and http://localhost:8080.
    #[arg(long = "public-origin", env = "SANCTUM_PUBLIC_ORIGIN", value_delimiter = ',')]
    public_origin: Vec<String>,

    /// Extra source for the Content-Security-Policy's connect-src, when the app talks to a relay elsewhere (repeatable).
    #[arg(long = "connect-src", env = "SANCTUM_CONNECT_SRC", value_delimiter = ',')]
    connect_src: Vec<String>,

    /// Largest room lifetime granted, in seconds; longer requests are clamped.
    #[arg(long, env = "SANCTUM_MAX_LIFETIME", default_value_t = sanctum_relay::DEFAULT_MAX_LIFETIME)]
    max_lifetime: u32,

    /// Seconds before expiry at which members are warned, comma-separated.
    #[arg(
        long,
        env = "SANCTUM_EXPIRY_WARNINGS",
        value_delimiter = ',',
        default_value = "300,60"
    )]
    expiry_warnings: Vec<u32>,

    /// Largest WebSocket frame in bytes; refused at start if below the protocol's largest frame.
    #[arg(long, env = "SANCTUM_MAX_FRAME_BYTES", default_value_t = sanctum_relay::DEFAULT_MAX_FRAME_BYTES)]
    max_frame_bytes: usize,

    /// Largest number of members in one room.
    #[arg(long, env = "SANCTUM_MAX_MEMBERS", default_value_t = sanctum_relay::DEFAULT_MAX_MEMBERS)]
    max_members: u32,

    /// Joins and departures allowed per room per minute (error room_busy beyond).
    #[arg(long, env = "SANCTUM_MAX_MEMBERSHIP_EVENTS", default_value_t = sanctum_relay::DEFAULT_MAX_MEMBERSHIP_EVENTS)]
    max_membership_events: u32,

    /// Largest number of rooms, purged rooms' tombstones included (error too_many_rooms beyond).
    #[arg(long, env = "SANCTUM_MAX_ROOMS", default_value_t = sanctum_relay::DEFAULT_MAX_ROOMS)]
    max_rooms: usize,

    /// Largest number of open WebSocket connections (close 1013 beyond).
    #[arg(long, env = "SANCTUM_MAX_CONNECTIONS", default_value_t = sanctum_relay::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,

    /// Room creations allowed per client address per minute (error rate_limited beyond).
    #[arg(long, env = "SANCTUM_CREATES_PER_MINUTE", default_value_t = sanctum_relay::DEFAULT_CREATES_PER_MINUTE)]
    creates_per_minute: u32,

    /// Failed joins allowed on one connection; later joins on it are refused with rate_limited.
    #[arg(long, env = "SANCTUM_FAILED_JOINS_PER_CONNECTION", default_value_t = sanctum_relay::DEFAULT_FAILED_JOINS_PER_CONNECTION)]
    failed_joins_per_connection: u32,

    /// Failed joins allowed per client address before it waits 1 s, then twice as long after each further
    /// failure (at most 5 minutes), between join attempts; forgotten after 15 quiet minutes.
    #[arg(long, env = "SANCTUM_FAILED_JOINS_PER_ADDRESS", default_value_t = sanctum_relay::DEFAULT_FAILED_JOINS_PER_ADDRESS)]
    failed_joins_per_address: u32,

    /// Bound of each connection's outgoing queue in bytes; a slower reader is cut off with close 4008.
    #[arg(long, env = "SANCTUM_QUEUE_BYTES", default_value_t = sanctum_relay::DEFAULT_QUEUE_BYTES)]
    queue_bytes: usize,

    /// Frames per second one connection may send on average (error rate_limited beyond).
    #[arg(long, env = "SANCTUM_FRAMES_PER_SECOND", default_value_t = sanctum_relay::DEFAULT_FRAMES_PER_SECOND)]
    frames_per_second: u32,

    /// Frames one connection may send at once above its average.
    #[arg(long, env = "SANCTUM_FRAME_BURST", default_value_t = sanctum_relay::DEFAULT_FRAME_BURST)]
    frame_burst: u32,

    /// Refused frames within 10 seconds after which a flooding connection is closed with 4009.
    #[arg(long, env = "SANCTUM_FLOOD_STRIKES", default_value_t = sanctum_relay::DEFAULT_FLOOD_STRIKES)]
    flood_strikes: u32,

    /// Seconds a connection has to send its request headers, then, once upgraded, to create or join a room (close 4010 after).
    #[arg(long, env = "SANCTUM_HANDSHAKE_TIMEOUT", default_value_t = sanctum_relay::DEFAULT_HANDSHAKE_TIMEOUT_SECS)]
    handshake_timeout: u64,

    /// Seconds without a pong to the relay's pings after which a connection is closed with 4010.
    #[arg(long, env = "SANCTUM_IDLE_TIMEOUT", default_value_t = sanctum_relay::DEFAULT_IDLE_TIMEOUT_SECS)]
    idle_timeout: u64,

    /// Proxy whose forwarding header gives the client address for per-address limits (repeatable).
    #[arg(long = "trusted-proxy", env = "SANCTUM_TRUSTED_PROXY", value_delimiter = ',')]
    trusted_proxy: Vec<IpAddr>,

    /// Header a trusted proxy puts the client address in (X-Forwarded-For or Forwarded syntax).
    #[arg(long, env = "SANCTUM_FORWARDED_HEADER", default_value = sanctum_relay::DEFAULT_FORWARDED_HEADER)]
    forwarded_header: String,

    /// Log filter (tracing EnvFilter syntax). The default keeps dependencies at warn, so no library logs frames.
    #[arg(long, env = "SANCTUM_LOG", default_value = "warn,sanctum_relay=info")]
    log: String,
}

impl Args {
    fn config(self) -> Config {
        Config {
            web_dir: self.web_dir,
            public_origins: self.public_origin,
            connect_src: self.connect_src,
            max_lifetime: self.max_lifetime,
            expiry_warnings: self.expiry_warnings,
            max_frame_bytes: self.max_frame_bytes,
            max_members: self.max_members,
            max_membership_events: self.max_membership_events,
            max_rooms: self.max_rooms,
            max_connections: self.max_connections,
            creates_per_minute: self.creates_per_minute,
            failed_joins_per_connection: self.failed_joins_per_connection,
            failed_joins_per_address: self.failed_joins_per_address,
            queue_bytes: self.queue_bytes,
            frames_per_second: self.frames_per_second,
            frame_burst: self.frame_burst,
            flood_strikes: self.flood_strikes,
            handshake_timeout: Duration::from_secs(self.handshake_timeout),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            trusted_proxies: self.trusted_proxy,
            forwarded_header: self.forwarded_header,
        }
    }
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
    let config = args.config();
    config.validate().context("invalid configuration")?;
    let listener = sanctum_relay::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    println!("sanctum-relay listening on http://{local}");
    sanctum_relay::run(listener, config, shutdown_signal()).await?;
    Ok(())
}
