//! The Lua scripts: each is one atomic server-side step on exactly one key
//! (`KEYS[1]`, a session value laid out as in [`crate::value`]), run with `EVALSHA`
//! (loaded with `SCRIPT LOAD` on `NOSCRIPT`, then sent again). They read the
//! fixed-width header with `GETRANGE` (Lua's `string.sub` counts from 1: the version is
//! 1–20, the expiry 21–40, the user flag 61, the user's length 62–71, the user from 72)
//! and never decode the record.
//!
//! `ARGV[1]` is always the application's clock in unix milliseconds, written as the
//! header writes times (zero-padded to 20 characters; [`Call`] adds it): a record whose
//! expiry is not after it counts as gone, even if Redis has not expired the key yet,
//! so every operation agrees with `load` on what "expired" means.
//!
//! `create` needs no script: it is `SET … NX PXAT`, and only when that finds the key
//! taken does [`create`] decide, by the application's clock, whether the record there
//! is still live.

use std::sync::OnceLock;

use redis::{Cmd, ErrorKind, FromRedisValue, RedisResult, Script, ServerErrorKind, ToRedisArgs};

use time::OffsetDateTime;

use crate::{value, Connection};

/// `create` after `SET NX` found the key taken: ARGV = now, value, PXAT.
/// Returns 1 when stored (the record there had expired), 0 when it is live.
const CREATE: &str = r"
local e = redis.call('GETRANGE', KEYS[1], 20, 39)
if (tonumber(e) or 0) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
return 1
";

/// The user part of the header and the user, from a header read with GETRANGE 0 70.
const USER_OF: &str = r"
local function user_of(head)
  local n = tonumber(string.sub(head, 62, 71)) or 0
  if n == 0 then return string.sub(head, 61, 71) end
  return string.sub(head, 61, 71) .. redis.call('GETRANGE', KEYS[1], 71, 70 + n)
end
";

/// `compare_and_swap`: ARGV = now, expected version (as the header holds it),
/// check_user ("1"/"0"), value, PXAT, the new value's user section.
/// Returns 1 when swapped; 0 when the record is gone or its version differs; 2 (only
/// with check_user) when the swap would bind the record to another user, whose index
/// must first be told (nothing is written then).
///
/// This runs on every save, so it does the least Redis can: it reads the user part of
/// the header only when it checks the user, and compares the expiry with the clock as
/// text: both are 20 digits, zero-padded, so their text order is their numeric order
/// (in any locale Lua's comparison may use). An expiry before 1970 is written with a
/// leading `-` (byte 45) and counts as passed. (0.5–1.6 µs less per call than reading 71
/// bytes and converting both to numbers, of 6–8 µs, on the benchmark's machine.)
const SWAP: &str = r"
local head = redis.call('GETRANGE', KEYS[1], 0, ARGV[3] == '1' and 70 or 39)
if string.sub(head, 1, 20) ~= ARGV[2] then return 0 end
local expires = string.sub(head, 21, 40)
if string.byte(expires) == 45 or expires <= ARGV[1] then return 0 end
if ARGV[3] == '1' and user_of(head) ~= ARGV[6] then return 2 end
redis.call('SET', KEYS[1], ARGV[4], 'PXAT', ARGV[5])
return 1
";

/// `touch`: ARGV = now, the expiry and last-seen fields (40 bytes), PEXPIREAT. Moves
/// those fields and the key's expiry; the version and the record stay as they are.
/// Returns 1 when touched, 0 when the record is gone.
const TOUCH: &str = r"
local e = redis.call('GETRANGE', KEYS[1], 20, 39)
if (tonumber(e) or 0) <= tonumber(ARGV[1]) then return 0 end
redis.call('SETRANGE', KEYS[1], 20, ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
";

/// `delete`: ARGV = now. Returns {1 if a live record was deleted else 0, its user or
/// nil}.
const DELETE: &str = r"
local head = redis.call('GETRANGE', KEYS[1], 0, 70)
if head == '' then return {0, false} end
local user = false
if string.sub(head, 61, 61) == '1' then
  local n = tonumber(string.sub(head, 62, 71)) or 0
  user = ''
  if n > 0 then user = redis.call('GETRANGE', KEYS[1], 71, 70 + n) end
end
redis.call('DEL', KEYS[1])
local live = 0
if (tonumber(string.sub(head, 21, 40)) or 0) > tonumber(ARGV[1]) then live = 1 end
return {live, user}
";

/// Revocation by user: ARGV = now, the user's section (as in the header). Deletes the
/// record only if it is still bound to that user. Returns 1 when a live record was
/// deleted, else 0.
const DELETE_IF_USER: &str = r"
local head = redis.call('GETRANGE', KEYS[1], 0, 70)
if head == '' or user_of(head) ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
if (tonumber(string.sub(head, 21, 40)) or 0) <= tonumber(ARGV[1]) then return 0 end
return 1
";

/// One call of a script: `EVALSHA <hash> 1 <key> <args…>` written straight into the
/// command buffer. (redis-rs's `ScriptInvocation` collects each argument in a vector of
/// its own and copies them all into a command when invoked: about 3,000 instructions
/// per save that this skips.) A cluster routes `EVALSHA` by its key and `SCRIPT LOAD`
/// to every primary, as it does for `ScriptInvocation`.
pub(crate) struct Call {
    script: &'static Script,
    cmd: Cmd,
}

impl Call {
    /// The call on `key`, with the application's clock as `ARGV[1]`.
    fn new(script: &'static Script, key: &str) -> Self {
        let now = value::ms(OffsetDateTime::now_utc());
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script.get_hash())
            .arg(1)
            .arg(key)
            .arg(value::time_field(now));
        Self { script, cmd }
    }

    /// Appends the next `ARGV`.
    pub(crate) fn arg(mut self, arg: impl ToRedisArgs) -> Self {
        self.cmd.arg(arg);
        self
    }

    /// Runs the script; if the server does not have it (first call, a restart, a
    /// `SCRIPT FLUSH`, a failover), loads it and sends the call once more.
    pub(crate) async fn run<T: FromRedisValue>(&self, conn: &mut Connection) -> RedisResult<T> {
        match self.cmd.query_async(conn).await {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                self.script.load_async(conn).await?;
                self.cmd.query_async(conn).await
            }
            done => done,
        }
    }
}

macro_rules! script {
    ($name:ident, $source:expr) => {
        /// A call of this script on `key`, the clock as `ARGV[1]`; the other `ARGV`
        /// follow with [`Call::arg`].
        pub(crate) fn $name(key: &str) -> Call {
            static SCRIPT: OnceLock<Script> = OnceLock::new();
            Call::new(SCRIPT.get_or_init(|| Script::new(&$source)), key)
        }
    };
}

script!(create, CREATE);
script!(swap, format!("{USER_OF}{SWAP}"));
script!(touch, TOUCH);
script!(delete, DELETE);
script!(delete_if_user, format!("{USER_OF}{DELETE_IF_USER}"));
