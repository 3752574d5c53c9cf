//! Secrets the providers read (the SMTP password, an SMS gateway's or a webhook's key, a
//! partner's credentials): each is named by an environment variable in the configuration
//! (`password_env = "SMTP_PASSWORD"`), and the configuration center may set it at run time as
//! `secrets.<VARIABLE>`, stored sealed with AES-256-GCM ([`seal`]).
//!
//! [`Secrets`] is the one place a provider looks a secret up: the runtime value when the layer
//! sets one, else the process environment. [`Rebuilt`] keeps a provider built from secrets and
//! builds it again, at its next use, once they change. Secret values never appear in `Debug`,
//! logs, notices or API answers ([`shown`]).

pub mod seal;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde_json::Value;
use tracing::warn;

pub use seal::{SealError, SealKey, KEY_ENV};

/// What a secret's value is shown as, wherever values are shown.
pub const MASK: &str = "********";

/// The prefix of the runtime keys that hold secrets.
pub const KEY_PREFIX: &str = "secrets.";

/// `value` as it may be shown for `key`: a secret's value masked, anything else as is.
pub fn shown(key: &str, value: Value) -> Value {
    if key.starts_with(KEY_PREFIX) && !value.is_null() {
        Value::String(MASK.into())
    } else {
        value
    }
}

type EnvFn = dyn Fn(&str) -> Option<String> + Send + Sync;

/// The secrets of this process: runtime values over the environment. Cheap to clone; clones
/// share the values.
#[derive(Clone)]
pub struct Secrets {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: RwLock<Arc<BTreeMap<String, String>>>,
    generation: AtomicU64,
    env: Box<EnvFn>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("runtime", &self.runtime().keys().collect::<Vec<_>>())
            .field("generation", &self.generation())
            .finish()
    }
}

impl Secrets {
    /// Secrets over the process environment.
    pub fn from_process_env() -> Secrets {
        Secrets::with_env(|var| std::env::var(var).ok())
    }

    /// Secrets over `env` instead of the process environment (tests, embedded use).
    pub fn with_env(env: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Secrets {
        Secrets {
            inner: Arc::new(Inner {
                runtime: RwLock::new(Arc::default()),
                generation: AtomicU64::new(0),
                env: Box::new(env),
            }),
        }
    }

    fn runtime(&self) -> Arc<BTreeMap<String, String>> {
        match self.inner.runtime.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The value of the variable `var`: the runtime layer's, else the environment's.
    pub fn lookup(&self, var: &str) -> Option<String> {
        if let Some(value) = self.runtime().get(var) {
            return Some(value.clone());
        }
        (self.inner.env)(var)
    }

    /// The value the environment alone gives `var` (whether a runtime value sits over it or
    /// not).
    pub fn from_environment(&self, var: &str) -> Option<String> {
        (self.inner.env)(var)
    }

    /// Bumped by every [`replace`](Self::replace) that changed something.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Puts the runtime values in force (variable → value); returns whether anything changed.
    pub fn replace(&self, values: BTreeMap<String, String>) -> bool {
        let mut guard = match self.inner.runtime.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if **guard == values {
            return false;
        }
        *guard = Arc::new(values);
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        true
    }
}

type BuildFn<T> = dyn Fn(&Secrets) -> Result<T, String> + Send + Sync;

/// A provider built from secrets, built again at its first use after they change. A rebuild
/// that fails (a secret removed from the layer and not in the environment) keeps the provider
/// in force and says so in the log. Cheap to clone; clones share the provider.
pub struct Rebuilt<T> {
    what: Arc<str>,
    secrets: Option<Secrets>,
    build: Arc<BuildFn<T>>,
    current: Arc<Mutex<(u64, Arc<T>)>>,
}

impl<T> Clone for Rebuilt<T> {
    fn clone(&self) -> Self {
        Rebuilt {
            what: self.what.clone(),
            secrets: self.secrets.clone(),
            build: self.build.clone(),
            current: self.current.clone(),
        }
    }
}

impl<T> fmt::Debug for Rebuilt<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rebuilt")
            .field("what", &self.what)
            .finish_non_exhaustive()
    }
}

