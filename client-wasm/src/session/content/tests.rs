//! Tests of what group messages do: chat, whispers, attachments and purges.

use crate::attachment::{self, AttachmentError, CHUNK_LEN, Upload};
use crate::seal::Kind;
use crate::session::testing::*;
use crate::session::*;

#[test]
fn three_members_chat_and_whisper() {
    let (mut room, a, b, c) = three();
    for (x, others) in [(a, [b, c]), (b, [a, c]), (c, [a, b])] {
        let members = room.clients[x].members();
        assert_eq!(members.len(), 2, "{x}");
        for o in others {
            let info = members.iter().find(|m| m.member == room.member(o)).unwrap();
            assert_eq!(info.alias, room.clients[o].alias());
            assert_eq!(info.fingerprint, room.clients[o].fingerprint());
            assert!(!info.duplicate_alias);
        }
    }
    assert!(matches!(&room.events[b][0], Event::Joined { room_name, .. } if room_name == "book club"));
    room.send(a, "hello from alice");
    room.send(c, "hello from carol");
    assert_eq!(
        room.texts(b),
        vec![("hello from alice".into(), false), ("hello from carol".into(), false)]
    );
    assert_eq!(room.texts(c), vec![("hello from alice".into(), false)]);
    let to_c = room.member(c);
    room.clients[b].whisper(to_c, "psst carol", NOW).unwrap();
    room.run();
    assert_eq!(room.texts(c).last(), Some(&("psst carol".to_string(), true)));
    assert!(!room.texts(a).iter().any(|(t, _)| t == "psst carol"));
    for c in 0..3 {
        assert!(!could_not_verify(&room.events[c]), "{c}: {:?}", room.events[c]);
    }
}

#[test]
fn attachments_reassemble_and_are_checked() {
    let (mut room, a, b, _) = three();
    let bytes: Vec<u8> = (0..(2 * CHUNK_LEN + 1234)).map(|i| (i % 251) as u8).collect();
    room.clients[a]
        .send_attachment("cat.png", "image/png", &bytes, NOW)
        .unwrap();
    room.run();
    let got = room.events[b].iter().find_map(|e| match e {
        Event::Attachment { name, mime, bytes, .. } => Some((name.clone(), mime.clone(), bytes.clone())),
        _ => None,
    });
    assert_eq!(got, Some(("cat.png".into(), "image/png".into(), bytes)));
    assert_eq!(
        room.clients[a].send_attachment("x", "y", &[], NOW),
        Err(SessionError::Attachment(AttachmentError::BadSize))
    );
}

#[test]
fn clients_leave_on_a_signed_purge_the_relay_ignored() {
    let (mut room, a, b, c) = three();
    room.ignore_purge = true;
    let events = room.clients[a].purge(NOW).unwrap();
    assert!(matches!(
        events[..],
        [Event::Ended {
            reason: EndReason::Purged { .. }
        }]
    ));
    let member_a = room.member(a);
    room.run();
    for x in [b, c] {
        assert!(
            room.events[x].contains(&Event::Ended {
                reason: EndReason::Purged { by: Some(member_a) }
            }),
            "{:?}",
            room.events[x]
        );
        assert!(room.clients[x].is_ended() && room.clients[x].members().is_empty());
        assert_eq!(room.clients[x].send_text("still here?", NOW), Err(SessionError::Ended));
    }
    // Both left the relay of their own accord.
    assert!(room.ids.iter().all(Option::is_none));
}
fn attachments_of(events: &[Event]) -> Vec<(String, Vec<u8>, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Attachment {
                name, bytes, whisper, ..
            } => Some((name.clone(), bytes.clone(), *whisper)),
            _ => None,
        })
        .collect()
}

/// An upload of `bytes` as attachment `id`, to the room or whispered to `to`, made outside the session: to send chunks
/// or a cancel of an attachment the session did not start, as a forger would.
fn upload_of(id: [u8; 16], name: &str, to: Option<MemberId>, bytes: &[u8]) -> Upload {
    Upload::new(
        &attachment::start_for(id, name, "application/octet-stream", bytes).unwrap(),
        to,
        bytes,
        NOW,
    )
}

