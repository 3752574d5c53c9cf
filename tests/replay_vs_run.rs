//! `vigil replay` and `vigil run` share one engine (DESIGN.md §3 rule 10): the service on the
//! event-time clock (`VIGIL__ENGINE__CLOCK=event`), fed the file `vigil replay` reads through
//! `vigil publish`, ends up with exactly the alerts the replay wrote: the same keys, ids,
//! `fired_at` and final states.

mod support;

use std::collections::BTreeMap;

use support::*;
use vigil_peers::NatsServer;

const CONFIG: &str = r#"
[sla]
warn_at = [0.5, 0.8]

[nats]
partitions = 4

[engine]
allowed_lateness = "5m"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_on_event_time_gives_the_alerts_of_replay() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let setup = ServiceSetup::new(dir.path(), &nats.url(), CONFIG, "event");

    // The workload spans two days; every tenant (so every partition it lands in) ends with an
    // event twelve days later, past every target of the open tickets and much more than the
    // lateness after the rest, so the event-time clock of the service passes everything the
    // replay reports before its end of input.
    let base = ms("2026-11-02T00:00:00Z");
    let tenants = [61, 62, 63];
    let mut events = workload(&tenants, 30, base, 9);
    for &t in &tenants {
        events.push(Ev::created(
            t,
            "FINAL",
            base + 12 * 24 * HOUR,
            "LOW",
            &format!("final-{t}"),
        ));
    }
    let file = dir.path().join("events.ndjson");
    std::fs::write(&file, ndjson_of(&events)).unwrap();

    let (records, summary) = replay(
        dir.path(),
        &file,
        &["--config", setup.config.to_str().unwrap()],
    );
    assert_eq!(summary.rejected, 0);
    assert!(
        summary.warnings > 40 && summary.breaches > 20 && summary.resolved > 20,
        "{summary:?}"
    );
    let finals = final_states(&records);
    let mut expected: Vec<AlertKey> = Vec::new();
    let mut ids = BTreeMap::new();
    for r in &records {
        ids.insert(r.dedupe_key(), r.alert_id.clone());
    }
    for r in records.iter().filter(|r| r.state == "firing") {
        let (state, fired_at) = &finals[&r.dedupe_key()];
        assert_eq!(
            fired_at,
            &r.fired_at,
            "fired_at changed for {}",
            r.dedupe_key()
        );
        let mut k = r.key();
        k.5 = state.clone();
        expected.push(k);
    }
    assert_eq!(
        expected.len(),
        finals.len(),
        "every key fired before any other change"
    );

    let mut service = setup.start();
    service.ready().await;
    setup.publish(&file);

    let rows = wait_for_store(&setup.db, expected.clone()).await;
    for row in &rows {
        let (tenant, ticket, goal, level, th, _, _) = &row.key;
        let dedupe = format!("{tenant}:{ticket}:{goal}:{level}:{th}");
        assert_eq!(
            ids.get(&dedupe),
            Some(&row.alert_id),
            "alert_id of {dedupe}"
        );
    }
    let status = service.stop().await;
    assert!(status.success(), "exit status {status}");
}
