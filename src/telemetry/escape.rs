//! Field formatting for the text log that keeps one event on one line: every control
//! character in a field value (the message included) is written as an escape (`\n`, `\r`,
//! `\t`, `\u{1b}`, …), so a value carrying a line break or an ANSI sequence (a ticket id, a
//! provider's answer) cannot start a forged log line or drive the reader's terminal.
//! tracing-subscriber's own field formatter escapes some ANSI bytes but writes `%value` fields
//! and the message with their line breaks as they are.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::Writer;

/// The text log's field formatter: `name=value` pairs separated by spaces, the message bare
/// and first, like tracing-subscriber's default, with control characters escaped.
#[derive(Debug, Clone, Copy, Default)]
pub struct EscapedFields;

impl<'w> MakeVisitor<Writer<'w>> for EscapedFields {
    type Visitor = EscapingVisitor<'w>;

    fn make_visitor(&self, target: Writer<'w>) -> EscapingVisitor<'w> {
        EscapingVisitor {
            writer: target,
            is_empty: true,
            result: Ok(()),
        }
    }
}

/// Writes the fields of one event or span, escaped; see [`EscapedFields`].
#[derive(Debug)]
pub struct EscapingVisitor<'w> {
    writer: Writer<'w>,
    is_empty: bool,
    result: fmt::Result,
}

impl EscapingVisitor<'_> {
    fn write_field(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        // `log` records' metadata, already shown as target and level.
        if name.starts_with("log.") {
            return;
        }
        let pad = if std::mem::take(&mut self.is_empty) {
            ""
        } else {
            " "
        };
        self.result = match name {
            "message" => write!(self.writer, "{pad}"),
            name => write!(
                self.writer,
                "{pad}{}=",
                name.strip_prefix("r#").unwrap_or(name)
            ),
        }
        .and_then(|()| write!(Escaper(&mut self.writer), "{value}"));
    }
}

impl Visit for EscapingVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write_field(field, format_args!("{value}"));
        } else {
            // Quoted, as the default formatter does, so spaces in a value stay readable.
            self.write_field(field, format_args!("{value:?}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        self.write_field(field, format_args!("{text}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write_field(field, format_args!("{value:?}"));
    }
}

impl VisitOutput<fmt::Result> for EscapingVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for EscapingVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// Passes text through with C0 and C1 control characters and DEL escaped.
struct Escaper<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaper<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(at) = rest.find(is_control) {
            self.0.write_str(&rest[..at])?;
            let mut chars = rest[at..].chars();
            let Some(c) = chars.next() else { break };
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
            }
            rest = chars.as_str();
        }
        self.0.write_str(rest)
    }
}

/// U+0000–U+001F, U+007F and U+0080–U+009F (C1: some terminals take them as escapes too).
fn is_control(c: char) -> bool {
    c.is_control()
}

/// `text` with its control characters escaped as the text log writes them.
pub fn escape_control(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Writing to a String cannot fail.
    let _ = Escaper(&mut out).write_str(text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        let table = [
            ("plain text, 中文", "plain text, 中文"),
            ("a\nb\r\nc\td", "a\\nb\\r\\nc\\td"),
            ("\u{1b}[2J\u{7}", "\\u{1b}[2J\\u{7}"),
            ("\u{0}\u{7f}\u{9b}x", "\\u{0}\\u{7f}\\u{9b}x"),
            ("\n", "\\n"),
        ];
        for (input, want) in table {
            assert_eq!(escape_control(input), want, "{input:?}");
        }
    }
}
