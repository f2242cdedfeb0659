//! The real `sanctum` binary in `--json` mode against a real relay, with a native client as the other member:
//! chat both ways, whispers both ways, a file each way, and the terminal member's purge ends the other's room.

use std::process::Stdio;
use std::time::Duration;

use sanctum_client::{AttachmentDrop, EndReason, Event, RoomLink, RoomSecrets};
use sanctum_relay::Config;
use sanctum_testkit::native::{Command, NativeClient, now_ms};
use sanctum_testkit::relay::TestRelay;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

const PASSWORD: &str = "velvet orbit cactus thunder quietly";
const DEADLINE: Duration = Duration::from_secs(30);

/// A `sanctum --json` process: commands in, events out.
struct Sanctum {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    seen: Vec<Value>,
    backlog: Vec<Value>,
}

impl Sanctum {
    /// Starts `sanctum ARGS --json` and writes the password as stdin's first line.
    async fn start(args: &[&str], password: &str) -> anyhow::Result<Self> {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sanctum"))
            .args(args)
            .arg("--json")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let mut stdin = child.stdin.take().ok_or_else(|| anyhow::anyhow!("no stdin"))?;
        let stdout = BufReader::new(child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?).lines();
        stdin.write_all(format!("{password}\n").as_bytes()).await?;
        Ok(Self {
            child,
            stdin,
            stdout,
            seen: Vec::new(),
            backlog: Vec::new(),
        })
    }

    async fn command(&mut self, command: Value) -> anyhow::Result<()> {
        self.stdin.write_all(format!("{command}\n").as_bytes()).await?;
        Ok(())
    }

    /// Waits for an event line matching `want`, failing after [`DEADLINE`].
    async fn expect(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
        if let Some(at) = self.backlog.iter().position(&want) {
            return Ok(self.backlog.remove(at));
        }
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let line = tokio::time::timeout_at(deadline, self.stdout.next_line())
                .await
                .map_err(|_| anyhow::anyhow!("timed out waiting for {what}; saw {:?}", self.seen))??
                .ok_or_else(|| anyhow::anyhow!("sanctum exited while waiting for {what}; saw {:?}", self.seen))?;
            assert!(
                !line
                    .chars()
                    .any(|c| c.is_control() || ('\u{2066}'..='\u{2069}').contains(&c) || c == '\u{202e}'),
                "a raw control character reached stdout: {line:?}"
            );
            let value: Value = serde_json::from_str(&line)?;
            self.seen.push(value.clone());
            if want(&value) {
                return Ok(value);
            }
            self.backlog.push(value);
        }
    }
}

