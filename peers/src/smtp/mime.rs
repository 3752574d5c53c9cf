//! Enough of RFC 5322 and MIME to report a mail the SMTP sink took: unfolded headers, RFC 2047
//! encoded words, the first text/plain and text/html parts (nested multiparts too), base64
//! and quoted-printable bodies. Independent of the MIME writer the service sends with.

use base64::Engine;

/// What a mail's `DATA` says, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Message {
    /// Every top-level header, unfolded and decoded, names in lower case, in order.
    pub headers: Vec<(String, String)>,
    /// The first text/plain part (or the body of a text/plain mail).
    pub text: Option<String>,
    /// The first text/html part.
    pub html: Option<String>,
    /// Parts sent as attachments (`Content-Disposition: attachment`), in order.
    pub attachments: Vec<Attachment>,
}

/// A file a mail carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attachment {
    /// Its `filename` (or the content type's `name`), decoded.
    pub file_name: String,
    /// Its media type, e.g. `application/pdf`.
    pub content_type: String,
    /// Its bytes, transfer encoding undone.
    pub content: Vec<u8>,
}

impl Message {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }
}

/// A mail's `DATA`, decoded.
pub(super) fn parse(data: &[u8]) -> Message {
    let (headers, body) = split_entity(data);
    let text = text_part(&headers, body, "text/plain");
    let html = text_part(&headers, body, "text/html");
    let mut attachments = Vec::new();
    collect_attachments(&headers, body, &mut attachments);
    let headers = headers
        .into_iter()
        .map(|(name, value)| (name, decode_words(&value)))
        .collect();
    Message {
        headers,
        text,
        html,
        attachments,
    }
}

/// An entity's `Content-Type` (text/plain when absent) and its media type, lower case.
fn media_type(headers: &[(String, String)]) -> (&str, String) {
    let content_type = header_value(headers, "content-type").unwrap_or("text/plain");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    (content_type, media)
}

/// The attachments of an entity and its nested parts, in order.
fn collect_attachments(headers: &[(String, String)], body: &[u8], out: &mut Vec<Attachment>) {
    let (content_type, media) = media_type(headers);
    if media.starts_with("multipart/") {
        let Some(boundary) = parameter(content_type, "boundary") else {
            return;
        };
        let delimiter = format!("--{boundary}");
        let text = String::from_utf8_lossy(body);
        for part in text
            .split(delimiter.as_str())
            .skip(1)
            .take_while(|part| !part.starts_with("--"))
        {
            let part = part.trim_start_matches(['\r', '\n']).as_bytes();
            let (headers, body) = split_entity(part);
            collect_attachments(&headers, body, out);
        }
        return;
    }
    let disposition = header_value(headers, "content-disposition").unwrap_or("");
    if !disposition
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("attachment")
    {
        return;
    }
    let encoding = header_value(headers, "content-transfer-encoding")
        .unwrap_or("7bit")
        .to_ascii_lowercase();
    let content = match encoding.as_str() {
        "base64" => decode_base64(body).unwrap_or_default(),
        "quoted-printable" => decode_qp(body, false),
        _ => body.to_vec(),
    };
    let file_name = parameter(disposition, "filename")
        .or_else(|| continued_parameter(disposition, "filename"))
        .or_else(|| parameter(content_type, "name"))
        .map(|n| decode_words(&n))
        .unwrap_or_default();
    out.push(Attachment {
        file_name,
        content_type: media,
        content,
    });
}

