//! Everything the relay binary writes, run with `--log trace` across a full scenario (a lock included), holds no room
//! id, token, verifier, payload, descriptor or client address, in any encoding.
//!
//! The real binary, not an in-process relay: its own subscriber is what an operator gets, so that a log bridge or a
//! filter that lets a dependency through is caught here. tungstenite, for one, logs every message it reads at trace.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sanctum_protocol::{AUTH_TOKEN_LEN, AuthToken, ClientFrame, Descriptor, Payload, RelayFrame};
use sanctum_testkit::keys::RoomKeys;
use sanctum_testkit::process::RelayProcess;
use sanctum_testkit::relay::TestRelay;

/// Every text form in which `bytes` could leak into a log line.
fn encodings(bytes: &[u8]) -> Vec<String> {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut forms = vec![
        URL_SAFE_NO_PAD.encode(bytes),
        STANDARD.encode(bytes),
        hex.clone(),
        hex.to_uppercase(),
        format!("{bytes:?}"),
        format!("{bytes:?}").replace(' ', ""),
    ];
    // A prefix long enough to be unmistakable, in case a log line truncates.
    forms.push(URL_SAFE_NO_PAD.encode(bytes)[..12.min(bytes.len())].to_owned());
    forms.push(hex[..16.min(hex.len())].to_owned());
    if let Ok(text) = std::str::from_utf8(bytes) {
        forms.push(text.to_owned());
    }
    forms
}

#[tokio::test]
async fn nothing_secret_reaches_the_logs_at_any_level() {
    let client_ip = "198.51.100.77";
    let process = RelayProcess::start(
        env!("CARGO_BIN_EXE_sanctum-relay").as_ref(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--log",
            "trace",
            "--trusted-proxy",
            "127.0.0.1",
            "--frames-per-second",
            "10000",
            "--frame-burst",
            "10000",
        ],
    )
    .await;
    let relay = TestRelay::at(process.addr);
    let room = RoomKeys::seeded(201);
    let payload = b"attack at dawn, bring the maps".to_vec();
    let whisper = b"the password is swordfish".to_vec();

    let mut alice = relay.connect_from(client_ip).await;
    alice.create(&room, 600).await;
    let mut mallory = relay.connect_from(client_ip).await;
    mallory.send(&room.join_with(AuthToken([0xee; AUTH_TOKEN_LEN]))).await;
    assert_eq!(mallory.error().await, "bad_token");
    mallory
        .send_text(&format!(
            "{{\"type\":\"shout\",\"room\":\"{}\"}}",
            URL_SAFE_NO_PAD.encode(room.room.0)
        ))
        .await;
    assert_eq!(mallory.error().await, "bad_frame");
    let mut bob = relay.connect_from(client_ip).await;
    bob.join(&room).await;
    let mut carol = relay.connect_from(client_ip).await;
    carol.join(&room).await;
    alice.broadcast(&payload).await;
    alice
        .send(&ClientFrame::Direct {
            to: 2,
            payload: Payload::new(whisper.clone()).unwrap(),
        })
        .await;
    assert!(matches!(bob.frame().await, RelayFrame::MemberJoined { .. }));
    assert!(matches!(bob.frame().await, RelayFrame::Frame { direct: false, .. }));
    assert!(matches!(bob.frame().await, RelayFrame::Frame { direct: true, .. }));
    alice.send(&ClientFrame::Kick { member: 3 }).await;
    carol.until_close().await;
    let locked = RoomKeys::seeded(202);
    let locked_descriptor = b"descriptor sealed under the new key".to_vec();
    alice
        .send(&ClientFrame::Lock {
            verifier: locked.verifier(),
            descriptor: Descriptor::new(locked_descriptor.clone()).unwrap(),
        })
        .await;
    // Alice has not read the room's notices yet; the answer comes after them.
    while alice.frame().await != RelayFrame::Locked {}
    bob.send(&ClientFrame::Purge).await;
    bob.until_close().await;
    alice.until_close().await;
    let oversize = format!(
        r#"{{"type":"broadcast","payload":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(vec![7u8; 60_000])
    );
    mallory.send_text(&oversize).await;
    mallory.until_close().await;
    let (exit, output) = process.terminate();
    assert!(exit.success(), "{exit:?}");

    // The listening line names the relay's own address, by design; every other line is a log line.
    let logs: String = String::from_utf8_lossy(&output)
        .lines()
        .filter(|line| !line.starts_with("sanctum-relay listening on "))
        .map(|line| format!("{line}\n"))
        .collect();
    // The capture works: the scenario's events are there.
    for event in [
        "relay started",
        "room created",
        "member joined",
        "kind=\"broadcast\"",
        "kind=\"direct\"",
        "kind=\"lock\"",
        "refused a frame",
        "room purged",
        "relay stopped",
    ] {
        assert!(logs.contains(event), "missing event {event:?} in:\n{logs}");
    }
    let mut secrets: Vec<(String, Vec<u8>)> = vec![
        ("room id".into(), room.room.0.to_vec()),
        ("token".into(), room.token.0.to_vec()),
        ("wrong token".into(), vec![0xee; AUTH_TOKEN_LEN]),
        ("verifier".into(), room.verifier().0.to_vec()),
        ("payload".into(), payload),
        ("whisper".into(), whisper),
        ("descriptor".into(), b"sealed descriptor".to_vec()),
        ("new verifier".into(), locked.verifier().0.to_vec()),
        ("new descriptor".into(), locked_descriptor),
    ];
    secrets.push(("client address".into(), client_ip.as_bytes().to_vec()));
    secrets.push(("proxy address".into(), b"127.0.0.1".to_vec()));
    for (what, bytes) in secrets {
        for form in encodings(&bytes) {
            assert!(!logs.contains(&form), "the {what} appears in the logs as {form:?}");
        }
    }
    assert!(!logs.contains('\x1b'), "colour codes in redirected logs:\n{logs}");
}
