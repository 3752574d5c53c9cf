//! What every component's configuration section is built from: durations written as text
//! (`"90s"`, `"35d"`), and the path of a field, by which a problem names the field at fault.
//! Components (`http`, `hub`, `store`, `notify`, `partner`) declare their sections with these;
//! `config` assembles the sections into `vigil.toml` and reports problems.
//!
//! # Layout
//! - [`duration`]: [`ConfigDuration`], a duration written as a string.
//! - [`field_path`]: [`FieldPath`] and its steps, [`Seg`].

pub mod duration;
pub mod field_path;

pub use duration::ConfigDuration;
pub use field_path::{FieldPath, Seg};
