//! The pure core of a reconciliation: our side of a day as record id → content hash, and the
//! counting of one partner page against it (with the [`PageText`] saved with the page).
//!
//! Memory: our side keeps each record's id (in shared texts) and 16 bytes more: where the id
//! is and 64 bits of its content hash. It is built from [`Digest`]s of the store's rows, made
//! batch by batch on blocking threads as they stream in and added as they come, so the records
//! themselves are never all held at once and no id is copied once written. Records that end up
//! in the report are read again from the store by id and mapped then.

use std::sync::Arc;

use vigil_engine::SlaRecord;

use super::page_text::{parse_header, unescape, PageText, MISMATCH_MARK};
use crate::partner::mapping::{ContentHash, Mapper};
use crate::store::{DiffKind, RunCounts};

/// What the partner's pages said of one of our records so far. Ordered: a record listed twice
/// keeps the worse finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Seen {
    /// Not listed (yet).
    No,
    /// Listed with the same content hash.
    Matched,
    /// Listed with a different content hash.
    Mismatched,
}

/// Our records of a day: ids sorted, each with its content hash and what the partner said.
#[derive(Debug, Default)]
pub(super) struct OurSide {
    ids: Arc<OurIds>,
    seen: Vec<Seen>,
}

/// Our record ids of a day, sorted, each with its content hash: what a partner page is looked
/// up in. Shared with the threads that digest the pages.
#[derive(Debug, Default)]
pub(super) struct OurIds(IdTable);

/// Where a partner's record stands against ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Listed {
    /// Our record at this index, with the same content hash.
    Same(usize),
    /// Our record at this index, with a different content hash.
    Different(usize),
    /// None of ours: the partner's record id, or `None` when its object has no usable one.
    NotOurs(Option<String>),
}

/// Record ids in texts of at most [`CHUNK_BYTES`] each (no allocation per id, none copied once
/// written), each id with a content hash.
#[derive(Debug, Default)]
struct IdTable {
    chunks: Vec<Box<str>>,
    entries: Vec<Entry>,
}

/// The most text one chunk of an [`IdTable`] holds: where an id starts in it fits in a `u16`.
const CHUNK_BYTES: usize = u16::MAX as usize;

/// One id of an [`IdTable`]: where it is in which chunk, and the first 64 bits of its
/// record's content hash (16 bytes; a difference between two records goes unnoticed only when
/// 64 bits of their xxh3 hashes agree, about once in 10^19 comparisons).
#[derive(Debug, Clone, Copy)]
struct Entry {
    chunk: u32,
    start: u16,
    len: u16,
    hash: ShortHash,
}

/// The first 64 bits of a [`ContentHash`]: what our side keeps of each record.
type ShortHash = u64;

/// The first 64 bits of `hash` (xxh3-128's high half, itself a 64-bit hash).
fn short(hash: &ContentHash) -> ShortHash {
    let mut high = [0; 8];
    high.copy_from_slice(&hash[..8]);
    u64::from_be_bytes(high)
}

impl IdTable {
    fn id(&self, e: &Entry) -> &str {
        let start = usize::from(e.start);
        &self.chunks[e.chunk as usize][start..start + usize::from(e.len)]
    }

    /// Takes the chunks and entries of `other` after its own.
    fn append(&mut self, other: IdTable) -> Result<(), String> {
        let base = self.chunks.len() as u32;
        u32::try_from(self.chunks.len() + other.chunks.len())
            .map_err(|_| "more record ids than one run can hold (4 G texts of 64 KiB)")?;
        self.chunks.extend(other.chunks);
        self.entries.extend(other.entries.iter().map(|e| Entry {
            chunk: base + e.chunk,
            ..*e
        }));
        Ok(())
    }
}

/// Some of our records as our side keeps them: id and content hash, in no order.
#[derive(Debug, Default)]
pub(super) struct Digest(IdTable);

