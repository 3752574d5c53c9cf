//! CSV lines as RFC 4180 has them, with fields a spreadsheet would run as formulas defused:
//! the partner reconciliation, audit and report downloads write through here.

/// One CSV line (RFC 4180, formula-safe fields), ending in CRLF.
pub fn push_line(out: &mut String, fields: impl IntoIterator<Item = String>) {
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_field(out, &field);
    }
    out.push_str("\r\n");
}

/// One field, quoted when it holds a comma, a quote or a line break (quotes doubled).
///
/// A field a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a tab or
/// a carriage return) gets a leading `'`, so text from outside (a partner's record ids, ticket
/// and engineer ids) never runs as one. Numbers are written only where they are never
/// negative.
fn push_field(out: &mut String, field: &str) {
    let formula = field.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || field.contains([',', '"', '\r', '\n']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for c in field.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}
