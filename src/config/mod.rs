//! Configuration: `config/vigil.toml` (policies, calendars, service settings), tenant policy
//! files, and `VIGIL__<SECTION>__<KEY>` environment overrides, validated with every problem
//! reported at once as `file:line: field: message`.
//!
//! Entry points: [`VigilConfig::load_for_serving`] for `vigil run` (it also refuses a
//! development or short JWT secret, see [`secrets`]), [`VigilConfig::load`] for one-shot
//! tools, [`check_config`] for `vigil check-config` (checks as strict as `vigil run`'s).
//!
//! # Layout
//! - [`load`]: defaults, then `vigil.toml`, then the environment, then tenant policy files.
//! - [`sections`]: the shape of `vigil.toml` and tenant files, with every default.
//! - [`env`]: `VIGIL__<SECTION>__<KEY>` overrides.
//! - [`secrets`]: whether the JWT secret may guard a running service.
//! - [`check`]: `vigil check-config`: validation and the effective configuration.
//! - [`problem`]: problems with their file and line (field paths and durations, which every
//!   component's section uses, are in [`crate::setting`]).
//! - `spans`: line numbers of keys, from the TOML parser's spans.
//! - `tolerant`: deserializing a whole document while collecting every problem.

pub mod check;
pub mod env;
pub mod load;
pub mod problem;
pub mod secrets;
pub mod sections;
mod spans;
mod tolerant;

#[cfg(test)]
mod tests;

pub use check::{check_config, check_config_with_env};
pub use load::{load_with_env, Loaded};
pub use problem::ConfigProblem;
pub use sections::{
    ClockMode, ClusterConfig, EngineConfig, NatsConfig, TenantFile, TenantsConfig, VigilConfig,
};

/// Where the configuration is read from when no `--config` is given.
pub const DEFAULT_PATH: &str = "config/vigil.toml";
