//! Prints each message the demo's SMTP sink and SMS gateway take, as one compact block marked
//! `[sms   → …]` or `[email → …]`, with the ack link that stops the escalation.

use tokio::sync::mpsc::Receiver;
use tokio::sync::watch;
use vigil::notify::NotifyConfig;
use vigil_peers::gateway::Delivery;
use vigil_peers::smtp::ReceivedMail;

use super::oncall::name_of;
use super::println_demo;

/// Alerts of a grouped email listed by name; the rest are counted.
const LISTED_PER_EMAIL: usize = 5;

/// Prints messages as they arrive until `stop`, or until both sinks are gone.
pub async fn print_messages(
    mut mails: Receiver<ReceivedMail>,
    mut sms: Receiver<Delivery>,
    notify: NotifyConfig,
    mut stop: watch::Receiver<bool>,
) {
    let (mut mails_open, mut sms_open) = (true, true);
    while mails_open || sms_open {
        tokio::select! {
            _ = crate::stopped(&mut stop) => return,
            mail = mails.recv(), if mails_open => match mail {
                Some(mail) => println_demo(&describe_mail(&mail, &notify)),
                None => mails_open = false,
            },
            text = sms.recv(), if sms_open => match text {
                // The demo sends no webhooks; the gateway only ever delivers SMS.
                Some(text) => println_demo(&describe_sms(&text, &notify)),
                None => sms_open = false,
            },
        }
    }
}

/// `address (Name)`, or the address alone for someone not in the contacts.
fn recipient(address: &str, notify: &NotifyConfig) -> String {
    match name_of(notify, address) {
        Some(name) => format!("{address} ({name})"),
        None => address.to_string(),
    }
}

/// One line: the number, who it is, the text (which carries the ack link when it fits).
fn describe_sms(sms: &Delivery, notify: &NotifyConfig) -> String {
    let to = sms.to.as_deref().unwrap_or_default();
    let text = sms.text.as_deref().unwrap_or_default();
    format!("[sms   → {}] {text}", recipient(to, notify))
}

/// The subject line, the alerts of a grouped email, and its ack link.
fn describe_mail(mail: &ReceivedMail, notify: &NotifyConfig) -> String {
    let to: Vec<String> = mail
        .rcpt_to
        .iter()
        .map(|address| recipient(address, notify))
        .collect();
    let mut block = format!("[email → {}] {}", to.join(", "), mail.subject);
    // A grouped email is the single emails' texts, each ending in a `----` line.
    let parts: Vec<&str> = mail.text.split("\n----\n").collect();
    if parts.len() > 1 {
        let alerts = &parts[..parts.len() - 1];
        for part in alerts.iter().take(LISTED_PER_EMAIL) {
            block.push_str(&format!(
                "\n        · {}",
                part.lines().next().unwrap_or("")
            ));
        }
        if alerts.len() > LISTED_PER_EMAIL {
            block.push_str(&format!(
                "\n        · … and {} more",
                alerts.len() - LISTED_PER_EMAIL
            ));
        }
    }
    for line in mail.text.lines().filter(|l| l.contains("/ack/")) {
        block.push_str(&format!("\n        {}", line.trim()));
    }
    block
}

#[cfg(test)]
mod tests {
    use vigil_peers::gateway::Route;

    use super::*;
    use crate::demo::oncall::{notify_config, SinkAddrs};

    fn notify() -> NotifyConfig {
        let sinks = SinkAddrs {
            smtp: "127.0.0.1:2525".parse().expect("address"),
            sms: "http://127.0.0.1:9000/sms".into(),
        };
        notify_config(&sinks, None)
    }

    #[test]
    fn an_sms_is_one_line_with_the_contact_name() {
        let text = "[CRITICAL] DEMO-0001 response BREACHED 1m/1m due 10:31 http://h/ack/t";
        let sms = Delivery {
            route: Route::Sms,
            idempotency_key: "n-1.sms".into(),
            to: Some("+447700900123".into()),
            text: Some(text.into()),
            body: String::new(),
        };
        assert_eq!(
            describe_sms(&sms, &notify()),
            "[sms   → +447700900123 (Alice Martin)] [CRITICAL] DEMO-0001 response BREACHED 1m/1m due 10:31 http://h/ack/t"
        );
    }

    #[test]
    fn an_email_shows_its_subject_and_ack_link() {
        let mail = ReceivedMail {
            rcpt_to: vec!["alice@example.com".into()],
            subject: "Vigil: [CRITICAL] DEMO-0001 response BREACHED".into(),
            text: "[CRITICAL] DEMO-0001 response BREACHED\n\nTenant: 101\n\nAcknowledge: http://h/ack/t\nDashboard: http://h/".into(),
        };
        assert_eq!(
            describe_mail(&mail, &notify()),
            "[email → alice@example.com (Alice Martin)] Vigil: [CRITICAL] DEMO-0001 response BREACHED\n        Acknowledge: http://h/ack/t"
        );
    }

    #[test]
    fn a_grouped_email_lists_its_alerts() {
        let part = |n: usize| format!("[HIGH] DEMO-{n:04} response warning\n\nTenant: 102\n");
        let mut text: String = (1..=7).map(|n| format!("{}\n----\n", part(n))).collect();
        text.push_str("\nAcknowledge all: http://h/ack/t\nDashboard: http://h/");
        let mail = ReceivedMail {
            rcpt_to: vec!["someone@example.org".into()],
            subject: "Vigil: 7 alerts (0 breached, 7 warnings)".into(),
            text,
        };
        let block = describe_mail(&mail, &notify());
        let lines: Vec<&str> = block.lines().collect();
        assert_eq!(
            lines[0],
            "[email → someone@example.org] Vigil: 7 alerts (0 breached, 7 warnings)"
        );
        assert_eq!(lines[1], "        · [HIGH] DEMO-0001 response warning");
        assert_eq!(lines[6], "        · … and 2 more");
        assert_eq!(lines[7], "        Acknowledge all: http://h/ack/t");
        assert_eq!(lines.len(), 8);
    }
}
