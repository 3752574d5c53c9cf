//! Lines of keys in a TOML text, from the parser's spans.

use std::collections::BTreeMap;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::setting::{FieldPath, Seg};

/// Converts byte offsets to 1-based line numbers.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes the line starts of `text`.
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// The line holding byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|s| *s <= offset)
    }
}

/// The line of every key (and array element) in `text`, by field path. A text that does not
/// parse yields no lines (its syntax error is reported by the parser).
pub fn key_lines(text: &str) -> BTreeMap<FieldPath, usize> {
    let mut out = BTreeMap::new();
    if let Ok(doc) = DeTable::parse(text) {
        let index = LineIndex::new(text);
        walk_table(doc.get_ref(), &FieldPath::default(), &index, &mut out);
    }
    out
}

fn walk_table(
    table: &DeTable<'_>,
    at: &FieldPath,
    index: &LineIndex,
    out: &mut BTreeMap<FieldPath, usize>,
) {
    for (key, value) in table.iter() {
        let path = at.key(key.get_ref());
        out.entry(path.clone())
            .or_insert_with(|| index.line(key.span().start));
        walk_value(value, &path, index, out);
    }
}

fn walk_value(
    value: &Spanned<DeValue<'_>>,
    at: &FieldPath,
    index: &LineIndex,
    out: &mut BTreeMap<FieldPath, usize>,
) {
    match value.get_ref() {
        DeValue::Table(t) => walk_table(t, at, index, out),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let mut path = at.clone();
                path.0.push(Seg::Index(i));
                out.entry(path.clone())
                    .or_insert_with(|| index.line(item.span().start));
                walk_value(item, &path, index, out);
            }
        }
        _ => {}
    }
}
