//! The Lua scripts that change a room in Redis, each one atomic, and the key and channel names they use.
//!
//! Every check and change of shared room state (the member cap, the membership-event rate, member ids, locks and
//! their rate, purge, the removal of a dead relay's members) runs inside one script, so two relays never read then write.
//! Each script publishes the event that tells every relay what it changed on the room's channel, inside
//! the same atomic step, so every relay sees changes and frames in one order.
//! Token checks never happen here: the relay compares `SHA-256(token)` with the verifier in constant time.
//!
//! Keys of room `R` (hex) share the hash tag `{R}`, so they live on one shard with the room's channel:
//! `sanctum:{R}:room` (hash: `v` verifier, `e` expiry in Unix seconds, `d` descriptor, `s` live or gone,
//! `n` last member id), `sanctum:{R}:members` (hash: member id to relay id), `sanctum:{R}:events` (list: times
//! of recent membership events, newest first), `sanctum:{R}:locks` (list: times of recent locks, newest first),
//! channel `sanctum:{R}`.
//! Every one of them expires with the room; a purged room keeps only `s = gone` until its original expiry.
//! Relay `I` renews `sanctum:relay:I` (its heartbeat) and lists the rooms it admitted members to in
//! `sanctum:relay:I:rooms`; `sanctum:relays` lists relay ids.

/// Functions every script shares: Redis's clock in milliseconds, and the membership-event log.
const PRELUDE: &str = r#"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function busy(key, max, now)
  if redis.call('LLEN', key) < max then return false end
  return tonumber(redis.call('LINDEX', key, max - 1)) > now - 60000
end
local function count(key, max, now, expire_at)
  redis.call('LPUSH', key, now)
  redis.call('LTRIM', key, 0, max - 1)
  redis.call('PEXPIREAT', key, expire_at)
end
"#;

/// KEYS: room, members, events, relay's rooms. ARGV: verifier, lifetime (s), descriptor, relay id, nonce,
/// event limit, channel, room hex, relay rooms TTL (ms).
/// Returns `{'exists'}` or `{'ok'}`; publishes `joined` for member 1.
const CREATE: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
local now = now_ms()
local t = redis.call('TIME')
local ttl = tonumber(ARGV[2]) * 1000
local expire_at = now + ttl
local expires = tonumber(t[1]) + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'e', expires, 'd', ARGV[3], 's', 'live', 'n', 1)
redis.call('PEXPIREAT', KEYS[1], expire_at)
redis.call('HSET', KEYS[2], 1, ARGV[4])
redis.call('PEXPIREAT', KEYS[2], expire_at)
count(KEYS[3], tonumber(ARGV[6]), now, expire_at)
redis.call('SADD', KEYS[4], ARGV[8])
redis.call('PEXPIRE', KEYS[4], ARGV[9])
redis.call('PUBLISH', ARGV[7], '{"k":"j","id":1,"r":"' .. ARGV[4] .. '","n":' .. ARGV[5] .. ',"e":' .. expires ..
  ',"t":' .. ttl .. ',"m":[]}\n')
return {'ok'}
"#;

/// KEYS: room, members, events, relay's rooms. ARGV: verifier the relay checked the token against, relay id,
/// nonce, member limit, event limit, channel, room hex, relay rooms TTL (ms).
/// Returns `{'not_found'}`, `{'gone'}`, `{'bad_token'}` (a lock replaced the verifier since the relay read it),
/// `{'full'}`, `{'busy'}` or `{'ok'}`; publishes `joined`, with the descriptor current at admission as its body.
const ADMIT: &str = r#"
local room = redis.call('HMGET', KEYS[1], 's', 'v', 'e', 'd')
if not room[1] then return {'not_found'} end
if room[1] ~= 'live' then return {'gone'} end
if room[2] ~= ARGV[1] then return {'bad_token'} end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[4]) then return {'full'} end
local now = now_ms()
if busy(KEYS[3], tonumber(ARGV[5]), now) then return {'busy'} end
local ids = redis.call('HKEYS', KEYS[2])
table.sort(ids, function(a, b) return tonumber(a) < tonumber(b) end)
local id = redis.call('HINCRBY', KEYS[1], 'n', 1)
local ttl = redis.call('PTTL', KEYS[1])
local expire_at = now + ttl
redis.call('HSET', KEYS[2], id, ARGV[2])
redis.call('PEXPIREAT', KEYS[2], expire_at)
count(KEYS[3], tonumber(ARGV[5]), now, expire_at)
redis.call('SADD', KEYS[4], ARGV[7])
redis.call('PEXPIRE', KEYS[4], ARGV[8])
redis.call('PUBLISH', ARGV[6], '{"k":"j","id":' .. id .. ',"r":"' .. ARGV[2] .. '","n":' .. ARGV[3] .. ',"e":' ..
  room[3] .. ',"t":' .. ttl .. ',"m":[' .. table.concat(ids, ',') .. ']}\n' .. room[4])
return {'ok'}
"#;

