//! The words of a report in the tenant's language: English or Simplified Chinese.

use serde::{Deserialize, Serialize};

/// A report's language.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Language {
    /// English (`en`).
    #[default]
    #[serde(rename = "en")]
    En,
    /// Simplified Chinese (`zh-CN`).
    #[serde(rename = "zh-CN")]
    ZhCn,
}

impl Language {
    /// `en` or `zh-CN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::ZhCn => "zh-CN",
        }
    }

    /// Parses [`Language::as_str`] (case-insensitive; `zh` is taken for `zh-CN`).
    pub fn parse(s: &str) -> Option<Language> {
        match s.to_ascii_lowercase().as_str() {
            "en" | "en-us" | "en-gb" => Some(Language::En),
            "zh" | "zh-cn" | "zh-hans" => Some(Language::ZhCn),
            _ => None,
        }
    }
}

/// Every label a renderer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// The report's title.
    Title,
    /// "Tenant".
    Tenant,
    /// "Period".
    Period,
    /// "Previous period".
    PreviousPeriod,
    /// "Generated".
    Generated,
    /// "Summary".
    Summary,
    /// "Tickets opened".
    Opened,
    /// "Tickets resolved".
    Resolved,
    /// "Open at end of period".
    OpenAtEnd,
    /// "Response".
    Response,
    /// "Resolution".
    Resolution,
    /// "Compliance".
    Compliance,
    /// "Met".
    Met,
    /// "Breached".
    Breached,
    /// "Cancelled".
    Cancelled,
    /// "Mean time".
    MeanTime,
    /// "Median time (≤)".
    MedianTime,
    /// "95th percentile (≤)".
    P95Time,
    /// "Warnings".
    Warnings,
    /// "Breach alerts".
    BreachAlerts,
    /// "Satisfaction".
    Satisfaction,
    /// "Ratings".
    Ratings,
    /// "Stars".
    Stars,
    /// "By priority".
    ByPriority,
    /// "By service type".
    ByServiceType,
    /// "By engineer".
    ByEngineer,
    /// "Priority".
    Priority,
    /// "Service type".
    ServiceType,
    /// "Engineer".
    Engineer,
    /// "Trend".
    Trend,
    /// "Day".
    Day,
    /// "Week".
    Week,
    /// "Breaches".
    Breaches,
    /// "Ticket".
    Ticket,
    /// "Goal".
    Goal,
    /// "Target".
    Target,
    /// "Elapsed".
    Elapsed,
    /// "Over by".
    OverBy,
    /// "Stopped at".
    StoppedAt,
    /// "Change".
    Change,
    /// "(none)", for an empty engineer.
    Unassigned,
    /// "Showing the first N of M".
    ListedOf,
}

impl Label {
    /// The label in `lang`.
    pub fn text(self, lang: Language) -> &'static str {
        let (en, zh) = match self {
            Label::Title => ("SLA report", "SLA 服务报告"),
            Label::Tenant => ("Tenant", "租户"),
            Label::Period => ("Period", "统计周期"),
            Label::PreviousPeriod => ("Previous period", "上一周期"),
            Label::Generated => ("Generated", "生成时间"),
            Label::Summary => ("Summary", "概览"),
            Label::Opened => ("Tickets opened", "新建工单"),
            Label::Resolved => ("Tickets resolved", "已解决工单"),
            Label::OpenAtEnd => ("Open at end of period", "期末未解决"),
            Label::Response => ("Response", "响应"),
            Label::Resolution => ("Resolution", "解决"),
            Label::Compliance => ("Compliance", "达标率"),
            Label::Met => ("Met", "达标"),
            Label::Breached => ("Breached", "违约"),
            Label::Cancelled => ("Cancelled", "已取消"),
            Label::MeanTime => ("Mean time", "平均用时"),
            Label::MedianTime => ("Median time (≤)", "中位用时（≤）"),
            Label::P95Time => ("95th percentile (≤)", "95 分位用时（≤）"),
            Label::Warnings => ("Warnings", "预警"),
            Label::BreachAlerts => ("Breach alerts", "违约告警"),
            Label::Satisfaction => ("Satisfaction", "满意度"),
            Label::Ratings => ("Ratings", "评价数"),
            Label::Stars => ("Stars", "星级"),
            Label::ByPriority => ("By priority", "按优先级"),
            Label::ByServiceType => ("By service type", "按服务类型"),
            Label::ByEngineer => ("By engineer", "按工程师"),
            Label::Priority => ("Priority", "优先级"),
            Label::ServiceType => ("Service type", "服务类型"),
            Label::Engineer => ("Engineer", "工程师"),
            Label::Trend => ("Compliance trend", "达标率趋势"),
            Label::Day => ("Day", "日期"),
            Label::Week => ("Week", "周"),
            Label::Breaches => ("Breaches", "违约明细"),
            Label::Ticket => ("Ticket", "工单"),
            Label::Goal => ("Goal", "目标"),
            Label::Target => ("Target", "目标时限"),
            Label::Elapsed => ("Elapsed", "实际用时"),
            Label::OverBy => ("Over by", "超出"),
            Label::StoppedAt => ("Stopped at", "停止时间"),
            Label::Change => ("Change", "变化"),
            Label::Unassigned => ("(unassigned)", "（未分配）"),
            Label::ListedOf => ("listed of", "条，共"),
        };
        match lang {
            Language::En => en,
            Language::ZhCn => zh,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_parse_their_own_names_and_common_spellings() {
        for lang in [Language::En, Language::ZhCn] {
            assert_eq!(Language::parse(lang.as_str()), Some(lang));
        }
        assert_eq!(Language::parse("zh"), Some(Language::ZhCn));
        assert_eq!(Language::parse("fr"), None);
        assert_eq!(Label::Compliance.text(Language::ZhCn), "达标率");
    }
}