fn is(event: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["event"] == event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_member_chats_whispers_trades_files_and_purges_with_a_native_member() -> anyhow::Result<()> {
    let relay = TestRelay::start(Config::default()).await;
    let url = format!("ws://{}/ws", relay.addr);
    let mut alice = Sanctum::start(
        &[
            "create",
            "--alias",
            "alice",
            "--name",
            "Night shift",
            "--lifetime",
            "10m",
            "--relay",
            &url,
        ],
        PASSWORD,
    )
    .await?;
    let joined = alice.expect("alice's joined", is("joined")).await?;
    assert_eq!(joined["room_name"], "Night shift");
    let link = joined["link"].as_str().unwrap_or_default().to_owned();
    assert!(link.starts_with(&format!("http://{}/#v1.", relay.addr)), "{link}");
    let alice_id = joined["member"].as_u64().unwrap_or_default() as u32;

    let parsed = RoomLink::parse(&link, now_ms())?;
    let secrets = RoomSecrets::derive(&parsed, PASSWORD)?;
    let mut bob = NativeClient::start(relay.addr, &secrets, "bob", None).await?;
    bob.expect(
        "bob joined",
        |e| matches!(e, Event::Joined { room_name, .. } if room_name == "Night shift"),
    )
    .await?;
    bob.expect(
        "bob accepts alice",
        |e| matches!(e, Event::MemberAccepted(i) if i.alias == "alice"),
    )
    .await?;
    let bob_joined = alice
        .expect("alice accepts bob", |v| {
            v["event"] == "member_joined" && v["alias"] == "bob"
        })
        .await?;
    let bob_id = bob_joined["member"].as_u64().unwrap_or_default();
    assert_eq!(bob_joined["fingerprint"].as_str().map(str::len), Some(24));

    // Chat both ways; a hostile text reaches the script's JSON intact but escaped.
    alice
        .command(json!({"cmd": "send", "text": "<b>hello</b> from the terminal"}))
        .await?;
    bob.expect(
        "alice's message",
        |e| matches!(e, Event::Message { text, whisper: false, .. } if text == "<b>hello</b> from the terminal"),
    )
    .await?;
    let hostile = "hi \u{1b}]0;owned\u{7} \u{202e}txt.exe";
    bob.command(Command::Text(hostile.into()));
    let got = alice
        .expect("bob's message", |v| v["event"] == "message" && v["whisper"] == false)
        .await?;
    assert_eq!(got["text"], hostile);
    assert_eq!(got["alias"], "bob");

    // Whispers both ways.
    alice
        .command(json!({"cmd": "whisper", "to": bob_id, "text": "psst, bob"}))
        .await?;
    bob.expect(
        "alice's whisper",
        |e| matches!(e, Event::Message { text, whisper: true, .. } if text == "psst, bob"),
    )
    .await?;
    bob.command(Command::Whisper(alice_id, "psst, alice".into()));
    let whisper = alice
        .expect("bob's whisper", |v| v["event"] == "message" && v["whisper"] == true)
        .await?;
    assert_eq!(whisper["text"], "psst, alice");

    // A file each way: 100 KiB is four chunks, paced under the relay's rate.
    let dir = tempfile::tempdir()?;
    let outgoing: Vec<u8> = (0..100 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, &outgoing)?;
    alice.command(json!({"cmd": "attach", "path": path})).await?;
    let sending = alice.expect("sending", is("sending")).await?;
    assert_eq!(sending["size"], outgoing.len());
    let Event::Attachment { name, mime, bytes, .. } = bob
        .expect("alice's file", |e| matches!(e, Event::Attachment { .. }))
        .await?
    else {
        unreachable!()
    };
    assert_eq!((name.as_str(), mime.as_str()), ("report.pdf", "application/pdf"));
    assert_eq!(bytes, outgoing);
    let sent = alice.expect("sent", is("sent_attachment")).await?;
    assert_eq!(sent["name"], "report.pdf");

    let incoming = b"a picture, in a manner of speaking".to_vec();
    bob.command(Command::Attachment(
        "../../etc/passwd".into(),
        "image/png".into(),
        incoming.clone(),
    ));
    let attachment = alice.expect("bob's file", is("attachment")).await?;
    assert_eq!(attachment["name"], "../../etc/passwd");
    assert_eq!(attachment["size"], incoming.len());
    let saved = dir.path().join("saved.png");
    assert!(!saved.exists(), "nothing is written before the user asks");
    alice
        .command(json!({"cmd": "save", "index": attachment["index"], "path": saved}))
        .await?;
    alice.expect("saved", is("saved")).await?;
    assert_eq!(std::fs::read(&saved)?, incoming);
    alice
        .command(json!({"cmd": "save", "index": attachment["index"], "path": saved}))
        .await?;
    let refused = alice.expect("a second save refused", is("error")).await?;
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("could not save"),
        "{refused}"
    );

    // A file whispered to bob alone.
    let secret = dir.path().join("only-bob.txt");
    std::fs::write(&secret, b"for your eyes only")?;
    alice
        .command(json!({"cmd": "attach", "path": secret, "to": bob_id}))
        .await?;
    bob.expect("the whispered file", |e| {
        matches!(e, Event::Attachment { name, bytes, whisper: true, .. } if name == "only-bob.txt" && bytes == b"for your eyes only")
    })
    .await?;

    // A file stopped on its way: bob, who has part of it, drops it when alice's cancel comes.
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![3u8; 2 * 1024 * 1024])?;
    alice.command(json!({"cmd": "attach", "path": big})).await?;
    alice.expect("sending the big file", is("sending")).await?;
    bob.expect(
        "part of the big file",
        |e| matches!(e, Event::AttachmentProgress { name, .. } if name == "big.bin"),
    )
    .await?;
    alice.command(json!({"cmd": "cancel"})).await?;
    let cancelled = alice.expect("cancelled", is("cancelled")).await?;
    assert_eq!(cancelled["names"], json!(["big.bin"]));
    bob.expect("the big file dropped", |e| {
        matches!(
            e,
            Event::AttachmentDropped {
                reason: AttachmentDrop::Cancelled,
                ..
            }
        )
    })
    .await?;
    alice.command(json!({"cmd": "cancel"})).await?;
    let nothing = alice.expect("nothing left to cancel", is("cancelled")).await?;
    assert_eq!(nothing["names"], json!([]));

    // The members list names bob with his fingerprint.
    alice.command(json!({"cmd": "members"})).await?;
    let members = alice.expect("members", is("members")).await?;
    assert_eq!(members["members"][0]["alias"], "bob");
    assert_eq!(members["me"]["alias"], "alice");

    // Alice's purge ends bob's room, and alice's process ends with it.
    alice.command(json!({"cmd": "purge"})).await?;
    let ended = alice.expect("alice ended", is("ended")).await?;
    assert_eq!(ended["reason"], "purged");
    bob.expect(
        "bob purged",
        |e| matches!(e, Event::Ended { reason: EndReason::Purged { by: Some(by) } } if *by == alice_id),
    )
    .await?;
    let status = tokio::time::timeout(DEADLINE, alice.child.wait()).await??;
    assert!(status.success(), "{status}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_finds_the_relay_at_the_link_origin_refuses_a_wrong_password_and_the_owner_kicks() -> anyhow::Result<()> {
    let relay = TestRelay::start(Config::default()).await;
    let url = format!("ws://{}/ws", relay.addr);
    let mut alice = Sanctum::start(
        &["create", "--alias", "alice", "--lifetime", "5m", "--relay", &url],
        PASSWORD,
    )
    .await?;
    let link = alice.expect("joined", is("joined")).await?["link"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let mut mallory = Sanctum::start(&["join", &link, "--alias", "mallory"], "not the password at all").await?;
    let ended = mallory.expect("refused", is("ended")).await?;
    assert_eq!(ended["reason"], "refused", "{ended}");
    assert!(!tokio::time::timeout(DEADLINE, mallory.child.wait()).await??.success());

    // Carol's alias is "аlice" with a Cyrillic а: the terminal client compares aliases by their UTS #39 skeleton, so
    // both sides flag the look-alike.
    let look_alike = "\u{0430}lice";
    let mut carol = Sanctum::start(&["join", &link, "--alias", look_alike], PASSWORD).await?;
    carol.expect("carol joined", is("joined")).await?;
    let seen_by_carol = carol
        .expect("carol accepts alice", |v| {
            v["event"] == "member_joined" && v["alias"] == "alice"
        })
        .await?;
    let seen_by_alice = alice
        .expect("alice accepts carol", |v| {
            v["event"] == "member_joined" && v["alias"] == look_alike
        })
        .await?;
    assert_eq!(seen_by_carol["duplicate_alias"], true, "{seen_by_carol}");
    assert_eq!(seen_by_alice["duplicate_alias"], true, "{seen_by_alice}");
    carol.command(json!({"cmd": "leave", "farewell": "bye"})).await?;
    let left = alice.expect("carol left", is("member_left")).await?;
    assert_eq!(
        (left["reason"].as_str(), left["farewell"].as_str()),
        (Some("left"), Some("bye"))
    );
    assert!(tokio::time::timeout(DEADLINE, carol.child.wait()).await??.success());

    // The creator owns the room and kicks a member, whose process ends.
    let mut erin = Sanctum::start(&["join", &link, "--alias", "erin"], PASSWORD).await?;
    erin.expect("erin accepts alice", |v| {
        v["event"] == "member_joined" && v["alias"] == "alice"
    })
    .await?;
    let erin_seen = alice
        .expect("alice accepts erin", |v| {
            v["event"] == "member_joined" && v["alias"] == "erin"
        })
        .await?;
    alice
        .command(json!({"cmd": "kick", "member": erin_seen["member"]}))
        .await?;
    let kicked = erin.expect("erin kicked", is("ended")).await?;
    assert_eq!(kicked["reason"], "kicked", "{kicked}");
    let gone = alice
        .expect("erin gone", |v| v["event"] == "member_left" && v["alias"] == "erin")
        .await?;
    assert_eq!(gone["reason"], "kicked");
    assert!(tokio::time::timeout(DEADLINE, erin.child.wait()).await??.success());

    // A weak password never creates a room.
    let mut weak = Sanctum::start(&["create", "--alias", "dave", "--relay", &url], "password1").await?;
    let status = tokio::time::timeout(DEADLINE, weak.child.wait()).await??;
    assert!(!status.success());
    assert!(
        weak.expect("nothing", |_| true).await.is_err(),
        "no event before the refusal"
    );

    // Closing stdin leaves the room with a goodbye.
    drop(alice.stdin);
    assert!(tokio::time::timeout(DEADLINE, alice.child.wait()).await??.success());
    Ok(())
}

/// A TCP proxy in front of the relay that can cut every connection through it at once, as a network failure does.
struct Proxy {
    addr: std::net::SocketAddr,
    cut: tokio::sync::broadcast::Sender<()>,
}

impl Proxy {
    async fn start(target: std::net::SocketAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (cut, _) = tokio::sync::broadcast::channel(1);
        let cuts = cut.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut stop = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                        _ = stop.recv() => {}
                    }
                });
            }
        });
        Ok(Self { addr, cut })
    }

    fn cut(&self) {
        let _ = self.cut.send(());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_rejoins_as_a_new_session_while_the_room_lives() -> anyhow::Result<()> {
    let relay = TestRelay::start(Config::default()).await;
    let proxy = Proxy::start(relay.addr).await?;
    let url = format!("ws://{}/ws", proxy.addr);
    let mut alice = Sanctum::start(
        &["create", "--alias", "alice", "--lifetime", "5m", "--relay", &url],
        PASSWORD,
    )
    .await?;
    let joined = alice.expect("joined", is("joined")).await?;
    let link = joined["link"].as_str().unwrap_or_default().to_owned();
    let secrets = RoomSecrets::derive(&RoomLink::parse(&link, now_ms())?, PASSWORD)?;
    let mut bob = NativeClient::start(relay.addr, &secrets, "bob", None).await?;
    bob.expect(
        "bob accepts alice",
        |e| matches!(e, Event::MemberAccepted(i) if i.alias == "alice"),
    )
    .await?;
    alice
        .expect("alice accepts bob", |v| v["event"] == "member_joined")
        .await?;

    proxy.cut();
    let reconnecting = alice.expect("reconnecting", is("reconnecting")).await?;
    assert_eq!(reconnecting["in_seconds"], 1);
    let again = alice.expect("joined again", is("joined")).await?;
    assert_ne!(
        again["me"]["fingerprint"], joined["me"]["fingerprint"],
        "a new session has new keys"
    );
    assert_ne!(again["member"], joined["member"]);
    bob.expect("the relay's word that alice dropped", |e| {
        matches!(e, Event::MemberLeft { alias, reason: sanctum_client::LeaveReason::RelayReported { reason: sanctum_protocol::LeftReason::Dropped }, .. } if alias == "alice")
    })
    .await?;
    bob.expect(
        "the new alice",
        |e| matches!(e, Event::MemberAccepted(i) if i.alias == "alice"),
    )
    .await?;
    alice
        .expect("bob again", |v| v["event"] == "member_joined" && v["alias"] == "bob")
        .await?;

    alice.command(json!({"cmd": "send", "text": "back again"})).await?;
    bob.expect(
        "alice's message",
        |e| matches!(e, Event::Message { text, .. } if text == "back again"),
    )
    .await?;
    bob.command(Command::Text("welcome back".into()));
    let got = alice.expect("bob's message", |v| v["event"] == "message").await?;
    assert_eq!(got["text"], "welcome back");
    drop(alice.stdin);
    assert!(tokio::time::timeout(DEADLINE, alice.child.wait()).await??.success());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_removes_and_locks_with_a_new_password_and_hands_on_ownership() -> anyhow::Result<()> {
    const NEW_PASSWORD: &str = "tulip granite orbit whisker lantern";
    let relay = TestRelay::start(Config::default()).await;
    let url = format!("ws://{}/ws", relay.addr);
    let mut alice = Sanctum::start(
        &["create", "--alias", "alice", "--lifetime", "5m", "--relay", &url],
        PASSWORD,
    )
    .await?;
    let link = alice.expect("joined", is("joined")).await?["link"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut bob = Sanctum::start(&["join", &link, "--alias", "bob"], PASSWORD).await?;
    let mut carol = Sanctum::start(&["join", &link, "--alias", "carol"], PASSWORD).await?;
    let bob_id = alice
        .expect("alice accepts bob", |v| {
            v["event"] == "member_joined" && v["alias"] == "bob"
        })
        .await?["member"]
        .clone();
    let carol_id = alice
        .expect("alice accepts carol", |v| {
            v["event"] == "member_joined" && v["alias"] == "carol"
        })
        .await?["member"]
        .clone();
    bob.expect("bob accepts carol", |v| {
        v["event"] == "member_joined" && v["alias"] == "carol"
    })
    .await?;

    // A weak password is refused by the rule of a new room, and nothing happens.
    alice
        .command(json!({"cmd": "lock", "member": carol_id, "password": "password1"}))
        .await?;
    let refused = alice.expect("the refusal", is("error")).await?;
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("The room was not locked: this password is too easy to guess")),
        "{refused}"
    );

    alice
        .command(json!({"cmd": "lock", "member": carol_id, "password": NEW_PASSWORD}))
        .await?;
    let new_link = alice.expect("the new link", is("new_link")).await?["link"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        new_link.starts_with(&format!("http://{}/#v1.", relay.addr)),
        "{new_link}"
    );
    assert_ne!(new_link, link);
    let kicked = carol.expect("carol removed", is("ended")).await?;
    assert_eq!(kicked["reason"], "kicked", "{kicked}");
    let locked = bob.expect("bob moved", is("locked")).await?;
    assert_eq!(locked["by"], alice.seen[0]["member"], "{locked}");
    alice.expect("the relay took it", is("lock_confirmed")).await?;

    // The old link and password no longer open the room; the new ones do, and the newcomer finds alice and bob.
    let mut old = Sanctum::start(&["join", &link, "--alias", "carol"], PASSWORD).await?;
    let ended = old.expect("refused", is("ended")).await?;
    assert_eq!(
        (ended["reason"].as_str(), ended["code"].as_str()),
        (Some("refused"), Some("bad_token"))
    );
    let mut dave = Sanctum::start(&["join", &new_link, "--alias", "dave"], NEW_PASSWORD).await?;
    for alias in ["alice", "bob"] {
        dave.expect(alias, |v| v["event"] == "member_joined" && v["alias"] == alias)
            .await?;
    }
    bob.command(json!({"cmd": "send", "text": "after the lock"})).await?;
    dave.expect("bob's message", |v| {
        v["event"] == "message" && v["text"] == "after the lock"
    })
    .await?;

    // Ownership passes to bob: every member sees it, and alice can no longer lock.
    alice.command(json!({"cmd": "transfer", "member": bob_id})).await?;
    for member in [&mut bob, &mut dave] {
        let changed = member.expect("owner changed", is("owner_changed")).await?;
        assert_eq!(changed["owner"], bob_id, "{changed}");
    }
    let dave_id = alice
        .expect("alice accepts dave", |v| {
            v["event"] == "member_joined" && v["alias"] == "dave"
        })
        .await?["member"]
        .clone();
    alice
        .command(json!({"cmd": "lock", "member": dave_id, "password": NEW_PASSWORD}))
        .await?;
    let refused = alice.expect("not the owner", is("error")).await?;
    assert_eq!(
        refused["message"], "The room was not locked: only the room's owner can lock it.",
        "{refused}"
    );
    drop(alice.stdin);
    assert!(tokio::time::timeout(DEADLINE, alice.child.wait()).await??.success());
    Ok(())
}
