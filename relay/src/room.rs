//! One room's state: its verifier, expiry, sealed descriptor, members, and the warnings still to send.
//!
//! A room never touches a socket: it pushes encoded frames into its members' outboxes.
//! Every method runs under the room's `std::sync::Mutex`, which is why none of them awaits.
//! Times are `tokio::time::Instant`, so that expiry is tested with paused time.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use sanctum_protocol::{
    AuthToken, CloseCode, Descriptor, LeftReason, MemberId, Payload, PurgeReason, RelayFrame, VERIFIER_LEN, Verifier,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::time::Instant;
use tungstenite::Utf8Bytes;

use crate::error::Refusal;
use crate::metrics::{self, Metrics};
use crate::outbox::Outbox;
use crate::throttle::{MINUTE, Window};

/// The per-room limits, copied from the relay's configuration.
#[derive(Debug, Clone)]
pub(crate) struct RoomLimits {
    pub(crate) max_members: u32,
    pub(crate) max_membership_events: u32,
    /// Locks allowed per minute.
    pub(crate) locks_per_minute: u32,
    /// Seconds before expiry at which members are warned.
    pub(crate) expiry_warnings: Arc<[u32]>,
}

#[derive(Debug)]
struct Member {
    id: MemberId,
    outbox: Outbox,
}

/// What became of a room at one of its deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tick {
    /// Still alive; look again at this instant.
    Until(Instant),
    /// The expiry is reached: the room must be ended with reason `expired`.
    Expired,
}

/// A live room.
#[derive(Debug)]
pub(crate) struct Room {
    verifier: [u8; VERIFIER_LEN],
    deadline: Instant,
    expires_at: u64,
    descriptor: Descriptor,
    members: Vec<Member>,
    next_member: MemberId,
    events: Window,
    locks: Window,
    /// Warnings not yet sent, earliest first, as (when, seconds left).
    warnings: VecDeque<(Instant, u32)>,
    limits: RoomLimits,
    dead: bool,
    metrics: Arc<Metrics>,
}