impl Digest {
    /// The records of `records` for the partner of `mapper`: only the tenants it `serves`, each
    /// mapped (masked and renamed) and hashed. Fails on a record id longer than 65,535 bytes
    /// (ids are a tenant, a ticket id of at most 128 characters and a goal).
    pub(super) fn of(
        records: Vec<SlaRecord>,
        mapper: &Mapper,
        serves: &(dyn Fn(u64) -> bool + Sync),
    ) -> Result<Digest, String> {
        let mut table = IdTable {
            chunks: Vec::new(),
            entries: Vec::with_capacity(records.len()),
        };
        let ours = || records.iter().filter(|r| serves(r.tenant_id));
        // Each chunk is made as large as the ids left to write need, up to CHUNK_BYTES, so
        // the last one of a digest is not mostly empty.
        let mut left: usize = ours().map(|r| r.record_id.len()).sum();
        let mut open = String::new();
        for r in ours() {
            let id = r.record_id.as_str();
            let len = u16::try_from(id.len())
                .map_err(|_| format!("record id of {} bytes: {:.64}…", id.len(), id))?;
            if open.len() + id.len() > CHUNK_BYTES {
                table
                    .chunks
                    .push(std::mem::take(&mut open).into_boxed_str());
            }
            if open.capacity() == 0 {
                open.reserve_exact(left.clamp(id.len(), CHUNK_BYTES));
            }
            table.entries.push(Entry {
                chunk: table.chunks.len() as u32,
                // Within the chunk: at most CHUNK_BYTES.
                start: open.len() as u16,
                len,
                hash: short(&mapper.record_hash(r)),
            });
            open.push_str(id);
            left -= id.len();
        }
        if !open.is_empty() {
            table.chunks.push(open.into_boxed_str());
        }
        Ok(Digest(table))
    }
}

/// Our side put together from [`Digest`]s as they come.
#[derive(Debug, Default)]
pub(super) struct OurSideBuilder(IdTable);

impl OurSideBuilder {
    /// A builder with room for `records` records (the table is not copied while it grows to
    /// that).
    pub(super) fn with_capacity(records: usize) -> OurSideBuilder {
        OurSideBuilder(IdTable {
            chunks: Vec::new(),
            entries: Vec::with_capacity(records),
        })
    }

    /// Adds the records of a digest.
    pub(super) fn add(&mut self, digest: Digest) -> Result<(), String> {
        self.0.append(digest.0)
    }

    /// Our side: ids sorted, a record id met twice kept once.
    pub(super) fn build(self) -> OurSide {
        let mut ids = self.0;
        let mut entries = std::mem::take(&mut ids.entries);
        entries.sort_unstable_by(|a, b| ids.id(a).cmp(ids.id(b)));
        entries.dedup_by(|a, b| ids.id(a) == ids.id(b));
        ids.entries = entries;
        let seen = vec![Seen::No; ids.entries.len()];
        OurSide {
            ids: Arc::new(OurIds(ids)),
            seen,
        }
    }
}

impl OurSide {
    /// Our side of `records` for the partner of `mapper` (see [`Digest::of`]).
    #[cfg(test)]
    pub(super) fn build(
        records: Vec<SlaRecord>,
        mapper: &Mapper,
        serves: &(dyn Fn(u64) -> bool + Sync),
    ) -> OurSide {
        let mut builder = OurSideBuilder::default();
        builder
            .add(Digest::of(records, mapper, serves).expect("short ids"))
            .expect("room");
        builder.build()
    }

    /// Our ids, to look partner records up in.
    pub(super) fn ids(&self) -> Arc<OurIds> {
        Arc::clone(&self.ids)
    }