#[test]
fn texts_sent_between_chunks_arrive_first_and_the_attachment_still_reassembles() {
    let (mut room, a, b, _) = three();
    let bytes: Vec<u8> = (0..(3 * CHUNK_LEN)).map(|i| (i % 241) as u8).collect();
    let mut upload = room.clients[a]
        .start_attachment(None, "map.bin", "application/octet-stream", &bytes, NOW)
        .unwrap();
    assert_eq!((upload.chunks(), upload.sent()), (3, 0));
    assert!(room.clients[a].send_chunk(&mut upload, NOW).unwrap());
    room.send(a, "between chunks");
    assert_eq!(room.texts(b), vec![("between chunks".into(), false)]);
    assert!(attachments_of(&room.events[b]).is_empty());
    while room.clients[a].send_chunk(&mut upload, NOW).unwrap() {}
    assert!(upload.is_done());
    assert!(!room.clients[a].send_chunk(&mut upload, NOW).unwrap());
    room.run();
    assert_eq!(attachments_of(&room.events[b]), vec![("map.bin".into(), bytes, false)]);
    assert!(!could_not_verify(&room.events[b]), "{:?}", room.events[b]);
}

#[test]
fn a_whispered_attachment_reaches_only_its_recipient() {
    let (mut room, a, b, c) = three();
    let bytes: Vec<u8> = (0..(CHUNK_LEN + 99)).map(|i| (i % 239) as u8).collect();
    let to_b = room.member(b);
    let mut upload = room.clients[a]
        .start_attachment(Some(to_b), "note.txt", "text/plain", &bytes, NOW)
        .unwrap();
    while room.clients[a].send_chunk(&mut upload, NOW).unwrap() {}
    room.run();
    assert_eq!(attachments_of(&room.events[b]), vec![("note.txt".into(), bytes, true)]);
    assert!(attachments_of(&room.events[c]).is_empty());
    // Every item of it went to bob alone, over the pairwise channel.
    let member_a = room.member(a);
    assert!(room.payloads_from(member_a, Kind::Whisper, true).len() >= 3);
    assert!(room.payloads_from(member_a, Kind::Group, false).is_empty());
    for x in [b, c] {
        assert!(!could_not_verify(&room.events[x]), "{x}: {:?}", room.events[x]);
    }
    assert_eq!(
        room.clients[a]
            .start_attachment(Some(MemberId::MAX), "x", "y", b"z", NOW)
            .err(),
        Some(SessionError::UnknownMember)
    );
}

#[test]
fn a_chunk_that_comes_another_way_than_its_start_is_rejected() {
    let (mut room, a, b, _) = three();
    let bytes: Vec<u8> = (0..(2 * CHUNK_LEN)).map(|i| (i % 233) as u8).collect();
    let mut upload = room.clients[a]
        .start_attachment(None, "room.bin", "application/octet-stream", &bytes, NOW)
        .unwrap();
    room.run();
    // The sender whispers a chunk of the same attachment id to bob: he got its start in the room, so it is forged.
    let to_b = room.member(b);
    let mut sneaky = upload_of(upload.id, "room.bin", Some(to_b), &bytes);
    room.clients[a].send_chunk(&mut sneaky, NOW).unwrap();
    room.run();
    assert!(could_not_verify(&room.events[b]));
    while room.clients[a].send_chunk(&mut upload, NOW).unwrap() {}
    room.run();
    assert!(attachments_of(&room.events[b]).is_empty());
}

#[test]
fn stalled_attachments_from_a_few_members_cannot_starve_everyone_else() {
    let (mut room, r) = Room::create("reader");
    let stallers: Vec<usize> = (0..4).map(|i| room.join(&format!("staller{i}"), 500 + i)).collect();
    let honest = room.join("honest", 900);
    let big = vec![1u8; crate::MAX_ATTACHMENT_LEN];
    for &s in &stallers {
        // Each starts the largest attachment and never sends a chunk.
        room.clients[s]
            .start_attachment(None, "never.bin", "application/octet-stream", &big, NOW)
            .unwrap();
        room.run();
    }
    room.clients[honest]
        .send_attachment("photo.png", "image/png", b"small file", NOW)
        .unwrap();
    room.run();
    assert_eq!(
        attachments_of(&room.events[r]),
        vec![("photo.png".into(), b"small file".to_vec(), false)]
    );
}

#[test]
fn a_file_name_that_could_disguise_it_is_refused_on_both_ends() {
    let (mut room, a, b, _) = three();
    assert_eq!(
        room.clients[a].send_attachment("report\u{202E}fdp.exe", "application/pdf", b"x", NOW),
        Err(SessionError::BadFileName)
    );
    // A modified sender puts the name in a start anyway: the receiver drops it and says why.
    let start = attachment::start_for([5; 16], "report\u{202E}fdp.exe", "application/pdf", b"x").unwrap();
    room.clients[a]
        .broadcast(NOW, crate::message::Content::AttachmentStart(start))
        .unwrap();
    room.clients[a]
        .broadcast(
            NOW,
            crate::message::Content::AttachmentChunk {
                id: [5; 16],
                index: 0,
                data: b"x".to_vec(),
            },
        )
        .unwrap();
    room.run();
    assert!(attachments_of(&room.events[b]).is_empty());
    assert!(room.events[b].iter().any(|e| matches!(
        e,
        Event::AttachmentDropped {
            reason: AttachmentDrop::BadName,
            ..
        }
    )));
}

