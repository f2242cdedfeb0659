//! Graceful shutdown: every member is told the relay is restarting (close 1012) and `run` returns.

mod common;

use common::{Relay, RoomKeys, roomy_config};

#[tokio::test]
async fn shutdown_closes_every_member_with_1012_and_run_returns() {
    let relay = Relay::start(roomy_config()).await;
    let addr = relay.addr;
    let [alice, bob] = relay.populated_room(&RoomKeys::new(1)).await;
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