/// KEYS: room, members, locks. ARGV: locking member id, relay id, new verifier, new descriptor, lock limit.
/// Returns `{'gone'}`, `{'not_in_room'}` (not a member connected through this relay), `{'limited'}` or `{'ok'}`.
/// Publishes nothing: only the locking member hears of it, from its own relay.
const LOCK: &str = r#"
if redis.call('HGET', KEYS[1], 's') ~= 'live' then return {'gone'} end
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return {'not_in_room'} end
local now = now_ms()
if busy(KEYS[3], tonumber(ARGV[5]), now) then return {'limited'} end
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return {'gone'} end
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'd', ARGV[4])
count(KEYS[3], tonumber(ARGV[5]), now, now + ttl)
return {'ok'}
"#;

/// KEYS: room, members, events. ARGV: member id, reason (`left` or `dropped`), channel, event limit.
const LEAVE: &str = r#"
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then count(KEYS[3], tonumber(ARGV[4]), now_ms(), now_ms() + ttl) end
redis.call('PUBLISH', ARGV[3], '{"k":"l","id":' .. ARGV[1] .. ',"why":"' .. ARGV[2] .. '"}\n')
return 1
"#;

/// KEYS: room, members, events. ARGV: kicker id, target id, channel, event limit.
const KICK: &str = r#"
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
if redis.call('HDEL', KEYS[2], ARGV[2]) == 0 then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then count(KEYS[3], tonumber(ARGV[4]), now_ms(), now_ms() + ttl) end
redis.call('PUBLISH', ARGV[3], '{"k":"x","by":' .. ARGV[1] .. ',"id":' .. ARGV[2] .. '}\n')
return 1
"#;

/// KEYS: room, members, events, locks. ARGV: purging member id, channel.
/// Leaves a tombstone (`s = gone`, nothing else) until the room's original expiry.
const PURGE: &str = r#"
if redis.call('HGET', KEYS[1], 's') ~= 'live' then return 0 end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
if ttl > 0 then
  redis.call('HSET', KEYS[1], 's', 'gone')
  redis.call('PEXPIRE', KEYS[1], ttl)
end
redis.call('PUBLISH', ARGV[2], '{"k":"p"}\n')
return 1
"#;

/// ARGV: event limit. Removes the members of every relay whose heartbeat expired, telling each room
/// (`member_left` dropped), and forgets those relays. Returns how many members it removed.
const REAP: &str = r#"
local removed = 0
for _, relay in ipairs(redis.call('SMEMBERS', 'sanctum:relays')) do
  if redis.call('EXISTS', 'sanctum:relay:' .. relay) == 0 then
    local rooms_key = 'sanctum:relay:' .. relay .. ':rooms'
    for _, hex in ipairs(redis.call('SMEMBERS', rooms_key)) do
      local room = 'sanctum:{' .. hex .. '}:room'
      local members = 'sanctum:{' .. hex .. '}:members'
      local all = redis.call('HGETALL', members)
      for i = 1, #all, 2 do
        if all[i + 1] == relay then
          redis.call('HDEL', members, all[i])
          local ttl = redis.call('PTTL', room)
          if ttl > 0 then count('sanctum:{' .. hex .. '}:events', tonumber(ARGV[1]), now_ms(), now_ms() + ttl) end
          redis.call('PUBLISH', 'sanctum:{' .. hex .. '}', '{"k":"l","id":' .. all[i] .. ',"why":"dropped"}\n')
          removed = removed + 1
        end
      end
    end
    redis.call('DEL', rooms_key)
    redis.call('SREM', 'sanctum:relays', relay)
  end
end
return removed
"#;

/// One of the scripts, with the prelude in front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Script {
    Create,
    Admit,
    Leave,
    Kick,
    Lock,
    Purge,
    Reap,
}

impl Script {
    /// The script's full text.
    pub(super) fn source(self) -> String {
        let body = match self {
            Self::Create => CREATE,
            Self::Admit => ADMIT,
            Self::Leave => LEAVE,
            Self::Kick => KICK,
            Self::Lock => LOCK,
            Self::Purge => PURGE,
            Self::Reap => REAP,
        };
        format!("{PRELUDE}{body}")
    }
}

/// The names of one room's keys and channel.
#[derive(Debug, Clone)]
pub(super) struct RoomKeys {
    pub(super) hex: String,
    pub(super) room: String,
    pub(super) members: String,
    pub(super) events: String,
    pub(super) locks: String,
    pub(super) channel: String,
}

impl RoomKeys {
    pub(super) fn new(id: &[u8]) -> Self {
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        Self {
            room: format!("sanctum:{{{hex}}}:room"),
            members: format!("sanctum:{{{hex}}}:members"),
            events: format!("sanctum:{{{hex}}}:events"),
            locks: format!("sanctum:{{{hex}}}:locks"),
            channel: format!("sanctum:{{{hex}}}"),
            hex,
        }
    }
}

/// The heartbeat key of relay `id`.
pub(super) fn heartbeat_key(id: &str) -> String {
    format!("sanctum:relay:{id}")
}

/// The set of rooms relay `id` admitted members to.
pub(super) fn relay_rooms_key(id: &str) -> String {
    format!("sanctum:relay:{id}:rooms")
}

/// The set of relay ids.
pub(super) const RELAYS_KEY: &str = "sanctum:relays";
/// The counter relay ids are drawn from.
pub(super) const RELAY_SEQ_KEY: &str = "sanctum:relay-seq";

/// The room id (as the hex in its keys) a channel name carries.
pub(super) fn channel_room(channel: &[u8]) -> Option<&[u8]> {
    channel.strip_prefix(b"sanctum:{")?.strip_suffix(b"}")
}
