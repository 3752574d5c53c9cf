//! The pure core of a reconciliation: our side of a day as record id → content hash, the
//! comparison of one partner page against it, and the compact text a saved page keeps so that
//! a resumed run knows which of our records the partner listed.
//!
//! Memory: our side keeps each record's id and its 16-byte hash, nothing else; it is built from
//! [`Digest`]s of the store's rows made batch by batch as they stream in, so the records
//! themselves are never all held at once. Records that end up in the report are read again
//! from the store by id and mapped then.

use std::borrow::Cow;

use vigil_engine::SlaRecord;

use super::partner_page::PartnerRecord;
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
    ids: IdTable,
    seen: Vec<Seen>,
}

/// Record ids in one string (no allocation per id), each with a content hash.
#[derive(Debug, Default)]
struct IdTable {
    text: String,
    entries: Vec<Entry>,
}

/// One id of an [`IdTable`]: where it is in the text, and its record's content hash.
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: usize,
    len: u32,
    hash: ContentHash,
}

impl IdTable {
    fn push(&mut self, id: &str, hash: ContentHash) {
        // Ids are at most a few hundred bytes (tenant, ticket id of ≤ 128 characters, goal).
        let len = u32::try_from(id.len()).unwrap_or(u32::MAX);
        self.entries.push(Entry {
            start: self.text.len(),
            len,
            hash,
        });
        self.text.push_str(id);
    }

    fn id(&self, e: &Entry) -> &str {
        &self.text[e.start..e.start + e.len as usize]
    }
}

/// Some of our records as our side keeps them: id and content hash, in no order.
#[derive(Debug, Default)]
pub(super) struct Digest(IdTable);

impl Digest {
    /// The records of `records` for the partner of `mapper`: only the tenants it `serves`, each
    /// mapped (masked and renamed) and hashed.
    pub(super) fn of(
        records: Vec<SlaRecord>,
        mapper: &Mapper,
        serves: &(dyn Fn(u64) -> bool + Sync),
    ) -> Digest {
        let mut table = IdTable {
            text: String::with_capacity(records.iter().map(|r| r.record_id.len()).sum()),
            entries: Vec::with_capacity(records.len()),
        };
        for r in records.iter().filter(|r| serves(r.tenant_id)) {
            table.push(&r.record_id, mapper.record_hash(r));
        }
        Digest(table)
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
        OurSide::from_digests(vec![Digest::of(records, mapper, serves)])
    }

    /// Our side from the digests of all our records of the day; a record id met twice is
    /// kept once.
    pub(super) fn from_digests(digests: Vec<Digest>) -> OurSide {
        let mut ids = IdTable {
            text: String::with_capacity(digests.iter().map(|d| d.0.text.len()).sum()),
            entries: Vec::with_capacity(digests.iter().map(|d| d.0.entries.len()).sum()),
        };
        for Digest(part) in digests {
            let base = ids.text.len();
            ids.text.push_str(&part.text);
            ids.entries.extend(part.entries.iter().map(|e| Entry {
                start: base + e.start,
                ..*e
            }));
        }
        let IdTable { text, mut entries } = ids;
        entries.sort_unstable_by(|a, b| {
            text[a.start..a.start + a.len as usize].cmp(&text[b.start..b.start + b.len as usize])
        });
        entries.dedup_by(|a, b| {
            text[a.start..a.start + a.len as usize] == text[b.start..b.start + b.len as usize]
        });
        let seen = vec![Seen::No; entries.len()];
        OurSide {
            ids: IdTable { text, entries },
            seen,
        }
    }

    /// Our record `i` (in id order): its id and content hash.
    fn record(&self, i: usize) -> (&str, ContentHash) {
        let e = &self.ids.entries[i];
        (self.ids.id(e), e.hash)
    }

