//! Graceful shutdown: every member is told the relay is restarting (close 1012), and `run` returns, within a deadline
//! even when a peer never reads what it asked for.

use sanctum_testkit::keys::RoomKeys;
use sanctum_testkit::relay::{TestRelay, roomy_config};

#[tokio::test]
async fn shutdown_closes_every_member_with_1012_and_run_returns() {
    let relay = TestRelay::start(roomy_config()).await;
    let addr = relay.addr;
    let [alice, bob] = relay.populated_room(&RoomKeys::seeded(1)).await;
    // A connection that has not joined yet is closed the same way.
    let lurker = relay.connect().await;

    let readers = [alice, bob, lurker].map(|mut client| tokio::spawn(async move { client.until_close().await }));
    assert!(relay.stop().await.is_ok());
    for reader in readers {
        assert_eq!(reader.await.unwrap(), (vec![], Some(1012)));
    }
    // Nothing listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_download_that_is_never_read() {
    let web = std::env::temp_dir().join(format!("sanctum-shutdown-web-{}", std::process::id()));
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("big.bin"), vec![7u8; 32 << 20]).unwrap();
    let relay = TestRelay::start(sanctum_relay::Config {
        web_dir: Some(web.clone()),
        ..roomy_config()
    })
    .await;
    // A client with a small receive buffer asks for a large file and never reads it, so the response never drains.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(relay.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, b"GET /big.bin HTTP/1.1\r\nhost: relay\r\n\r\n")
        .await
        .unwrap();
    // The response has started: the relay is serving it when the shutdown comes.
    let mut head = [0u8; 64];
    let n = tokio::io::AsyncReadExt::read(&mut stream, &mut head).await.unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 200"));
    // `stop` fails the test if `run` has not returned within its deadline, well past the shutdown's grace.
    assert!(relay.stop().await.is_ok());
    drop(stream);
    std::fs::remove_dir_all(web).unwrap();
}
