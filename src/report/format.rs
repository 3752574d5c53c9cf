//! The formats a report is rendered in.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use super::pdf::ReportFont;
use super::Report;

/// A report's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The report's serde form.
    Json,
    /// RFC 4180, one section per table, formula-safe.
    Csv,
    /// An Excel workbook, a sheet per breakdown.
    Xlsx,
    /// A formal PDF document.
    Pdf,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 4] = [Format::Json, Format::Csv, Format::Xlsx, Format::Pdf];

    /// `json`, `csv`, `xlsx` or `pdf` (also the file extension).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Pdf => "pdf",
        }
    }

    /// Parses [`Format::as_str`].
    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The media type of a file in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Pdf => "application/pdf",
        }
    }
}

/// Renders reports in any format; the PDF font is loaded at the first PDF and kept.
#[derive(Debug)]
pub struct Renderer {
    font_file: PathBuf,
    font: OnceLock<Arc<ReportFont>>,
}

impl Renderer {
    /// A renderer whose PDFs use the font in `font_file`.
    pub fn new(font_file: PathBuf) -> Renderer {
        Renderer {
            font_file,
            font: OnceLock::new(),
        }
    }

    /// `report` in `format`. CPU-bound for Excel and PDF: call it off the async threads.
    pub fn render(&self, report: &Report, format: Format) -> anyhow::Result<Vec<u8>> {
        match format {
            Format::Json => Ok(serde_json::to_vec_pretty(report)?),
            Format::Csv => Ok(super::csv::render(report).into_bytes()),
            Format::Xlsx => super::xlsx::render(report),
            Format::Pdf => super::pdf::render(report, &*self.font()?),
        }
    }

    fn font(&self) -> anyhow::Result<Arc<ReportFont>> {
        if let Some(font) = self.font.get() {
            return Ok(font.clone());
        }
        let font = Arc::new(ReportFont::load(&self.font_file)?);
        Ok(self.font.get_or_init(|| font).clone())
    }
}
