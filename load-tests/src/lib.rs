//! Load tools for Vigil: the benchmark drivers behind the performance targets, on the workload
//! generator and fake peers of `vigil_peers`. Every benchmark prints its figures on stdout, one
//! `name=value` per line; progress goes to stderr. Build with `--release`; run on an otherwise idle machine.
//!
//! # Commands
//! ```text
//! # replay throughput and peak RSS (targets: >= 1,000,000 events/s, < 100 MB):
//! vigil-load generate --output /tmp/events.ndjson          # 1,000,000 events, 1,000 tenants, 7 days
//! /usr/bin/time -f 'replay_seconds=%e peak_rss_kb=%M' vigil replay --input /tmp/events.ndjson --output /dev/null
//! vigil-load decode --input /tmp/events.ndjson             # the floor: decoded_events_per_sec=…
//! # the per-event engine path (criterion; decode, decode+offer, apply, calendar):
//! cargo bench -p vigil-engine --bench engine
//! # recovery with many open tickets (load-tests/bench/open_tickets.sh drives it):
//! vigil-load open-tickets --tickets 1000000 --history 5000000 | vigil publish --input -
//! # memory per open ticket (<= 300 B) and per idle tenant actor (<= 4 KiB):
//! vigil-load memory --tickets 1000000 --tenants 10000      # bytes_per_open_ticket=…
//! vigil-load memory --idle-tenants 100000                  # bytes_per_idle_tenant_actor=…
//! # live dedupe memory over 10,000,000 unique ids (flat once the 35-day window is full):
//! vigil-load dedupe --events 10000000                      # rss_growth_after_window_pct=…
//! # live: JetStream -> applied vs raw consume (>= 80 %), warning latency (p99 <= 100 ms):
//! vigil-load live --events 1000000                         # applied_to_raw_ratio=…, warn_*_p99_ms=…
//! vigil-load live --events 1000000 --engine event-time --warn-tickets 0
//! # WebSocket push latency against a running service (`vigil run`, per-IP limit off):
//! vigil-load ws --clients 10000 --tenants 100 --rate 10000 --duration 30s   # push_latency_p99_ms=…
//! # notification storm (>= 5,000 notifications/s, ingest unaffected): the whole run is
//! load-tests/bench/notify.sh                                # storm, sms-sink, ingest-watch
//! # a fake exchange partner (until Ctrl-C; faults, seeding, counts under /_admin/):
//! vigil-load partner --listen 127.0.0.1:9400 --timezone Asia/Shanghai --prefix /api
//! ```
//! `live` starts its own `nats-server` (from `NATS_SERVER_BIN` or `PATH`) with a temp store;
//! `ws` uses the service's (`--nats`, `--url`).
//!
//! # Layout
//! - [`decode`]: `vigil-load decode`: decoding alone, the replay's floor.
//! - [`dedupe`]: resident memory of the live dedupe memory over many unique ids.
//! - [`open_tickets`]: `vigil-load open-tickets`: a stream that leaves many tickets open.
//! - [`tickets`]: single synthetic events for the memory and latency benchmarks.
//! - [`memory`]: `vigil-load memory`: RSS per open ticket and per idle tenant.
//! - [`live`]: `vigil-load live`: publish, raw vs applied consume rate, warning latency.
//! - [`ws`]: `vigil-load ws`: WebSocket clients, alert push latency, messages per second.
//! - [`notify`]: `vigil-load storm`, `sms-sink`, `ingest-watch`: the notification storm.
//! - [`partner`]: `vigil-load partner`: serves `vigil_peers`' fake exchange partner until Ctrl-C.
//! - [`rss`]: this process's resident memory.
//! - [`report`]: printing figures.

pub mod decode;
pub mod dedupe;
pub mod live;
pub mod memory;
pub mod notify;
pub mod open_tickets;
pub mod partner;
pub mod report;
pub mod rss;
pub mod tickets;
pub mod ws;