    /// Our record ids in order, each with what the partner said of it.
    fn ids_seen(&self) -> impl Iterator<Item = (&str, Seen)> + '_ {
        (0..self.len()).map(|i| (self.ids.record(i).0, self.seen[i]))
    }

    /// How many records we have.
    pub(super) fn len(&self) -> usize {
        self.ids.0.entries.len()
    }

    /// Notes what the partner said of our record `id`; unknown ids are ignored.
    fn mark(&mut self, id: &str, seen: Seen) {
        if let Some(i) = self.ids.find(id) {
            self.seen[i] = self.seen[i].max(seen);
        }
    }

    /// Ours that no page listed, by id.
    pub(super) fn missing(&self) -> impl Iterator<Item = &str> + '_ {
        self.with(Seen::No)
    }

    /// Ours that the partner holds differently, by id.
    #[cfg(test)]
    pub(super) fn mismatched(&self) -> impl Iterator<Item = &str> + '_ {
        self.with(Seen::Mismatched)
    }

    /// Ours to send again: missing at the partner or different there, by id.
    pub(super) fn to_repair(&self) -> impl Iterator<Item = &str> + '_ {
        self.ids_seen()
            .filter(|(_, s)| *s != Seen::Matched)
            .map(|(id, _)| id)
    }

    fn with(&self, wanted: Seen) -> impl Iterator<Item = &str> + '_ {
        self.ids_seen()
            .filter(move |(_, s)| *s == wanted)
            .map(|(id, _)| id)
    }

    /// Applies a saved page's text ([`PageText`]); returns the page's `next_page`.
    pub(super) fn apply_saved(&mut self, text: &str) -> Result<Option<u32>, String> {
        let mut lines = text.split('\n');
        let next = parse_header(lines.next().unwrap_or_default())?;
        for line in lines.filter(|l| !l.is_empty()) {
            let (id, seen) = match line.strip_suffix(MISMATCH_MARK) {
                Some(id) => (id, Seen::Mismatched),
                None => (line, Seen::Matched),
            };
            self.mark(&unescape(id), seen);
        }
        Ok(next)
    }

    /// Counts one partner page, its records looked up in ours ([`OurIds::listing`]), and
    /// notes what it lists. Keeps the first `room` diffs found (their place on the page); the
    /// counts are always complete.
    ///
    /// A partner object without a usable id (its mapped `record_id` missing, or neither text
    /// nor a number) cannot be one of ours: it counts as missing at ours, kept with an empty
    /// record id so that someone reviews it. A record the partner lists twice counts twice.
    pub(super) fn compare_page(
        &mut self,
        records: &[Listed],
        next_page: Option<u32>,
        room: usize,
    ) -> PageComparison {
        let mut out = PageComparison {
            delta: RunCounts {
                partner_records: records.len() as u64,
                ..RunCounts::default()
            },
            text: PageText::new(next_page, records.len()),
            diffs: Vec::new(),
            without_id: 0,
        };
        for (at, listed) in records.iter().enumerate() {
            let (kind, record_id) = match listed {
                Listed::Same(i) => {
                    out.delta.matched += 1;
                    self.seen[*i] = self.seen[*i].max(Seen::Matched);
                    out.text.push(self.ids.record(*i).0, false);
                    continue;
                }
                Listed::Different(i) => {
                    out.delta.mismatched += 1;
                    self.seen[*i] = Seen::Mismatched;
                    let id = self.ids.record(*i).0;
                    out.text.push(id, true);
                    (DiffKind::Mismatched, id)
                }
                Listed::NotOurs(id) => {
                    out.delta.missing_at_ours += 1;
                    out.without_id += u64::from(id.is_none());
                    (DiffKind::MissingAtOurs, id.as_deref().unwrap_or_default())
                }
            };
            if out.diffs.len() < room {
                out.diffs.push(FoundDiff {
                    at,
                    kind,
                    record_id: record_id.to_string(),
                });
            }
        }
        out
    }
}

impl OurIds {
    /// Our record `i` (in id order): its id and (short) content hash.
    fn record(&self, i: usize) -> (&str, ShortHash) {
        let e = &self.0.entries[i];
        (self.0.id(e), e.hash)
    }

    /// The index of our record `id`.
    fn find(&self, id: &str) -> Option<usize> {
        self.0
            .entries
            .binary_search_by(|probe| self.0.id(probe).cmp(id))
            .ok()
    }

    /// Where a partner's record with record id `id` (`None`: no usable one) and content hash
    /// `hash` stands against ours.
    pub(super) fn listing(&self, id: Option<String>, hash: &ContentHash) -> Listed {
        match id.as_deref().and_then(|id| self.find(id)) {
            Some(i) if self.record(i).1 == short(hash) => Listed::Same(i),
            Some(i) => Listed::Different(i),
            None => Listed::NotOurs(id),
        }
    }
}

/// What one partner page holds against ours.
#[derive(Debug)]
pub(super) struct PageComparison {
    /// What the page adds to the run's counts.
    pub delta: RunCounts,
    /// The text to save with the page.
    pub text: PageText,
    /// The first diffs found (within the room given).
    pub diffs: Vec<FoundDiff>,
    /// Partner objects without a usable record id (counted as missing at ours).
    pub without_id: u64,
}