#[test]
fn a_senders_clock_cannot_hide_or_postdate_a_message() {
    let (mut room, a, b, _) = three();
    // A sent_at no Date can hold, one far in the past, and an honest one.
    for (sent_at, text) in [(u64::MAX, "from the future"), (1, "from 1970"), (NOW - 5_000, "honest")] {
        room.clients[a]
            .broadcast(sent_at, crate::message::Content::Text(text.into()))
            .unwrap();
        room.run();
    }
    let timings: Vec<(String, Timing)> = room.events[b]
        .iter()
        .filter_map(|e| match e {
            Event::Message { text, timing, .. } => Some((text.clone(), *timing)),
            _ => None,
        })
        .collect();
    assert_eq!(
        timings,
        vec![
            (
                "from the future".into(),
                Timing {
                    received_at: NOW,
                    sent_at: NOW,
                    clock_differs: true
                }
            ),
            (
                "from 1970".into(),
                Timing {
                    received_at: NOW,
                    sent_at: 1,
                    clock_differs: true
                }
            ),
            (
                "honest".into(),
                Timing {
                    received_at: NOW,
                    sent_at: NOW - 5_000,
                    clock_differs: false
                }
            ),
        ]
    );
}

#[test]
fn each_chunk_of_an_incoming_attachment_is_reported_with_the_bytes_received_so_far() {
    let (mut room, a, b, c) = three();
    let size = 3 * CHUNK_LEN + 100;
    let bytes: Vec<u8> = (0..size).map(|i| (i % 241) as u8).collect();
    room.clients[a]
        .send_attachment("map.pdf", "application/pdf", &bytes, NOW)
        .unwrap();
    room.run();
    let from = room.member(a);
    for x in [b, c] {
        let progress: Vec<(u64, u64)> = room.events[x]
            .iter()
            .filter_map(|e| match e {
                Event::AttachmentProgress {
                    from: f,
                    name,
                    received,
                    size,
                    whisper: false,
                    ..
                } if *f == from && name == "map.pdf" => Some((*received, *size)),
                _ => None,
            })
            .collect();
        let whole = size as u64;
        let step = CHUNK_LEN as u64;
        assert_eq!(
            progress,
            vec![(step, whole), (2 * step, whole), (3 * step, whole)],
            "{x}"
        );
        // Progress comes before the attachment, never after it.
        let last_progress = room.events[x]
            .iter()
            .rposition(|e| matches!(e, Event::AttachmentProgress { .. }))
            .unwrap();
        let done = room.events[x]
            .iter()
            .position(|e| matches!(e, Event::Attachment { .. }))
            .unwrap();
        assert!(last_progress < done, "{x}");
    }
    // The sender hears nothing of its own attachment's arrival.
    assert!(
        !room.events[a]
            .iter()
            .any(|e| matches!(e, Event::AttachmentProgress { .. }))
    );
}

#[test]
fn an_attachment_carries_its_caption_to_every_receiver() {
    let (mut room, a, b, c) = three();
    let bytes = b"\x89PNG pretend image".to_vec();
    let mut upload = room.clients[a]
        .start_attachment_with_caption(None, "cat.png", "image/png", "**Look** at _this_ cat", &bytes, NOW)
        .unwrap();
    while room.clients[a].send_chunk(&mut upload, NOW).unwrap() {}
    room.run();
    for x in [b, c] {
        let got = room.events[x].iter().find_map(|e| match e {
            Event::Attachment {
                name, caption, bytes, ..
            } => Some((name.clone(), caption.clone(), bytes.clone())),
            _ => None,
        });
        assert_eq!(
            got,
            Some(("cat.png".into(), "**Look** at _this_ cat".into(), bytes.clone())),
            "{x}"
        );
    }
    // Without a caption, the field is empty.
    room.clients[a]
        .send_attachment("plain.txt", "text/plain", b"no words", NOW)
        .unwrap();
    room.run();
    assert!(
        room.events[b]
            .iter()
            .any(|e| matches!(e, Event::Attachment { name, caption, .. } if name == "plain.txt" && caption.is_empty()))
    );
    // A caption past its bound is refused before anything is sealed.
    let too_long = "c".repeat(crate::MAX_CAPTION_LEN + 1);
    assert_eq!(
        room.clients[a]
            .start_attachment_with_caption(None, "cat.png", "image/png", &too_long, &bytes, NOW)
            .err(),
        Some(SessionError::TooLong)
    );
}

