//! The text a run saves with each partner page, so that a resumed run knows which of our
//! records the partner listed and how.

use std::borrow::Cow;

/// The text saved with a page: a header `next <n>` or `next end` (the page's `next_page`),
/// then one line per record of ours the page listed: its id, followed by a tab and `M` when
/// the partner's content differs. Ids are escaped (`\\`, `\n`, `\t`, `\r`) so any id fits on
/// one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PageText(String);

/// Ends the line of a mismatched record.
pub(super) const MISMATCH_MARK: &str = "\tM";

impl PageText {
    /// An empty text of a page whose `next_page` is `next_page`, with room for `records`
    /// lines.
    pub(super) fn new(next_page: Option<u32>, records: usize) -> PageText {
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

    /// Adds the line of our record `id`, marked when the partner's content differs.
    pub(super) fn push(&mut self, id: &str, mismatched: bool) {
        self.0.push('\n');
        escape_into(id, &mut self.0);
        if mismatched {
            self.0.push_str(MISMATCH_MARK);
        }
    }

    /// The text.
    pub(super) fn as_str(&self) -> &str {
        &self.0
    }
}

/// The `next_page` of a saved page's header line.
pub(super) fn parse_header(line: &str) -> Result<Option<u32>, String> {
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

/// An id of a saved page's line as it was before [`PageText::push`] escaped it.
pub(super) fn unescape(id: &str) -> Cow<'_, str> {
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
