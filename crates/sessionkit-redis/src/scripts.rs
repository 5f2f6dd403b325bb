//! The Lua scripts: each is one atomic server-side step on exactly one key
//! (`KEYS[1]`, a session hash), run with `EVALSHA` (redis-rs loads it on `NOSCRIPT`).
//!
//! `ARGV[1]` is always the application's clock in unix milliseconds: a record whose
//! `e` field is not after it counts as gone, even if Redis has not expired the key yet,
//! so every operation agrees with `load` on what "expired" means.

use std::sync::OnceLock;

use redis::Script;

/// `create`: ARGV = now, record, version, expires, seen, has_user ("1"/"0"), user.
/// Returns 1 when stored, 0 when a live record holds the key.
const CREATE: &str = r"
local e = redis.call('HGET', KEYS[1], 'e')
if e then
  if (tonumber(e) or 0) > tonumber(ARGV[1]) then return 0 end
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'r', ARGV[2], 'v', ARGV[3], 'e', ARGV[4], 's', ARGV[5])
if ARGV[6] == '1' then redis.call('HSET', KEYS[1], 'u', ARGV[7]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return 1
";

/// `compare_and_swap`: ARGV = now, expected version, same_user_only ("1"/"0"), record,
/// version, expires, seen, has_user, user.
/// Returns 1 when swapped; 0 when the record is gone or its version differs; 2 (only
/// with same_user_only) when the swap would bind the record to another user, whose
/// index must first be told (nothing is written then).
const SWAP: &str = r"
local cur = redis.call('HMGET', KEYS[1], 'v', 'e', 'u')
if not cur[1] or cur[1] ~= ARGV[2] then return 0 end
if (tonumber(cur[2]) or 0) <= tonumber(ARGV[1]) then return 0 end
if ARGV[3] == '1' and ARGV[8] == '1' and cur[3] ~= ARGV[9] then return 2 end
redis.call('HSET', KEYS[1], 'r', ARGV[4], 'v', ARGV[5], 'e', ARGV[6], 's', ARGV[7])
if ARGV[8] == '1' then
  if cur[3] ~= ARGV[9] then redis.call('HSET', KEYS[1], 'u', ARGV[9]) end
elseif cur[3] then
  redis.call('HDEL', KEYS[1], 'u')
end
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
return 1
";

/// `touch`: ARGV = now, expires, seen. Moves the `e` and `s` fields and the key's
/// expiry; the record bytes and the version stay as they are.
/// Returns 1 when touched, 0 when the record is gone.
const TOUCH: &str = r"
local e = redis.call('HGET', KEYS[1], 'e')
if not e or (tonumber(e) or 0) <= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'e', ARGV[2], 's', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
";

/// `delete`: ARGV = now. Returns {1 if a live record was deleted else 0, its user or
/// nil}.
const DELETE: &str = r"
local cur = redis.call('HMGET', KEYS[1], 'e', 'u')
if redis.call('DEL', KEYS[1]) == 0 then return {0, false} end
local live = 0
if (tonumber(cur[1]) or 0) > tonumber(ARGV[1]) then live = 1 end
return {live, cur[2]}
";

/// Revocation by user: ARGV = now, user. Deletes the record only if it is still bound
/// to that user. Returns 1 when a live record was deleted, else 0.
const DELETE_IF_USER: &str = r"
local cur = redis.call('HMGET', KEYS[1], 'e', 'u')
if cur[2] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
if (tonumber(cur[1]) or 0) <= tonumber(ARGV[1]) then return 0 end
return 1
";

macro_rules! script {
    ($name:ident, $source:ident) => {
        pub(crate) fn $name() -> &'static Script {
            static SCRIPT: OnceLock<Script> = OnceLock::new();
            SCRIPT.get_or_init(|| Script::new($source))
        }
    };
}

script!(create, CREATE);
script!(swap, SWAP);
script!(touch, TOUCH);
script!(delete, DELETE);
script!(delete_if_user, DELETE_IF_USER);
