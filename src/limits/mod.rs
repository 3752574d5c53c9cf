//! Rate limits that protect others (API per client IP and per tenant, notification channels
//! per recipient, exchange partners), held across instances when they share a Redis
//! (`[cluster] redis_url`) and in the process otherwise (DESIGN.md §6). Both paths run GCRA
//! with the same quota and give the same answer: allowed, or refused with how long to wait.
//! A Redis that does not answer never refuses a request: the process's own limiter answers
//! instead, and the failure is counted (`vigil_limit_redis_errors_total`) and logged at most
//! once a minute.
//!
//! # Layout
//! - `keyed`: [`KeyedLimit`], one limit over many keys: Redis first when shared, this process
//!   otherwise or when Redis does not answer; [`Refused`], the answer.
//! - `local`: [`LocalLimit`], the in-process limiter (governor) on a clock of the caller's.
//! - `pacer`: [`Pacer`], an in-process limit whose permits a thread of its own hands out to
//!   callers that wait for them, punctual to a tenth of a millisecond.
//! - `redis`: [`SharedLimits`], the Redis connection, the script call, failing open; the key
//!   layout (`vigil:limit:<scope>:<key>`).
//! - `gcra`: [`Gcra`], the arithmetic the script (`gcra.lua`) runs, in Rust and tested.

mod gcra;
mod keyed;
mod local;
mod pacer;
mod redis;

pub use gcra::{Gcra, Verdict};
pub use keyed::{KeyedLimit, Refused};
pub use local::LocalLimit;
pub use pacer::Pacer;
pub use redis::{
    check_url, redis_key, SharedError, SharedLimits, CALL_TIMEOUT, COOL_DOWN, KEY_PREFIX,
    WARN_EVERY,
};
