//! The words of a notification, in the contact's language: an SMS that fits one segment
//! (160 GSM-7 characters, or 70 when any character is outside GSM-7, as Chinese text is), and
//! an email with a subject, a plain-text body and an HTML body.

use vigil_schema::{format_instant, Millis};

use super::config::Locale;

/// What a message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageFacts<'a> {
    /// The tenant.
    pub tenant_id: u64,
    /// The ticket.
    pub ticket_id: &'a str,
    /// `response` or `resolution`.
    pub goal: &'a str,
    /// `warning` or `breach`.
    pub level: &'a str,
    /// `firing`, `resolved` or `retracted`.
    pub state: &'a str,
    /// Priority name.
    pub priority: &'a str,
    /// The goal's target.
    pub target_ms: i64,
    /// SLA time elapsed when it fired.
    pub elapsed_ms: i64,
    /// When the goal breaches (or breached).
    pub deadline: Millis,
    /// Link that acknowledges the alert, if any.
    pub ack_url: Option<&'a str>,
    /// Link to the dashboard, if any.
    pub dashboard_url: Option<&'a str>,
    /// The reader's IANA time zone, for the deadline in an SMS; UTC when absent or unknown.
    pub time_zone: Option<&'a str>,
}

/// An email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
    /// Files attached (a scheduled report); none for pages.
    pub attachments: Vec<Attachment>,
}

/// A file attached to an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The file's name as the reader sees it.
    pub file_name: String,
    /// Its media type.
    pub content_type: String,
    /// Its bytes.
    pub content: Vec<u8>,
}

/// The characters of the GSM 03.38 default alphabet (one septet each); the extension table
/// (`^{}\[~]|€`) takes two.
const GSM7: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENDED: &str = "^{}\\[~]|€";

/// Septets a text takes in GSM-7, or `None` if it needs UCS-2.
fn gsm7_len(text: &str) -> Option<usize> {
    text.chars().try_fold(0, |n, c| {
        if GSM7.contains(c) {
            Some(n + 1)
        } else if GSM7_EXTENDED.contains(c) {
            Some(n + 2)
        } else {
            None
        }
    })
}

/// Whether a text fits one SMS segment.
pub fn fits_one_segment(text: &str) -> bool {
    match gsm7_len(text) {
        Some(septets) => septets <= 160,
        None => text.encode_utf16().count() <= 70,
    }
}

/// The deadline as local `HH:MM` in the reader's zone (with `UTC` when it is UTC).
fn local_time(f: &MessageFacts<'_>) -> String {
    let zone = f
        .time_zone
        .and_then(|name| jiff::tz::TimeZone::get(name).ok());
    let Ok(at) = jiff::Timestamp::from_millisecond(f.deadline) else {
        return String::new();
    };
    match zone {
        Some(tz) => at.to_zoned(tz).strftime("%H:%M").to_string(),
        None => format!("{} UTC", at.strftime("%H:%M")),
    }
}

fn minutes(ms: i64) -> String {
    let m = ms.max(0) / 60_000;
    if m >= 60 {
        format!("{}h{:02}m", m / 60, m % 60)
    } else {
        format!("{m}m")
    }
}

/// The headline: what happened to which ticket.
fn headline(locale: Locale, f: &MessageFacts<'_>) -> String {
    match locale {
        Locale::En => {
            let what = match (f.state, f.level) {
                ("resolved", _) => "resolved".to_string(),
                ("retracted", _) => "retracted".to_string(),
                (_, "breach") => "BREACHED".to_string(),
                _ => "warning".to_string(),
            };
            format!("[{}] {} {} {what}", f.priority, f.ticket_id, f.goal)
        }
        Locale::ZhCn => {
            let goal = if f.goal == "response" {
                "响应"
            } else {
                "解决"
            };
            let what = match (f.state, f.level) {
                ("resolved", _) => "已恢复",
                ("retracted", _) => "已撤销",
                (_, "breach") => "已超时",
                _ => "即将超时",
            };
            format!("[{}] {} {goal}{what}", f.priority, f.ticket_id)
        }
    }
}

