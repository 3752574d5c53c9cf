//! The configuration center: a runtime layer above the files and the environment, changed
//! through the API while the service runs, kept in the store (every version of every key, with
//! who, when and why: the audit) and applied by every instance within a second.
//!
//! Layers, lowest first: built-in defaults → `config/vigil.toml` → tenant files → `VIGIL__…`
//! environment → the runtime layer. A runtime key's value replaces what the layers below say.
//!
//! # Layout
//! - [`keys`]: which keys may change at run time, which may not, and why.
//! - [`layer`]: the runtime layer's values, checked with `check-config`'s rules.
//! - [`notify`]: the on-call routing lists of the layer, checked and made into the routing.
//! - [`center`]: changing the layer: check, append with optimistic locking, announce.
//! - [`follow`]: applying the layer on this instance (notices, resync).
//! - [`rollback`]: flags switched back when their rollback condition trips.

pub mod center;
pub mod follow;
pub mod keys;
pub mod layer;
pub mod notify;
pub mod rollback;

pub use crate::flags::{FlagRule, FlagSet, Flags, Switch};
pub use center::{Author, ChangeError, ChangeRequest, ConfigCenter};
pub use keys::{known_switches, HttpLimit, KeyError, NotifyField, RuntimeKey, SlaField};
pub use layer::{RuntimeLayer, ValueProblem};
