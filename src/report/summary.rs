//! A report's headline figures in a few lines: the body of a scheduled report's email.

use super::labels::Label;
use super::model::Report;

/// The headline figures in a few lines, in the report's language.
pub fn summary_text(r: &Report) -> String {
    let l = r.language;
    let pct = |c: Option<f64>| c.map_or("-".to_string(), |c| format!("{:.1}%", c * 100.0));
    let s = &r.summary;
    let mut out = format!(
        "{} · {} {}\n{}: {} – {} ({})\n\n",
        Label::Title.text(l),
        Label::Tenant.text(l),
        r.tenant_id,
        Label::Period.text(l),
        vigil_schema::format_instant(r.period.from),
        vigil_schema::format_instant(r.period.to),
        r.timezone
    );
    let goal = |g: &super::model::GoalFigures| {
        format!(
            "{} {} ({} {}, {} {})",
            Label::Compliance.text(l),
            pct(g.compliance),
            g.met,
            Label::Met.text(l),
            g.breached,
            Label::Breached.text(l)
        )
    };
    let lines = [
        (Label::Opened, s.opened.to_string()),
        (Label::Resolved, s.resolved.to_string()),
        (Label::OpenAtEnd, s.open_at_end.to_string()),
        (Label::Response, goal(&s.response)),
        (Label::Resolution, goal(&s.resolution)),
        (Label::Warnings, s.warnings.to_string()),
        (Label::BreachAlerts, s.breach_alerts.to_string()),
        (
            Label::Satisfaction,
            s.satisfaction.map_or("-".into(), |m| format!("{m:.2}")),
        ),
    ];
    for (label, value) in lines {
        out += &format!("{}: {value}\n", label.text(l));
    }
    out
}
