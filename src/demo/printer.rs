//! Prints every alert published on `vigil.alerts.*` as one readable line.

use futures::StreamExt;
use tokio::sync::watch;
use vigil_engine::{AlertRecord, AlertState, Level};
use vigil_schema::format_instant;

use super::println_demo;

/// Subscribes to the alert subjects and prints until `stop`.
pub async fn print_alerts(nats_url: String, mut stop: watch::Receiver<bool>) {
    let Ok(client) = async_nats::connect(&nats_url).await else {
        return;
    };
    let Ok(mut sub) = client.subscribe("vigil.alerts.*").await else {
        return;
    };
    loop {
        tokio::select! {
            _ = crate::stopped(&mut stop) => return,
            msg = sub.next() => {
                let Some(msg) = msg else { return };
                if let Ok(a) = serde_json::from_slice::<AlertRecord>(&msg.payload) {
                    println_demo(&describe(&a));
                }
            }
        }
    }
}

fn describe(a: &AlertRecord) -> String {
    let what = match (a.level, a.state) {
        (Level::Warning, AlertState::Firing) => format!("WARNING {:>3.0}%", a.threshold * 100.0),
        (Level::Breach, AlertState::Firing) => "BREACH      ".to_string(),
        (_, state) => format!("{:<12}", state.as_str()),
    };
    format!(
        "{}  tenant {:<4} {:<10} {:<10} {:<8} {:<10} target {:>3} min  deadline {}",
        format_instant(a.fired_at),
        a.tenant_id,
        a.ticket_id,
        a.goal.as_str(),
        a.priority,
        what,
        a.target_ms / 60_000,
        format_instant(a.deadline),
    )
}
