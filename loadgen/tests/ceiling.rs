//! End-to-end checks of the load generator against the ceiling server, both on loopback in this process.

use std::time::Duration;

use sanctum_loadgen::{Load, RunConfig, Session, ceiling};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

async fn start_ceiling() -> (String, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let url = format!("ws://{}/ws", listener.local_addr().expect("local address"));
    let stop = CancellationToken::new();
    let shutdown = stop.clone();
    tokio::spawn(async move { ceiling::run(listener, async move { shutdown.cancelled().await }).await });
    (url, stop)
}

fn config(url: String, rooms: usize, members: usize, load: Load) -> RunConfig {
    RunConfig {
        url,
        rooms,
        members,
        payload_len: 1024,
        load,
        warmup: Duration::from_millis(50),
        duration: Duration::from_millis(300),
        drain: Duration::from_secs(10),
        connect_concurrency: 16,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturated_rooms_deliver_everything_in_order() {
    let (url, stop) = start_ceiling().await;
    let mut session = Session::setup(config(url, 3, 4, Load::Saturated { window: 4 }))
        .await
        .expect("rooms set up");
    assert_eq!(session.connections(), 12);
    let mut events = Vec::new();
    let report = session.traffic(|event| events.push(event)).await;
    session.close().await;
    stop.cancel();

    assert_eq!(events.len(), 2, "window start and end are announced");
    assert!(report.sent > 0 && report.window_delivered > 0, "{report:?}");
    // Each broadcast reaches the three other members of its room and nobody else.
    assert_eq!(report.expected, report.sent * 3, "{report:?}");
    assert!(report.is_clean(), "{report:?}");
    assert!(report.latency.count > 0 && report.latency.p50_us > 0.0, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_rate_sends_about_the_rate_asked_for() {
    let (url, stop) = start_ceiling().await;
    let mut session = Session::setup(config(url, 1, 5, Load::Rate { per_second: 200.0 }))
        .await
        .expect("room set up");
    let report = session.traffic(|_| {}).await;
    session.close().await;
    stop.cancel();

    assert!(report.is_clean(), "{report:?}");
    // About 60 broadcasts in 300 ms; the window's real length is what counts, and a tick or two may slip either way.
    let asked = 200.0 * report.window_secs;
    assert!((report.window_sent as f64 - asked).abs() <= 10.0, "{report:?}");
    assert_eq!(report.expected, report.sent * 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_stay_connected_and_send_nothing() {
    let (url, stop) = start_ceiling().await;
    let mut session = Session::setup(config(url, 5, 4, Load::Idle))
        .await
        .expect("rooms set up");
    let report = session.traffic(|_| {}).await;
    session.close().await;
    stop.cancel();

    assert_eq!(report.connections, 20);
    assert_eq!(
        (report.sent, report.delivered, report.disconnected),
        (0, 0, 0),
        "{report:?}"
    );
}

#[tokio::test]
async fn a_server_that_is_not_there_is_a_setup_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let url = format!("ws://{}/ws", listener.local_addr().expect("local address"));
    drop(listener);
    let error = Session::setup(config(url, 1, 2, Load::Idle))
        .await
        .expect_err("nothing listens");
    assert!(error.to_string().contains("connect failed"), "{error}");
}

#[tokio::test]
async fn impossible_configurations_are_refused() {
    let url = "ws://127.0.0.1:9/ws".to_owned();
    let mut too_big = config(url.clone(), 1, 2, Load::Idle);
    too_big.payload_len = sanctum_protocol::MAX_PAYLOAD_LEN + 1;
    assert!(Session::setup(too_big).await.is_err());
    assert!(
        Session::setup(config(url.clone(), 1, 1, Load::Saturated { window: 1 }))
            .await
            .is_err()
    );
    assert!(
        Session::setup(config(url, 1, 2, Load::Rate { per_second: 0.0 }))
            .await
            .is_err()
    );
}
