//! End to end through a real relay: three native clients chat, whisper, leave and rejoin, and the relay's frames
//! never carry a plaintext, an alias, a room name or the password.

use sanctum_client::rand_core::OsRng;
use sanctum_client::{EndReason, Event, LeaveReason, RoomLink, RoomSecrets, decode_resume};
use sanctum_protocol::{ClientFrame, RelayFrame};
use sanctum_relay::Config;
use sanctum_testkit::native::{
    Command, NativeClient, Wire, accepted, joined, kick, message, now_ms, purge, three_in_a_room,
};
use sanctum_testkit::relay::TestRelay;

const PASSWORD: &str = "velvet orbit cactus thunder quietly";
const ROOM_NAME: &str = "Lighthouse Keepers Guild";
const ALIASES: [&str; 3] = ["Quokka-Alice", "Pangolin-Bob", "Axolotl-Carol"];
const GROUP_TEXT: &str = "the heron flies at midnight";
const WHISPER_TEXT: &str = "meet me by the old mill";
const FAREWELL: &str = "farewell, lanternfolk";
const AFTER_REJOIN: &str = "welcome back to the lighthouse";

/// Every byte string an observer of the relay's traffic could search: the frame texts and the decoded payloads.
fn observed(wires: &[Wire]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for wire in wires {
        for text in wire.received.iter().chain(&wire.sent) {
            out.push(text.as_bytes().to_vec());
            if let Ok(RelayFrame::Frame { payload, .. }) = RelayFrame::decode(text) {
                out.push(payload.as_bytes().to_vec());
            }
            if let Ok(RelayFrame::Joined { descriptor, .. }) = RelayFrame::decode(text) {
                out.push(descriptor.as_bytes().to_vec());
            }
            if let Ok(ClientFrame::Broadcast { payload } | ClientFrame::Direct { payload, .. }) =
                ClientFrame::decode(text)
            {
                out.push(payload.as_bytes().to_vec());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_clients_chat_whisper_leave_and_rejoin_through_a_real_relay() -> anyhow::Result<()> {
    let relay = TestRelay::start(Config::default()).await;
    let link = RoomLink::generate(&mut OsRng, 600, now_ms())?;
    let secrets = RoomSecrets::derive(&link, PASSWORD)?;
    let [alice_alias, bob_alias, carol_alias] = ALIASES;

    let mut alice = NativeClient::start(relay.addr, &secrets, alice_alias, Some(ROOM_NAME)).await?;
    alice.expect("alice in the room", joined).await?;
    let mut bob = NativeClient::start(relay.addr, &secrets, bob_alias, None).await?;
    let bob_joined = bob.expect("bob in the room", joined).await?;
    assert!(matches!(bob_joined, Event::Joined { ref room_name, .. } if room_name == ROOM_NAME));
    bob.expect("bob accepts alice", accepted(alice_alias)).await?;
    alice.expect("alice accepts bob", accepted(bob_alias)).await?;
    let mut carol = NativeClient::start(relay.addr, &secrets, carol_alias, None).await?;
    carol.expect("carol in the room", joined).await?;
    carol.expect("carol accepts alice", accepted(alice_alias)).await?;
    carol.expect("carol accepts bob", accepted(bob_alias)).await?;
    alice.expect("alice accepts carol", accepted(carol_alias)).await?;
    bob.expect("bob accepts carol", accepted(carol_alias)).await?;

    alice.command(Command::Text(GROUP_TEXT.into()));
    bob.expect("bob reads alice", message(GROUP_TEXT, false)).await?;
    carol.expect("carol reads alice", message(GROUP_TEXT, false)).await?;

    let carol_id = carol
        .member()
        .ok_or_else(|| anyhow::anyhow!("carol has no member id"))?;
    bob.command(Command::Whisper(carol_id, WHISPER_TEXT.into()));
    carol
        .expect("carol reads bob's whisper", message(WHISPER_TEXT, true))
        .await?;

    // Carol leaves with a farewell; the others see it and move to a new generation without her.
    carol.command(Command::Leave(FAREWELL.into()));
    for who in [&mut alice, &mut bob] {
        who.expect(
            "carol's farewell",
            |e| matches!(e, Event::MemberLeft { reason: LeaveReason::Left { farewell }, .. } if farewell == FAREWELL),
        )
        .await?;
    }
    let (carol_events, carol_wire) = carol.finished().await;
    assert!(carol_events.iter().any(|e| matches!(e, Event::Ended { .. })));

    // Carol rejoins as a new session from a resume blob, and reads only what is sent after.
    let blob = sanctum_client::encode_resume(&secrets, carol_alias)?;
    let (resumed, alias) = decode_resume(&blob, now_ms())?;
    let mut carol2 = NativeClient::start(relay.addr, &resumed, &alias, None).await?;
    carol2.expect("carol back in the room", joined).await?;
    carol2
        .expect("carol accepts alice again", accepted(alice_alias))
        .await?;
    carol2.expect("carol accepts bob again", accepted(bob_alias)).await?;
    alice
        .expect("alice accepts carol's new session", accepted(carol_alias))
        .await?;
    bob.expect("bob accepts carol's new session", accepted(carol_alias))
        .await?;
    alice.command(Command::Text(AFTER_REJOIN.into()));
    carol2
        .expect("carol reads the new message", message(AFTER_REJOIN, false))
        .await?;
    bob.expect("bob reads the new message", message(AFTER_REJOIN, false))
        .await?;

    let mut wires = vec![carol_wire];
    let mut texts = Vec::new();
    for client in [alice, bob, carol2] {
        client.command(Command::Leave(String::new()));
        let (events, wire) = client.finished().await;
        assert!(
            !events.iter().any(|e| matches!(e, Event::CouldNotVerify { .. })),
            "{events:?}"
        );
        texts.push(
            events
                .iter()
                .filter_map(|e| match e {
                    Event::Message { text, .. } => Some(text.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        );
        wires.push(wire);
    }
    assert_eq!(
        texts[0],
        Vec::<String>::new(),
        "alice read neither her own messages nor bob's whisper to carol"
    );
    assert_eq!(texts[1], vec![GROUP_TEXT.to_string(), AFTER_REJOIN.to_string()]);
    assert_eq!(
        texts[2],
        vec![AFTER_REJOIN.to_string()],
        "the rejoined session reads nothing sent before it joined"
    );
    check_wire(&wires);
    relay.stop().await?;
    Ok(())
}

/// Asserts that nothing the relay carried holds a plaintext, alias, room name or the password, in any encoding a
/// careless client might have used (in the JSON text, or as raw bytes inside a payload or descriptor).
fn check_wire(wires: &[Wire]) {
    assert!(wires.iter().any(|w| !w.received.is_empty() && !w.sent.is_empty()));
    let needles: Vec<&str> = [GROUP_TEXT, WHISPER_TEXT, FAREWELL, AFTER_REJOIN, ROOM_NAME, PASSWORD]
        .into_iter()
        .chain(ALIASES)
        .collect();
    for haystack in observed(wires) {
        for needle in &needles {
            assert!(
                !haystack.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "the relay's traffic contains {needle:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_kick_and_purge_through_a_real_relay() -> anyhow::Result<()> {
    let relay = TestRelay::start(Config::default()).await;
    let link = RoomLink::generate(&mut OsRng, 600, now_ms())?;
    let secrets = RoomSecrets::derive(&link, PASSWORD)?;
    let [mut alice, mut bob, mut carol] = three_in_a_room([relay.addr; 3], &secrets, ALIASES, ROOM_NAME).await?;

    // Three chunks, two of them in the largest padding bucket: the relay's default frame limit carries them.
    let file: Vec<u8> = (0..(2 * sanctum_client::CHUNK_LEN + 4321))
        .map(|i| (i % 253) as u8)
        .collect();
    alice.command(Command::Attachment(
        "map.bin".into(),
        "application/octet-stream".into(),
        file.clone(),
    ));
    for who in [&mut bob, &mut carol] {
        let got = who
            .expect("the attachment", |e| matches!(e, Event::Attachment { .. }))
            .await?;
        assert!(matches!(got, Event::Attachment { ref name, ref bytes, .. } if name == "map.bin" && *bytes == file));
    }

    // Alice kicks carol: carol's session ends, bob drops her and keeps talking with alice.
    let carol_events = kick(&mut alice, carol, &mut bob, GROUP_TEXT).await?;
    assert!(!carol_events.iter().any(|e| matches!(e, Event::Message { .. })));

    // Bob purges: both sessions end, and the relay refuses the room from then on.
    let bob_events = purge(bob, alice, relay.addr, &secrets).await?;
    assert!(bob_events.iter().any(|e| matches!(
        e,
        Event::Ended {
            reason: EndReason::Purged { .. }
        }
    )));
    relay.stop().await?;
    Ok(())
}
