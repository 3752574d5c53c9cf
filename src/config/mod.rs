//! Configuration: `config/vigil.toml` (policies, calendars, service settings), tenant policy
//! files, and `VIGIL__<SECTION>__<KEY>` environment overrides, validated with every problem
//! reported at once as `file:line: field: message`.
//!
//! Entry points: [`VigilConfig::load_for_serving`] for `vigil run` (it also refuses a
//! development or short JWT secret, see [`secrets`]), [`VigilConfig::load`] for one-shot
//! tools, [`check_config`] for `vigil check-config` (checks as strict as `vigil run`'s).

pub mod check;
pub mod duration;
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
pub use duration::ConfigDuration;
pub use load::{load_with_env, Loaded};
pub use problem::ConfigProblem;
pub use sections::{
    AuthConfig, ClockMode, ClusterConfig, EngineConfig, NatsConfig, TenantFile, TenantsConfig,
    VigilConfig,
};

/// Where the configuration is read from when no `--config` is given.
pub const DEFAULT_PATH: &str = "config/vigil.toml";
