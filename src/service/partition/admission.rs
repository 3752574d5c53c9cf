//! Admission: each message decoded and checked against its subject's tenant (a reject is
//! dead-lettered at once), then handed to the engine. With tenant actors, an event whose id was
//! applied before goes as a repeat for the engine to judge, and one whose id is still in flight
//! waits for that answer; a round goes to the actors as one message per tenant.

use std::time::Instant;

use futures::stream::FuturesOrdered;
use hashbrown::{HashMap, HashSet};
use vigil_engine::supervisor::Applied;
use vigil_engine::Collected;
use vigil_schema::{decode, Dedupe, Event, EventKey, RejectReason, Rejection};
use vigil_streams::PartitionMessage;

use super::worker::Progress;
use super::PartitionWorker;
use crate::service::applier::{Applier, Outcome, PendingApply, Tag};

impl PartitionWorker {
    /// Decodes a message and hands it to the engine. Answers the event back when its id is
    /// still in flight: its verdict depends on the answer for the earlier one.
    pub(super) async fn start(
        &mut self,
        message: PartitionMessage,
        dedupe: &mut Dedupe,
        in_flight_ids: &mut HashSet<EventKey>,
        round: &mut Vec<(Tag, Event)>,
        progress: &mut Progress,
    ) -> Option<(Tag, Event)> {
        let seq = message.stream_sequence;
        let tag = Tag {
            sequence: seq,
            payload: message.payload.clone(),
            received: Instant::now(),
            repeat: false,
            key: None,
        };
        let event = match decode(&message.payload) {
            Ok(e) => e,
            Err(rejection) => {
                self.reject(
                    message.tenant_id,
                    &message.payload,
                    rejection,
                    seq,
                    progress,
                )
                .await;
                self.handled(seq, progress);
                return None;
            }
        };
        if message.tenant_id.is_some_and(|t| t != event.tenant_id) {
            let r = Rejection::field(
                RejectReason::InvalidField,
                "tenant_id",
                "does not match the subject's tenant",
            );
            self.reject(message.tenant_id, &message.payload, r, seq, progress)
                .await;
            self.handled(seq, progress);
            return None;
        }
        match &mut self.applier {
            Applier::Actors(_) => {
                let key = EventKey::new(event.tenant_id, &event.event_id);
                let tag = Tag {
                    key: Some(key),
                    ..tag
                };
                if in_flight_ids.contains(&key) {
                    return Some((tag, event));
                }
                self.admit(tag, event, dedupe, in_flight_ids, round);
            }
            Applier::EventTime(driver) => {
                let mut out = Collected::default();
                driver.offer(event, tag, &mut out);
                let drained = driver.buffered() == 0;
                self.send_alerts(out.alerts).await;
                for (tag, event, result) in out.outcomes {
                    let applied = result.map_or_else(Applied::Rejected, |()| Applied::Ok);
                    self.finish(
                        Outcome {
                            tag,
                            event,
                            applied,
                        },
                        dedupe,
                        progress,
                    )
                    .await;
                }
                // Events wait in the reorder buffer: progress is what has left it.
                if drained {
                    self.handled(seq, progress);
                }
            }
        }
        None
    }

    /// Adds an event (its tag carrying its key) whose id is not in flight to the round; one
    /// whose id was applied before
    /// goes as a repeat, for the engine to judge on its own first (DESIGN.md §3.1). The id of
    /// an event that may be applied is in flight from here until its answer is booked, so a
    /// later event of the same round with the same id waits for that answer.
    pub(super) fn admit(
        &self,
        mut tag: Tag,
        event: Event,
        dedupe: &Dedupe,
        in_flight_ids: &mut HashSet<EventKey>,
        round: &mut Vec<(Tag, Event)>,
    ) {
        if let Some(key) = tag.key {
            tag.repeat = dedupe.contains_key(key);
            if !tag.repeat {
                in_flight_ids.insert(key);
            }
        }
        round.push((tag, event));
    }

    /// Sends a round of events to their tenants' actors: one message per tenant, its events in
    /// stream order.
    pub(super) fn dispatch(
        &self,
        round: Vec<(Tag, Event)>,
        in_flight: &mut FuturesOrdered<PendingApply>,
    ) {
        let Applier::Actors(pool) = &self.applier else {
            return;
        };
        let mut groups: Vec<(u64, Vec<Tag>, Vec<Event>)> = Vec::new();
        let mut index: HashMap<u64, usize> = HashMap::new();
        for (tag, event) in round {
            let i = *index.entry(event.tenant_id).or_insert_with(|| {
                groups.push((event.tenant_id, Vec::new(), Vec::new()));
                groups.len() - 1
            });
            groups[i].1.push(tag);
            groups[i].2.push(event);
        }
        for (tenant, tags, events) in groups {
            let repeats = if tags.iter().any(|t| t.repeat) {
                tags.iter().map(|t| t.repeat).collect()
            } else {
                Vec::new()
            };
            let answer = pool.apply_batch(tenant, events, repeats);
            in_flight.push_back(Box::pin(async move {
                (tags, answer.await.map_err(|e| e.to_string()))
            }));
        }
    }
}