    /// Our record ids in order, each with what the partner said of it.
    fn ids_seen(&self) -> impl Iterator<Item = (&str, Seen)> + '_ {
        self.ids
            .entries
            .iter()
            .zip(&self.seen)
            .map(|(e, s)| (self.ids.id(e), *s))
    }

    /// How many records we have.
    pub(super) fn len(&self) -> usize {
        self.ids.entries.len()
    }

    /// The index of our record `id`.
    fn find(&self, id: &str) -> Option<usize> {
        self.ids
            .entries
            .binary_search_by(|probe| self.ids.id(probe).cmp(id))
            .ok()
    }

    /// Notes what the partner said of our record `id`; unknown ids are ignored.
    fn mark(&mut self, id: &str, seen: Seen) {
        if let Some(i) = self.find(id) {
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

    /// Compares one partner page with ours and notes what it lists. Keeps the first `room`
    /// diffs found (their place on the page); the counts are always complete.
    ///
    /// A partner object without a usable id (its mapped `record_id` missing, or neither text
    /// nor a number) cannot be one of ours: it counts as missing at ours, kept with an empty
    /// record id so that someone reviews it. A record the partner lists twice counts twice.
    pub(super) fn compare_page(
        &mut self,
        records: &[PartnerRecord],
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
        for (at, theirs) in records.iter().enumerate() {
            let id = theirs.id.as_deref();
            let ours = id.and_then(|id| self.find(id));
            out.without_id += u64::from(id.is_none());
            let kind = match ours {
                None => {
                    out.delta.missing_at_ours += 1;
                    DiffKind::MissingAtOurs
                }
                Some(i) if self.record(i).1 == theirs.hash => {
                    out.delta.matched += 1;
                    self.seen[i] = self.seen[i].max(Seen::Matched);
                    out.text.push(self.record(i).0, Seen::Matched);
                    continue;
                }
                Some(i) => {
                    out.delta.mismatched += 1;
                    self.seen[i] = Seen::Mismatched;
                    out.text.push(self.record(i).0, Seen::Mismatched);
                    DiffKind::Mismatched
                }
            };
            if out.diffs.len() < room {
                out.diffs.push(FoundDiff {
                    at,
                    kind,
                    record_id: id.map(str::to_string).unwrap_or_default(),
                });
            }
        }
        out
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

/// The text saved with a page: a header `next <n>` or `next end` (the page's `next_page`),
/// then one line per record of ours the page listed: its id, followed by a tab and `M` when
/// the partner's content differs. Ids are escaped (`\\`, `\n`, `\t`, `\r`) so any id fits on
/// one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PageText(String);

/// Ends the line of a mismatched record.
const MISMATCH_MARK: &str = "\tM";

impl PageText {
    fn new(next_page: Option<u32>, records: usize) -> PageText {
        let mut text = String::with_capacity(16 + records * 32);
        match next_page {
            Some(n) => {
                text.push_str("next ");
                text.push_str(&n.to_string());
            }
            None => text.push_str("next end"),
        }
        PageText(text)
    }

    fn push(&mut self, id: &str, seen: Seen) {
        self.0.push('\n');
        escape_into(id, &mut self.0);
        if seen == Seen::Mismatched {
            self.0.push_str(MISMATCH_MARK);
        }
    }

    /// The text.
    pub(super) fn as_str(&self) -> &str {
        &self.0
    }
}

fn parse_header(line: &str) -> Result<Option<u32>, String> {
    match line.strip_prefix("next ") {
        Some("end") => Ok(None),
        Some(n) => n
            .parse()
            .map(Some)
            .map_err(|_| format!("bad next page {n:?}")),
        None => Err(format!("no `next` header but {line:?}")),
    }
}

fn escape_into(id: &str, out: &mut String) {
    if !id.contains(['\\', '\n', '\t', '\r']) {
        out.push_str(id);
        return;
    }
    for c in id.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn unescape(id: &str) -> Cow<'_, str> {
    if !id.contains('\\') {
        return Cow::Borrowed(id);
    }
    let mut out = String::with_capacity(id.len());
    let mut chars = id.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};
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

        let page: Vec<PartnerRecord> = page
            .iter()
            .map(|o| PartnerRecord::from_object(o, &m))
            .collect();
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
        let got = ours.compare_page(&[PartnerRecord::from_object(&m.map(&odd), &m)], None, 10);
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
        let records: Vec<SlaRecord> = (0..2_500).map(|i| record(1, &format!("T{i:06}"))).collect();
        let mut batches: Vec<Vec<SlaRecord>> = records.chunks(1_000).map(<[_]>::to_vec).collect();
        batches.reverse();
        batches.push(vec![records[7].clone(), record(2, "T000001")]);
        let digests = batches
            .into_iter()
            .map(|b| Digest::of(b, &m, &|t| t == 1))
            .collect();
        let ours = OurSide::from_digests(digests);
        assert_eq!(ours.len(), 2_500);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(
                ours.record(i),
                (r.record_id.as_str(), m.content_hash(&m.map(r)))
            );
        }
    }
}
