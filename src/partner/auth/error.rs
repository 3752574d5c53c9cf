//! Why requests to a partner cannot be authenticated.

use crate::http_client::ErrorClass;

/// Why requests cannot be authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A secret's environment variable is not set (or empty) at start-up.
    #[error("{field}: environment variable {var} is not set")]
    MissingEnv {
        /// The field naming it, e.g. `auth.secret_env`.
        field: &'static str,
        /// The variable.
        var: String,
    },
    /// A setting or secret cannot be used (a key that cannot go into a header).
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, e.g. `auth.token_url`.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The token endpoint gave no usable token.
    #[error("token endpoint: {reason}")]
    Token {
        /// Whether asking again later may help (time-outs, connection errors, 408, 429, 5xx).
        class: ErrorClass,
        /// The token endpoint's HTTP status, if it answered.
        status: Option<u16>,
        /// What went wrong, with the start of the endpoint's answer.
        reason: String,
    },
    /// The operating system gave no random bytes for a nonce.
    #[error("no random nonce: {0}")]
    Random(getrandom::Error),
}