/// Seconds from `now` until `deadline`, rounded up, for the `expires_in` fields.
fn seconds_until(deadline: Instant, now: Instant) -> u32 {
    let left = deadline.saturating_duration_since(now);
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

impl Room {
    /// A room without members that lives `lifetime` from `now`, `unix_now` being the same instant on the wall clock.
    pub(crate) fn new(
        verifier: &Verifier,
        lifetime: u32,
        descriptor: Descriptor,
        limits: RoomLimits,
        now: Instant,
        unix_now: u64,
        metrics: Arc<Metrics>,
    ) -> Self {
        let deadline = now + Duration::from_secs(lifetime.into());
        // Warnings at or before the creation itself would only repeat what `created` says.
        let mut offsets: Vec<u32> = limits
            .expiry_warnings
            .iter()
            .copied()
            .filter(|w| *w > 0 && *w < lifetime)
            .collect();
        offsets.sort_unstable_by(|a, b| b.cmp(a));
        offsets.dedup();
        Self {
            verifier: *verifier.as_bytes(),
            deadline,
            expires_at: unix_now + u64::from(lifetime),
            descriptor,
            members: Vec::new(),
            next_member: 1,
            events: Window::new(now),
            locks: Window::new(now),
            warnings: offsets
                .into_iter()
                .map(|w| (deadline - Duration::from_secs(w.into()), w))
                .collect(),
            limits,
            dead: false,
            metrics,
        }
    }

    /// The original expiry; a tombstone lasts until then.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The next instant at which [`Room::tick`] has something to do.
    pub(crate) fn next_deadline(&self) -> Instant {
        self.warnings.front().map_or(self.deadline, |(when, _)| *when)
    }

    /// Whether the room was ended; handles kept by connections then do nothing.
    pub(crate) fn is_dead(&self) -> bool {
        self.dead
    }

    /// Whether `token` hashes to the verifier, compared in constant time.
    pub(crate) fn verify(&self, token: &AuthToken) -> bool {
        let hash = Sha256::digest(token.as_bytes());
        bool::from(hash.as_slice().ct_eq(&self.verifier))
    }

    fn is_member(&self, id: MemberId) -> bool {
        self.members.iter().any(|m| m.id == id)
    }

    /// Whether `id` is in the room with this very outbox, so that a stale handle cannot act for a successor.
    pub(crate) fn holds(&self, id: MemberId, outbox: &Outbox) -> bool {
        !self.dead && self.members.iter().any(|m| m.id == id && m.outbox.same(outbox))
    }

    /// Adds a member, tells it `created` (for the creator) or `joined`, and tells the others `member_joined`.
    pub(crate) fn admit(&mut self, outbox: Outbox, creating: bool, now: Instant) -> Result<MemberId, Refusal> {
        if self.dead {
            return Err(Refusal::RoomGone);
        }
        if self.members.len() >= self.limits.max_members as usize {
            return Err(Refusal::RoomFull);
        }
        let id = self.next_member;
        let next = id.checked_add(1).ok_or(Refusal::RoomFull)?;
        if !self.events.try_count(now, MINUTE, self.limits.max_membership_events) {
            return Err(Refusal::RoomBusy);
        }
        self.next_member = next;
        let expires_in = seconds_until(self.deadline, now);
        let welcome = if creating {
            RelayFrame::Created {
                member: id,
                expires_at: self.expires_at,
                expires_in,
            }
        } else {
            RelayFrame::Joined {
                member: id,
                members: self.members.iter().map(|m| m.id).collect(),
                expires_at: self.expires_at,
                expires_in,
                descriptor: self.descriptor.clone(),
            }
        };
        // The newcomer's own frame goes first, under this lock, so nothing from the room can overtake it.
        if outbox.send(&welcome).is_err() {
            return Err(Refusal::RoomFull);
        }
        self.deliver(&RelayFrame::MemberJoined { member: id }, |_| true, now);
        self.members.push(Member { id, outbox });
        metrics::shift(&self.metrics.members, 1);
        Ok(id)
    }

    /// Queues `frame`, encoded once, to every member that `to` selects; members whose queue overflows are dropped.
    fn deliver(&mut self, frame: &RelayFrame, to: impl Fn(MemberId) -> bool, now: Instant) {
        let text = Utf8Bytes::from(frame.encode());
        let mut overflowed = Vec::new();
        for member in self.members.iter().filter(|m| to(m.id)) {
            if member.outbox.push(text.clone()).is_err() {
                overflowed.push(member.id);
            }
        }
        self.drop_members(overflowed, now);
    }

    /// Removes members cut off for overflowing, telling the rest; telling them may overflow others in turn.
    fn drop_members(&mut self, mut dropped: Vec<MemberId>, now: Instant) {
        while let Some(id) = dropped.pop() {
            if self.take(id).is_none() {
                continue;
            }
            self.events.count(now, MINUTE);
            let text = Utf8Bytes::from(
                RelayFrame::MemberLeft {
                    member: id,
                    reason: LeftReason::Dropped,
                }
                .encode(),
            );
            for member in &self.members {
                if member.outbox.push(text.clone()).is_err() {
                    dropped.push(member.id);
                }
            }
        }
    }

    fn take(&mut self, id: MemberId) -> Option<Outbox> {
        let index = self.members.iter().position(|m| m.id == id)?;
        metrics::shift(&self.metrics.members, -1);
        Some(self.members.remove(index).outbox)
    }

    /// Sends `payload` from `from` to every other member: one encoding, the same bytes queued to each.
    pub(crate) fn broadcast(&mut self, from: MemberId, payload: Payload, now: Instant) {
        if self.dead || !self.is_member(from) {
            return;
        }
        let frame = RelayFrame::Frame {
            from,
            direct: false,
            payload,
        };
        self.deliver(&frame, |id| id != from, now);
    }

    /// Sends `payload` from `from` to member `to` alone.
    pub(crate) fn direct(
        &mut self,
        from: MemberId,
        to: MemberId,
        payload: Payload,
        now: Instant,
    ) -> Result<(), Refusal> {
        if self.dead || !self.is_member(from) {
            return Ok(());
        }
        if to == from || !self.is_member(to) {
            return Err(Refusal::UnknownMember);
        }
        let frame = RelayFrame::Frame {
            from,
            direct: true,
            payload,
        };
        self.deliver(&frame, |id| id == to, now);
        Ok(())
    }

    /// Locks the room on behalf of member `by`, connected through `outbox`: from now on a join needs the token whose
    /// hash is `verifier`, and joiners get `descriptor`; `by` alone hears `locked`.
    ///
    /// The change happens under the room's lock, which every join takes to check its token and be admitted, so a
    /// join is checked wholly against the old verifier or wholly against the new one.
    pub(crate) fn lock(
        &mut self,
        by: MemberId,
        outbox: &Outbox,
        verifier: &Verifier,
        descriptor: Descriptor,
        now: Instant,
    ) -> Result<(), Refusal> {
        if self.dead {
            return Err(Refusal::RoomGone);
        }
        // A handle kept after a kick, or a successor's id, must not change the room.
        if !self.holds(by, outbox) {
            return Err(Refusal::NotInRoom);
        }
        if !self.locks.try_count(now, MINUTE, self.limits.locks_per_minute) {
            return Err(Refusal::RateLimited);
        }
        self.verifier = *verifier.as_bytes();
        self.descriptor = descriptor;
        let _ = outbox.send(&RelayFrame::Locked);
        metrics::add(&self.metrics.rooms_locked, 1);
        Ok(())
    }

    /// Removes `target` on behalf of `by`: it gets `kicked` and close 4002, the others `member_left` kicked.
    pub(crate) fn kick(&mut self, by: MemberId, target: MemberId, now: Instant) -> Result<(), Refusal> {
        if self.dead || !self.is_member(by) {
            return Ok(());
        }
        if target == by {
            return Err(Refusal::BadRequest("a member cannot kick itself; send leave instead"));
        }
        let outbox = self.take(target).ok_or(Refusal::UnknownMember)?;
        let _ = outbox.send(&RelayFrame::Kicked { by });
        outbox.close(CloseCode::Kicked);
        self.events.count(now, MINUTE);
        let left = RelayFrame::MemberLeft {
            member: target,
            reason: LeftReason::Kicked,
        };
        self.deliver(&left, |_| true, now);
        Ok(())
    }

    /// Removes member `id` that left or dropped, telling the others; does nothing if it is already gone.
    pub(crate) fn remove(&mut self, id: MemberId, reason: LeftReason, now: Instant) {
        if self.dead || self.take(id).is_none() {
            return;
        }
        self.events.count(now, MINUTE);
        self.deliver(&RelayFrame::MemberLeft { member: id, reason }, |_| true, now);
    }

    /// Ends the room: every member gets `purged` and its close (4001 or 4003), and the room forgets them.
    pub(crate) fn end(&mut self, reason: PurgeReason) {
        if self.dead {
            return;
        }
        self.dead = true;
        let text = Utf8Bytes::from(RelayFrame::Purged { reason }.encode());
        let code = match reason {
            PurgeReason::Purged => CloseCode::Purged,
            PurgeReason::Expired => CloseCode::Expired,
        };
        for member in self.members.drain(..) {
            let _ = member.outbox.push(text.clone());
            member.outbox.close(code);
            metrics::shift(&self.metrics.members, -1);
        }
        self.members = Vec::new();
    }

    /// Sends the warning that is due at `now`, if any, and says whether the room lives on.
    ///
    /// When several warnings fell due at once (the relay was stalled), only the latest is sent.
    pub(crate) fn tick(&mut self, now: Instant) -> Tick {
        if now >= self.deadline {
            return Tick::Expired;
        }
        let mut due = None;
        while let Some(&(when, seconds)) = self.warnings.front() {
            if when > now {
                break;
            }
            due = Some(seconds);
            self.warnings.pop_front();
        }
        if let Some(seconds) = due {
            self.deliver(&RelayFrame::Expiring { seconds }, |_| true, now);
        }
        Tick::Until(self.next_deadline())
    }
}

#[cfg(test)]
mod tests {
    use sanctum_protocol::{AUTH_TOKEN_LEN, ErrorCode};

    use super::*;
    use crate::outbox::Next;

    fn limits(max_members: u32, max_membership_events: u32, expiry_warnings: &[u32]) -> RoomLimits {
        RoomLimits {
            max_members,
            max_membership_events,
            locks_per_minute: 2,
            expiry_warnings: expiry_warnings.into(),
        }
    }

    fn token() -> AuthToken {
        AuthToken([7; AUTH_TOKEN_LEN])
    }

    fn room(lifetime: u32, limits: RoomLimits) -> Room {
        let verifier = Verifier(Sha256::digest(token().as_bytes()).into());
        Room::new(
            &verifier,
            lifetime,
            Descriptor::default(),
            limits,
            Instant::now(),
            1_000,
            Arc::default(),
        )
    }

    fn outbox() -> Outbox {
        Outbox::new(10_000, Arc::default())
    }

    /// Admits `n` members (the first as creator) and reads what they were told, so their outboxes are empty.
    fn filled(room: &mut Room, n: usize, now: Instant) -> Vec<Outbox> {
        let outboxes: Vec<Outbox> = (0..n).map(|_| outbox()).collect();
        for (i, o) in outboxes.iter().enumerate() {
            room.admit(o.clone(), i == 0, now).unwrap();
        }
        outboxes.iter().for_each(|o| drop(drain(o)));
        outboxes
    }

    fn drain(outbox: &Outbox) -> Vec<RelayFrame> {
        let mut frames = Vec::new();
        while let Some(Next::Frame(text)) = outbox.try_next() {
            frames.push(RelayFrame::decode(&text).unwrap());
        }
        frames
    }

    #[test]
    fn the_token_is_checked_against_its_hash() {
        let room = room(60, limits(3, 100, &[]));
        assert!(room.verify(&token()));
        assert!(!room.verify(&AuthToken([8; AUTH_TOKEN_LEN])));
    }

    #[tokio::test(start_paused = true)]
    async fn ids_start_at_one_are_never_reused_and_the_room_fills_up() {
        let mut room = room(60, limits(3, 100, &[]));
        let now = Instant::now();
        let (a, b, c, d) = (outbox(), outbox(), outbox(), outbox());
        assert_eq!(room.admit(a.clone(), true, now), Ok(1));
        assert_eq!(room.admit(b.clone(), false, now), Ok(2));
        room.remove(2, LeftReason::Left, now);
        assert_eq!(room.admit(c.clone(), false, now), Ok(3));
        assert_eq!(room.admit(d.clone(), false, now), Ok(4));
        assert_eq!(room.admit(outbox(), false, now), Err(Refusal::RoomFull));
        assert_eq!(
            drain(&a),
            vec![
                RelayFrame::Created {
                    member: 1,
                    expires_at: 1_060,
                    expires_in: 60
                },
                RelayFrame::MemberJoined { member: 2 },
                RelayFrame::MemberLeft {
                    member: 2,
                    reason: LeftReason::Left
                },
                RelayFrame::MemberJoined { member: 3 },
                RelayFrame::MemberJoined { member: 4 },
            ]
        );
        assert!(matches!(&drain(&d)[0], RelayFrame::Joined { member: 4, members, .. } if members == &[1, 3]));
    }

    #[tokio::test(start_paused = true)]
    async fn membership_events_per_minute_are_bounded() {
        let mut room = room(600, limits(10, 3, &[]));
        let now = Instant::now();
        assert_eq!(room.admit(outbox(), true, now), Ok(1));
        assert_eq!(room.admit(outbox(), false, now), Ok(2));
        room.remove(2, LeftReason::Dropped, now);
        assert_eq!(room.admit(outbox(), false, now), Err(Refusal::RoomBusy));
        assert_eq!(Refusal::RoomBusy.code(), ErrorCode::RoomBusy);
        assert_eq!(room.admit(outbox(), false, now + MINUTE), Ok(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_broadcast_is_encoded_once_and_skips_its_sender() {
        let mut room = room(60, limits(3, 100, &[]));
        let now = Instant::now();
        let [a, b, c] = <[Outbox; 3]>::try_from(filled(&mut room, 3, now)).unwrap();
        room.broadcast(1, Payload::new(b"sealed".to_vec()).unwrap(), now);
        assert_eq!(a.try_next(), None);
        let (Some(Next::Frame(to_b)), Some(Next::Frame(to_c))) = (b.try_next(), c.try_next()) else {
            panic!("both others receive the frame");
        };
        assert_eq!(
            to_b.as_str().as_ptr(),
            to_c.as_str().as_ptr(),
            "one encoding shared by every recipient"
        );
        assert_eq!(to_b.as_str(), r#"{"type":"frame","from":1,"payload":"c2VhbGVk"}"#);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_overflows_is_dropped_and_the_others_are_told() {
        let mut room = room(60, limits(3, 100, &[]));
        let now = Instant::now();
        let (a, b) = (outbox(), outbox());
        let slow = Outbox::new(400, Arc::default());
        room.admit(a.clone(), true, now).unwrap();
        room.admit(slow.clone(), false, now).unwrap();
        room.admit(b.clone(), false, now).unwrap();
        drain(&b);
        for _ in 0..5 {
            room.broadcast(1, Payload::new(vec![0; 40]).unwrap(), now);
        }
        assert_eq!(slow.try_next(), Some(Next::Close(CloseCode::SlowReader)));
        let frames = drain(&b);
        assert_eq!(frames.len(), 6);
        assert!(frames.contains(&RelayFrame::MemberLeft {
            member: 2,
            reason: LeftReason::Dropped
        }));
        assert!(!room.is_member(2));
    }

    #[tokio::test(start_paused = true)]
    async fn kick_tells_the_kicked_and_the_others() {
        let mut room = room(60, limits(3, 100, &[]));
        let now = Instant::now();
        let [a, b, c] = <[Outbox; 3]>::try_from(filled(&mut room, 3, now)).unwrap();
        assert_eq!(room.kick(1, 1, now).map_err(Refusal::code), Err(ErrorCode::BadRequest));
        assert_eq!(room.kick(1, 9, now), Err(Refusal::UnknownMember));
        assert_eq!(room.kick(1, 2, now), Ok(()));
        assert_eq!(drain(&b), vec![RelayFrame::Kicked { by: 1 }]);
        assert_eq!(b.try_next(), Some(Next::Close(CloseCode::Kicked)));
        let left = RelayFrame::MemberLeft {
            member: 2,
            reason: LeftReason::Kicked,
        };
        assert_eq!(drain(&a), vec![left.clone()]);
        assert_eq!(drain(&c), vec![left]);
        // The kicked member's handle can no longer act in the room.
        room.broadcast(2, Payload::default(), now);
        assert_eq!(a.try_next(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lock_changes_the_token_and_descriptor_for_later_joins_only_and_is_limited() {
        let mut room = room(600, limits(5, 100, &[]));
        let now = Instant::now();
        let [a, b] = <[Outbox; 2]>::try_from(filled(&mut room, 2, now)).unwrap();
        let new_token = AuthToken([9; AUTH_TOKEN_LEN]);
        let new_verifier = Verifier(Sha256::digest(new_token.as_bytes()).into());
        let sealed = Descriptor::new(b"new descriptor".to_vec()).unwrap();
        // Only the member holding this very outbox may lock: not a stranger's outbox with its id.
        assert_eq!(
            room.lock(2, &outbox(), &new_verifier, sealed.clone(), now),
            Err(Refusal::NotInRoom)
        );
        assert_eq!(room.lock(2, &b, &new_verifier, sealed.clone(), now), Ok(()));
        assert_eq!(drain(&b), vec![RelayFrame::Locked]);
        assert!(drain(&a).is_empty(), "the others hear nothing from the relay");
        assert!(!room.verify(&token()));
        assert!(room.verify(&new_token));
        let c = outbox();
        room.admit(c.clone(), false, now).unwrap();
        assert!(matches!(&drain(&c)[0], RelayFrame::Joined { descriptor, .. } if *descriptor == sealed));
        // Two locks a minute in these limits: the third is refused and changes nothing.
        assert_eq!(room.lock(1, &a, &new_verifier, sealed.clone(), now), Ok(()));
        let other = Verifier([0; 32]);
        assert_eq!(
            room.lock(1, &a, &other, Descriptor::default(), now),
            Err(Refusal::RateLimited)
        );
        assert!(room.verify(&new_token));
        assert_eq!(room.lock(1, &a, &new_verifier, sealed.clone(), now + MINUTE), Ok(()));
        room.end(PurgeReason::Purged);
        assert_eq!(
            room.lock(1, &a, &new_verifier, sealed, now + MINUTE),
            Err(Refusal::RoomGone)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn warnings_come_at_their_offsets_then_the_room_expires() {
        let start = Instant::now();
        let mut room = room(600, limits(3, 100, &[300, 60, 900, 60]));
        let a = outbox();
        room.admit(a.clone(), true, start).unwrap();
        drain(&a);
        assert_eq!(room.next_deadline(), start + Duration::from_secs(300));
        tokio::time::advance(Duration::from_secs(299)).await;
        assert_eq!(room.tick(Instant::now()), Tick::Until(start + Duration::from_secs(300)));
        assert!(drain(&a).is_empty());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(room.tick(Instant::now()), Tick::Until(start + Duration::from_secs(540)));
        assert_eq!(drain(&a), vec![RelayFrame::Expiring { seconds: 300 }]);
        tokio::time::advance(Duration::from_secs(240)).await;
        assert_eq!(room.tick(Instant::now()), Tick::Until(start + Duration::from_secs(600)));
        assert_eq!(drain(&a), vec![RelayFrame::Expiring { seconds: 60 }]);
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(room.tick(Instant::now()), Tick::Expired);
        room.end(PurgeReason::Expired);
        assert_eq!(
            drain(&a),
            vec![RelayFrame::Purged {
                reason: PurgeReason::Expired
            }]
        );
        assert_eq!(a.try_next(), Some(Next::Close(CloseCode::Expired)));
        assert!(room.is_dead());
    }
}