/// A diff found on a page; its texts are made by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FoundDiff {
    /// Its place on the page.
    pub at: usize,
    /// [`DiffKind::MissingAtOurs`] or [`DiffKind::Mismatched`].
    pub kind: DiffKind,
    /// The record id (empty when the partner's object has none).
    pub record_id: String,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};
    use vigil_engine::Goal;

    use super::*;
    use crate::partner::PartnerConfig;

    fn mapper() -> Mapper {
        let c: PartnerConfig = toml::from_str(
            "id = \"p\"\nbase_url = \"http://127.0.0.1:1/api\"\n\
             mapping = { record_id = \"id\", outcome = \"result\" }\n\
             masking = { assignee_id = \"first:2,last:2\" }",
        )
        .expect("config");
        Mapper::new(&c.mapping, &c.masking).expect("mapper")
    }

    fn listed(ours: &OurSide, theirs: &Map<String, Value>, m: &Mapper) -> Listed {
        ours.ids()
            .listing(m.record_id_of(theirs), &m.content_hash(theirs))
    }

    fn record(tenant: u64, ticket: &str) -> SlaRecord {
        SlaRecord {
            record_id: SlaRecord::id_of(tenant, ticket, Goal::Resolution),
            tenant_id: tenant,
            ticket_id: ticket.into(),
            goal: Goal::Resolution,
            priority: "HIGH".into(),
            service_type: "incident".into(),
            target_ms: 1000,
            actual_ms: 2000,
            outcome: "breached".into(),
            policy_version: 1,
            started_at: 1_700_000_000_000,
            stopped_at: 1_700_000_100_000,
            assignee_id: Some("engineer-42".into()),
        }
    }

    #[test]
    fn pages_are_compared_by_id_and_hash() {
        let m = mapper();
        let records = vec![
            record(1, "C"),
            record(1, "A"),
            record(2, "B"),
            record(1, "D"),
        ];
        let mut ours = OurSide::build(records.clone(), &m, &|t| t == 1);
        assert_eq!(ours.len(), 3);
        let same = m.map(&records[1]);
        let mut changed = m.map(&records[0]);
        changed.insert("result".into(), json!("met"));
        let foreign = m.map(&records[2]);
        let no_id = Map::from_iter([("result".to_string(), json!("met"))]);
        let page = [same, changed, foreign, no_id];

        let page: Vec<Listed> = page.iter().map(|o| listed(&ours, o, &m)).collect();
        let got = ours.compare_page(&page, Some(2), 2);
        assert_eq!(
            got.delta,
            RunCounts {
                partner_records: 4,
                matched: 1,
                missing_at_ours: 2,
                mismatched: 1,
            }
        );
        assert_eq!(
            got.diffs,
            [
                FoundDiff {
                    at: 1,
                    kind: DiffKind::Mismatched,
                    record_id: "1:C:resolution".into()
                },
                FoundDiff {
                    at: 2,
                    kind: DiffKind::MissingAtOurs,
                    record_id: "2:B:resolution".into()
                },
            ]
        );
        assert_eq!(
            got.text.as_str(),
            "next 2\n1:A:resolution\n1:C:resolution\tM"
        );
        assert_eq!(got.without_id, 1);
        assert_eq!(ours.missing().collect::<Vec<_>>(), ["1:D:resolution"]);
        assert_eq!(ours.mismatched().collect::<Vec<_>>(), ["1:C:resolution"]);

        // A resumed run rebuilds the same picture from the saved text.
        let mut again = OurSide::build(records, &m, &|t| t == 1);
        assert_eq!(again.apply_saved(got.text.as_str()), Ok(Some(2)));
        assert_eq!(again.seen, ours.seen);
    }

    #[test]
    fn saved_ids_survive_any_character() {
        let m = mapper();
        let mut odd = record(1, "T\t1\\x\ny\r");
        odd.record_id = odd.record_id.replace(':', "\t");
        let mut ours = OurSide::build(vec![odd.clone(), record(1, "Z")], &m, &|_| true);
        let odd_theirs = listed(&ours, &m.map(&odd), &m);
        let got = ours.compare_page(&[odd_theirs], None, 10);
        assert_eq!(got.delta.matched, 1);
        assert!(got.text.as_str().starts_with("next end\n"));
        assert_eq!(got.text.as_str().lines().count(), 2);
        let mut again = OurSide::build(vec![odd, record(1, "Z")], &m, &|_| true);
        assert_eq!(again.apply_saved(got.text.as_str()), Ok(None));
        assert_eq!(again.seen, [Seen::Matched, Seen::No]);
        assert!(again.apply_saved("1:A:response").is_err());
    }

    #[test]
    fn digests_of_batches_make_one_side_sorted_by_id_each_record_once() {
        let m = mapper();
        // About 75 bytes an id: 190 KB of ids, so three chunks.
        let long = "x".repeat(50);
        let records: Vec<SlaRecord> = (0..2_500)
            .map(|i| record(1, &format!("T{i:06}{long}")))
            .collect();
        let mut batches: Vec<Vec<SlaRecord>> = records.chunks(1_000).map(<[_]>::to_vec).collect();
        batches.reverse();
        batches.push(vec![records[7].clone(), record(2, "T000001")]);
        assert_eq!(batches[0].len(), 500);
        let mut builder = OurSideBuilder::with_capacity(10);
        for b in batches {
            builder
                .add(Digest::of(b, &m, &|t| t == 1).expect("short ids"))
                .expect("room");
        }
        let ours = builder.build();
        assert!(
            ours.ids.0.chunks.len() >= 3,
            "{} chunks",
            ours.ids.0.chunks.len()
        );
        assert_eq!(ours.len(), 2_500);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(
                ours.ids.record(i),
                (r.record_id.as_str(), short(&m.content_hash(&m.map(r))))
            );
        }
    }

    #[test]
    fn a_record_id_too_long_to_keep_fails_the_digest() {
        let m = mapper();
        let huge = record(1, &"T".repeat(70_000));
        let err = Digest::of(vec![record(1, "A"), huge], &m, &|_| true).expect_err("too long");
        assert!(err.contains("70"), "{err}");
    }
}