/// Headers (unfolded, names lower-case) and body of a MIME entity.
fn split_entity(data: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    let (head, body) = match find(data, b"\r\n\r\n") {
        Some(at) => (&data[..at], &data[at + 4..]),
        None => match find(data, b"\n\n") {
            Some(at) => (&data[..at], &data[at + 2..]),
            None => (data, &data[data.len()..]),
        },
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in String::from_utf8_lossy(head).lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    (headers, body)
}

fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A parameter of a header value such as `multipart/alternative; boundary="x"`.
fn parameter(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// A parameter split into RFC 2231 continuations (`name*0="…"; name*1="…"`, or the encoded
/// forms `name*=utf-8''…` and `name*0*=utf-8''…`), joined and percent-decoded.
fn continued_parameter(value: &str, name: &str) -> Option<String> {
    let mut pieces: Vec<(usize, bool, String)> = Vec::new();
    for p in value.split(';').skip(1) {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let k = k.trim();
        let Some(rest) = k.strip_prefix(name).and_then(|r| r.strip_prefix('*')) else {
            continue;
        };
        let (index, encoded) = match rest.strip_suffix('*') {
            Some(n) => (n.parse().ok()?, true),
            None if rest.is_empty() => (0, true),
            None => (rest.parse().ok()?, false),
        };
        pieces.push((index, encoded, v.trim().trim_matches('"').to_string()));
    }
    if pieces.is_empty() {
        return None;
    }
    pieces.sort_by_key(|(i, _, _)| *i);
    let mut bytes = Vec::new();
    for (i, encoded, v) in pieces {
        if !encoded {
            bytes.extend_from_slice(v.as_bytes());
            continue;
        }
        // The first encoded piece starts with `charset'language'`.
        let v = if i == 0 {
            v.splitn(3, '\'').nth(2).unwrap_or(&v).to_string()
        } else {
            v
        };
        let raw = v.as_bytes();
        let mut j = 0;
        while j < raw.len() {
            if raw[j] == b'%' && j + 2 < raw.len() {
                if let Ok(b) = u8::from_str_radix(&v[j + 1..j + 3], 16) {
                    bytes.push(b);
                    j += 3;
                    continue;
                }
            }
            bytes.push(raw[j]);
            j += 1;
        }
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The first part of an entity of media type `wanted` (e.g. `text/plain`), decoded, line ends
/// as `\n`.
fn text_part(headers: &[(String, String)], body: &[u8], wanted: &str) -> Option<String> {
    let (content_type, media) = media_type(headers);
    if media.starts_with("multipart/") {
        let delimiter = format!("--{}", parameter(content_type, "boundary")?);
        let text = String::from_utf8_lossy(body);
        return text
            .split(delimiter.as_str())
            .skip(1)
            .take_while(|part| !part.starts_with("--"))
            .find_map(|part| {
                let part = part.trim_start_matches(['\r', '\n']).as_bytes();
                let (headers, body) = split_entity(part);
                text_part(&headers, body, wanted)
            });
    }
    if media != wanted {
        return None;
    }
    let encoding = header_value(headers, "content-transfer-encoding")
        .unwrap_or("7bit")
        .to_ascii_lowercase();
    let bytes = match encoding.as_str() {
        "base64" => decode_base64(body)?,
        "quoted-printable" => decode_qp(body, false),
        _ => body.to_vec(),
    };
    Some(
        String::from_utf8_lossy(&bytes)
            .trim_end()
            .replace("\r\n", "\n"),
    )
}

fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    let compact: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

/// Quoted-printable (RFC 2045) or, with `underscore_is_space`, the RFC 2047 `Q` encoding.
fn decode_qp(text: &[u8], underscore_is_space: bool) -> Vec<u8> {
    let hex = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'=' if text[i + 1..].starts_with(b"\r\n") => i += 3,
            b'=' if text[i + 1..].starts_with(b"\n") => i += 2,
            b'=' => match (
                text.get(i + 1).and_then(|&b| hex(b)),
                text.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                }
                _ => {
                    out.push(b'=');
                    i += 1;
                }
            },
            b'_' if underscore_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// A header value with its RFC 2047 encoded words (`=?utf-8?b?...?=`) decoded; white space
/// between two encoded words is dropped, as the RFC says.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let decoded = encoded_word(&rest[start..]);
        let gap = &rest[..start];
        match decoded {
            Some((text, len)) => {
                if !(after_word && gap.trim().is_empty()) {
                    out.push_str(gap);
                }
                out.push_str(&text);
                rest = &rest[start + len..];
                after_word = true;
            }
            None => {
                out.push_str(&rest[..start + 2]);
                rest = &rest[start + 2..];
                after_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text of the encoded word `s` starts with, and the word's length.
fn encoded_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (_charset, rest) = inner.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let payload = &rest.as_bytes()[..end];
    let bytes = match encoding {
        "B" | "b" => decode_base64(payload)?,
        "Q" | "q" => decode_qp(payload, true),
        _ => return None,
    };
    let len = s.len() - rest.len() + end + 2;
    Some((String::from_utf8_lossy(&bytes).into_owned(), len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_are_found_in_nested_parts_with_their_long_names() {
        let data = "Subject: r\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n\
            --m\r\nContent-Type: multipart/alternative; boundary=\"a\"\r\n\r\n\
            --a\r\nContent-Type: text/plain\r\n\r\nsummary\r\n--a--\r\n\
            --m\r\nContent-Type: text/csv\r\nContent-Disposition: attachment;\r\n \
            filename*0=\"sla-report-5-\"; filename*1=\"daily.csv\"\r\n\
            Content-Transfer-Encoding: base64\r\n\r\nc2VjdGlvbixrZXk=\r\n--m\r\n\
            Content-Type: application/pdf\r\nContent-Disposition: attachment; \
            filename*=utf-8''%E6%8A%A5%E5%91%8A.pdf\r\n\r\n%PDF\r\n--m--\r\n";
        let m = parse(data.as_bytes());
        assert_eq!(m.text.as_deref(), Some("summary"));
        assert_eq!(m.attachments.len(), 2);
        assert_eq!(m.attachments[0].file_name, "sla-report-5-daily.csv");
        assert_eq!(m.attachments[0].content_type, "text/csv");
        assert_eq!(m.attachments[0].content, b"section,key");
        assert_eq!(m.attachments[1].file_name, "报告.pdf");
    }
}