/// The SMS text, within one segment: the headline, then as much of the details and the ack
/// link as fits (details first); a headline too long on its own is cut with "…".
pub fn sms(locale: Locale, f: &MessageFacts<'_>) -> String {
    let head = headline(locale, f);
    let detail = match (locale, f.state) {
        (Locale::En, "firing") => format!(
            " {}/{} due {}",
            minutes(f.elapsed_ms),
            minutes(f.target_ms),
            local_time(f)
        ),
        (Locale::ZhCn, "firing") => format!(
            " 已用{}/{} 截止{}",
            minutes(f.elapsed_ms),
            minutes(f.target_ms),
            local_time(f)
        ),
        _ => String::new(),
    };
    let ack = f.ack_url.map(|u| format!(" {u}")).unwrap_or_default();
    for candidate in [
        format!("{head}{detail}{ack}"),
        format!("{head}{ack}"),
        format!("{head}{detail}"),
        head.clone(),
    ] {
        if fits_one_segment(&candidate) {
            return candidate;
        }
    }
    let mut cut = String::new();
    for c in head.chars() {
        let next = format!("{cut}{c}…");
        if !fits_one_segment(&next) {
            break;
        }
        cut.push(c);
    }
    cut.push('…');
    cut
}

/// Text made safe for HTML (content and attribute values).
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The email: subject, plain text and HTML with the same facts and links.
pub fn email(locale: Locale, f: &MessageFacts<'_>) -> Email {
    let subject = format!("Vigil: {}", headline(locale, f));
    let labels: [&str; 6] = match locale {
        Locale::En => ["Tenant", "Ticket", "Goal", "Target", "Elapsed", "Deadline"],
        Locale::ZhCn => ["租户", "工单", "目标", "时限", "已用", "截止"],
    };
    let values = [
        f.tenant_id.to_string(),
        f.ticket_id.to_string(),
        f.goal.to_string(),
        minutes(f.target_ms),
        minutes(f.elapsed_ms),
        format_instant(f.deadline),
    ];
    let (ack_label, dashboard_label) = match locale {
        Locale::En => ("Acknowledge", "Dashboard"),
        Locale::ZhCn => ("确认", "仪表板"),
    };
    let links: Vec<(&str, &str)> = [(ack_label, f.ack_url), (dashboard_label, f.dashboard_url)]
        .into_iter()
        .filter_map(|(label, url)| url.map(|u| (label, u)))
        .collect();
    let mut text = format!("{}\n\n", headline(locale, f));
    for (l, v) in labels.iter().zip(&values) {
        text.push_str(&format!("{l}: {v}\n"));
    }
    for (label, url) in &links {
        text.push_str(&format!("\n{label}: {url}"));
    }
    let rows: String = labels
        .iter()
        .zip(&values)
        .map(|(l, v)| {
            format!(
                "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
                escape(l),
                escape(v)
            )
        })
        .collect();
    let buttons: String = links
        .iter()
        .map(|(label, url)| format!("<p><a href=\"{}\">{}</a></p>", escape(url), escape(label)))
        .collect();
    let html = format!(
        "<!doctype html><html><body><h2>{}</h2><table>{rows}</table>{buttons}</body></html>",
        escape(&headline(locale, f))
    );
    Email {
        subject,
        text,
        html,
        attachments: Vec::new(),
    }
}

/// The short name of one alert in a grouped message.
fn item(locale: Locale, f: &MessageFacts<'_>) -> String {
    // The headline without its "[PRIORITY] " prefix, which a grouped line does not need.
    let head = headline(locale, f);
    match head.split_once("] ") {
        Some((_, rest)) => rest.to_string(),
        None => head,
    }
}