impl<T> Rebuilt<T> {
    /// `first` (built by the caller from `secrets`, so its errors are the caller's), rebuilt
    /// with `build` once `secrets` change. `what` names it in the log.
    pub fn new(
        what: impl Into<Arc<str>>,
        secrets: &Secrets,
        first: T,
        build: impl Fn(&Secrets) -> Result<T, String> + Send + Sync + 'static,
    ) -> Rebuilt<T> {
        Rebuilt {
            what: what.into(),
            current: Arc::new(Mutex::new((secrets.generation(), Arc::new(first)))),
            secrets: Some(secrets.clone()),
            build: Arc::new(build),
        }
    }

    /// A provider that is never rebuilt (tests, the demo).
    pub fn fixed(value: T) -> Rebuilt<T> {
        Rebuilt {
            what: "fixed".into(),
            secrets: None,
            build: Arc::new(|_| Err("fixed".into())),
            current: Arc::new(Mutex::new((0, Arc::new(value)))),
        }
    }

    /// The provider in force, rebuilt first if the secrets changed since it was built.
    pub fn current(&self) -> Arc<T> {
        let mut current = match self.current.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(secrets) = &self.secrets {
            let generation = secrets.generation();
            if generation != current.0 {
                current.0 = generation;
                match (self.build)(secrets) {
                    Ok(value) => current.1 = Arc::new(value),
                    Err(e) => {
                        crate::telemetry::metrics::config_apply_errors().increment(1);
                        warn!(provider = %self.what, error = %e, "cannot rebuild with the changed secrets; the provider as it was stays in force");
                    }
                }
            }
        }
        current.1.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_values_come_before_the_environment() {
        let secrets = Secrets::with_env(|var| (var == "A").then(|| "from-env".to_string()));
        assert_eq!(secrets.lookup("A").as_deref(), Some("from-env"));
        assert_eq!(secrets.lookup("B"), None);
        assert!(secrets.replace(BTreeMap::from([("A".into(), "runtime".into())])));
        assert_eq!(secrets.lookup("A").as_deref(), Some("runtime"));
        assert!(!secrets.replace(BTreeMap::from([("A".into(), "runtime".into())])));
        assert!(secrets.replace(BTreeMap::new()));
        assert_eq!(secrets.lookup("A").as_deref(), Some("from-env"));
    }

    #[test]
    fn a_provider_is_rebuilt_once_after_a_change_and_kept_when_the_rebuild_fails() {
        let secrets = Secrets::with_env(|_| None);
        secrets.replace(BTreeMap::from([("K".into(), "one".into())]));
        let first = secrets.lookup("K").unwrap_or_default();
        let provider = Rebuilt::new("test", &secrets, first, |s| {
            s.lookup("K").ok_or_else(|| "K is not set".to_string())
        });
        assert_eq!(*provider.current(), "one");
        secrets.replace(BTreeMap::from([("K".into(), "two".into())]));
        assert_eq!(*provider.clone().current(), "two");
        secrets.replace(BTreeMap::new());
        assert_eq!(
            *provider.current(),
            "two",
            "a failed rebuild keeps the provider"
        );
    }

    #[test]
    fn secret_values_are_masked_and_others_are_not() {
        assert_eq!(
            shown("secrets.SMTP_PASSWORD", Value::from("p")),
            Value::from(MASK)
        );
        assert_eq!(shown("secrets.SMTP_PASSWORD", Value::Null), Value::Null);
        assert_eq!(
            shown("log.filter", Value::from("info")),
            Value::from("info")
        );
        let secrets = Secrets::with_env(|_| Some("hidden-value".into()));
        secrets.replace(BTreeMap::from([("K".into(), "hidden-runtime".into())]));
        let debug = format!("{secrets:?}");
        assert!(!debug.contains("hidden"), "{debug}");
    }
}