fn dropped(events: &[Event]) -> Vec<AttachmentDrop> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::AttachmentDropped { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

#[test]
fn a_cancelled_attachment_is_dropped_by_its_receivers_and_the_next_one_arrives() {
    let (mut room, a, b, c) = three();
    let bytes: Vec<u8> = (0..(3 * CHUNK_LEN)).map(|i| (i % 229) as u8).collect();
    let mut upload = room.clients[a]
        .start_attachment(None, "big.bin", "application/octet-stream", &bytes, NOW)
        .unwrap();
    assert!(room.clients[a].send_chunk(&mut upload, NOW).unwrap());
    room.clients[a].cancel_attachment(&upload, NOW).unwrap();
    room.run();
    for x in [b, c] {
        assert_eq!(dropped(&room.events[x]), vec![AttachmentDrop::Cancelled], "{x}");
        assert!(!could_not_verify(&room.events[x]), "{x}: {:?}", room.events[x]);
    }
    // A chunk of it that still comes, or a second cancel, changes nothing: nothing of it is held any more.
    assert!(room.clients[a].send_chunk(&mut upload, NOW).unwrap());
    room.clients[a].cancel_attachment(&upload, NOW).unwrap();
    room.clients[a]
        .send_attachment("small.txt", "text/plain", b"the next one", NOW)
        .unwrap();
    room.run();
    for x in [b, c] {
        assert_eq!(dropped(&room.events[x]), vec![AttachmentDrop::Cancelled], "{x}");
        assert_eq!(
            attachments_of(&room.events[x]),
            vec![("small.txt".into(), b"the next one".to_vec(), false)]
        );
        assert!(!could_not_verify(&room.events[x]), "{x}: {:?}", room.events[x]);
    }
}

#[test]
fn a_cancel_reaches_only_the_attachments_own_receivers_and_only_from_its_sender() {
    let (mut room, a, b, c) = three();
    let bytes: Vec<u8> = (0..(2 * CHUNK_LEN)).map(|i| (i % 227) as u8).collect();
    // Carol is receiving an attachment from alice in the room; bob a whispered one.
    let mut in_room = room.clients[a]
        .start_attachment(None, "room.bin", "application/octet-stream", &bytes, NOW)
        .unwrap();
    room.run();
    let to_b = room.member(b);
    let whispered = room.clients[a]
        .start_attachment(Some(to_b), "note.bin", "application/octet-stream", &bytes, NOW)
        .unwrap();
    room.clients[a].cancel_attachment(&whispered, NOW).unwrap();
    room.run();
    // The cancel went to bob alone, over the pairwise channel, and named the attachment he held.
    assert_eq!(dropped(&room.events[b]), vec![AttachmentDrop::Cancelled]);
    assert!(dropped(&room.events[c]).is_empty(), "{:?}", room.events[c]);
    // A cancel naming another attachment than the one held leaves it alone: carol's still completes.
    let other = upload_of([9; 16], "other.bin", None, &bytes);
    room.clients[a].cancel_attachment(&other, NOW).unwrap();
    room.run();
    assert!(!could_not_verify(&room.events[c]), "{:?}", room.events[c]);
    // Bob cannot cancel alice's attachment: a cancel reaches only what its own signer is sending.
    let borrowed = upload_of(in_room.id, "room.bin", None, &bytes);
    room.clients[b].cancel_attachment(&borrowed, NOW).unwrap();
    room.run();
    assert!(dropped(&room.events[c]).is_empty(), "{:?}", room.events[c]);
    // A cancel of carol's attachment whispered to her, when its start came in the room, is forged and leaves it alone.
    let to_c = room.member(c);
    let sneaky = upload_of(in_room.id, "room.bin", Some(to_c), &bytes);
    room.clients[a].cancel_attachment(&sneaky, NOW).unwrap();
    room.run();
    assert!(could_not_verify(&room.events[c]));
    while room.clients[a].send_chunk(&mut in_room, NOW).unwrap() {}
    room.run();
    assert_eq!(attachments_of(&room.events[c]), vec![("room.bin".into(), bytes, false)]);
    assert!(dropped(&room.events[c]).is_empty(), "{:?}", room.events[c]);
    assert!(!could_not_verify(&room.events[b]), "{:?}", room.events[b]);
}