/// The SMS about several alerts: how many, as many of them as fit, and the link that
/// acknowledges them all; one segment. One alert gets [`sms`].
pub fn sms_group(locale: Locale, alerts: &[MessageFacts<'_>], ack_url: Option<&str>) -> String {
    if let [one] = alerts {
        return sms(locale, &MessageFacts { ack_url, ..*one });
    }
    let head = match locale {
        Locale::En => format!("[Vigil] {} alerts:", alerts.len()),
        Locale::ZhCn => format!("[Vigil] {}条告警:", alerts.len()),
    };
    let ack = ack_url.map(|u| format!(" {u}")).unwrap_or_default();
    let more = |k: usize| match (locale, k) {
        (_, 0) => String::new(),
        (Locale::En, k) => format!(" +{k} more"),
        (Locale::ZhCn, k) => format!(" 另{k}条"),
    };
    let mut listed = String::new();
    let mut shown = 0;
    for f in alerts {
        let next = format!("{listed} {};", item(locale, f));
        let rest = alerts.len() - shown - 1;
        if !fits_one_segment(&format!("{head}{next}{}{ack}", more(rest))) {
            break;
        }
        listed = next;
        shown += 1;
    }
    if shown > 0 {
        return format!("{head}{listed}{}{ack}", more(alerts.len() - shown));
    }
    // The link does not leave room for one alert: list them without it.
    let mut listed = String::new();
    for (i, f) in alerts.iter().enumerate() {
        let next = format!("{listed} {};", item(locale, f));
        if !fits_one_segment(&format!("{head}{next}{}", more(alerts.len() - i - 1))) {
            return format!("{head}{listed}{}", more(alerts.len() - i));
        }
        listed = next;
    }
    format!("{head}{listed}")
}

/// The email about several alerts: a subject with the count, then each alert's facts, then the
/// link that acknowledges them all and the dashboard link. One alert gets [`email`].
pub fn email_group(
    locale: Locale,
    alerts: &[MessageFacts<'_>],
    ack_url: Option<&str>,
    dashboard_url: Option<&str>,
) -> Email {
    if let [one] = alerts {
        return email(
            locale,
            &MessageFacts {
                ack_url,
                dashboard_url,
                ..*one
            },
        );
    }
    let breaches = alerts.iter().filter(|f| f.level == "breach").count();
    let subject = match locale {
        Locale::En => format!(
            "Vigil: {} alerts ({breaches} breached, {} warnings)",
            alerts.len(),
            alerts.len() - breaches
        ),
        Locale::ZhCn => format!(
            "Vigil: {}条告警 (超时{breaches}条, 预警{}条)",
            alerts.len(),
            alerts.len() - breaches
        ),
    };
    let parts: Vec<Email> = alerts.iter().map(|f| email(locale, f)).collect();
    let mut text = String::new();
    let mut html = String::new();
    for part in &parts {
        text.push_str(&part.text);
        text.push_str("\n----\n");
        let body = part
            .html
            .split_once("<body>")
            .and_then(|(_, b)| b.split_once("</body>"))
            .map_or("", |(b, _)| b);
        html.push_str(body);
        html.push_str("<hr>");
    }
    let (ack_label, dashboard_label) = match locale {
        Locale::En => ("Acknowledge all", "Dashboard"),
        Locale::ZhCn => ("全部确认", "仪表板"),
    };
    for (label, url) in [(ack_label, ack_url), (dashboard_label, dashboard_url)] {
        if let Some(url) = url {
            text.push_str(&format!("\n{label}: {url}"));
            html.push_str(&format!(
                "<p><a href=\"{}\">{}</a></p>",
                escape(url),
                escape(label)
            ));
        }
    }
    Email {
        subject: subject.clone(),
        text,
        attachments: Vec::new(),
        html: format!(
            "<!doctype html><html><body><h2>{}</h2>{html}</body></html>",
            escape(&subject)
        ),
    }
}

/// Marks an email as standing in for an SMS that could not be delivered.
pub fn mark_fallback(locale: Locale, email: &mut Email) {
    let note = match locale {
        Locale::En => "Sent by email because the SMS could not be delivered.",
        Locale::ZhCn => "短信无法送达，改以邮件发送。",
    };
    email.subject = format!("{} [SMS→email]", email.subject);
    email.text = format!("{note}\n\n{}", email.text);
    email.html = email.html.replacen(
        "<body>",
        &format!("<body><p><em>{}</em></p>", escape(note)),
        1,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(ticket: &'a str, level: &'static str) -> MessageFacts<'a> {
        MessageFacts {
            tenant_id: 12345,
            ticket_id: ticket,
            goal: "response",
            level,
            state: "firing",
            priority: "CRITICAL",
            target_ms: 30 * 60_000,
            elapsed_ms: 24 * 60_000,
            deadline: vigil_schema::parse_instant("2026-11-22T06:30:00Z").unwrap(),
            ack_url: Some("https://vigil.example.com/ack/eyJhbGciOi.abc"),
            dashboard_url: Some("https://vigil.example.com/"),
            time_zone: Some("Asia/Shanghai"),
        }
    }

    #[test]
    fn sms_fit_one_segment_in_both_languages() {
        let en = sms(Locale::En, &facts("TKT-001", "breach"));
        assert_eq!(
            en,
            "[CRITICAL] TKT-001 response BREACHED 24m/30m due 14:30 https://vigil.example.com/ack/eyJhbGciOi.abc"
        );
        assert!(gsm7_len(&en).is_some_and(|n| n <= 160));
        let utc = MessageFacts {
            time_zone: None,
            ..facts("TKT-001", "breach")
        };
        assert!(sms(Locale::En, &utc).contains("due 06:30 UTC"));
        let zh = sms(Locale::ZhCn, &facts("TKT-001", "warning"));
        assert!(zh.starts_with("[CRITICAL] TKT-001 响应即将超时"), "{zh}");
        assert!(zh.encode_utf16().count() <= 70, "{zh}");
        // A very long ticket id is cut, never split into two messages.
        let long = "T".repeat(300);
        for locale in [Locale::En, Locale::ZhCn] {
            let text = sms(locale, &facts(&long, "breach"));
            assert!(fits_one_segment(&text) && text.ends_with('…'), "{text}");
        }
    }

    #[test]
    fn emails_carry_the_facts_and_links_and_escape_html() {
        let f = facts("<b>X</b>", "breach");
        let e = email(Locale::En, &f);
        assert_eq!(e.subject, "Vigil: [CRITICAL] <b>X</b> response BREACHED");
        assert!(e.text.contains("Deadline: 2026-11-22T06:30:00Z"));
        assert!(e
            .text
            .contains("Acknowledge: https://vigil.example.com/ack/"));
        assert!(e.html.contains("&lt;b&gt;X&lt;/b&gt;") && !e.html.contains("<b>X"));
        let zh = email(Locale::ZhCn, &facts("TKT-1", "warning"));
        assert!(
            zh.text.contains("截止: 2026-11-22T06:30:00Z"),
            "{}",
            zh.text
        );
        assert!(zh.subject.contains("即将超时"));
    }

    #[test]
    fn a_grouped_sms_counts_lists_what_fits_and_keeps_the_ack_link() {
        let one = facts("TKT-X", "breach");
        let tickets: Vec<String> = (0..30).map(|i| format!("TKT-{i:04}")).collect();
        let many: Vec<MessageFacts<'_>> = tickets
            .iter()
            .map(|t| MessageFacts {
                ticket_id: t,
                ..one
            })
            .collect();
        let link = "https://v.example.com/ack/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
        let en = sms_group(Locale::En, &many, Some(link));
        assert!(fits_one_segment(&en), "{en}");
        assert!(en.starts_with("[Vigil] 30 alerts: TKT-0000"), "{en}");
        assert!(en.ends_with(link), "{en}");
        assert!(en.contains(" more "), "not all fit: {en}");
        // 70 UCS-2 characters leave no room for a link this long: the list is kept.
        let zh = sms_group(Locale::ZhCn, &many, Some(link));
        assert!(fits_one_segment(&zh), "{zh}");
        assert!(zh.starts_with("[Vigil] 30条告警: TKT-0000"), "{zh}");
        assert!(!zh.contains("TKT-0029"), "not all fit: {zh}");
        let mail = email_group(Locale::En, &many, Some(link), None);
        assert!(mail.subject.contains("30 alerts"), "{}", mail.subject);
        assert!(mail.text.contains("TKT-0029") && mail.html.contains("TKT-0029"));
        assert!(mail.html.contains(link));
        // One alert is the single-alert message, with the link.
        assert_eq!(
            sms_group(Locale::En, &many[..1], Some(link)),
            sms(
                Locale::En,
                &MessageFacts {
                    ack_url: Some(link),
                    ..many[0]
                }
            )
        );
    }
}
