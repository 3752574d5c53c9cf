//! The report as a formal PDF document, A4: a cover (title, tenant, period, when it was
//! generated, headline figures), the summary against the previous period, a compliance trend
//! chart, the breakdowns, satisfaction and the breaches (the first [`BREACHES_SHOWN`]).
//!
//! Laid out here, drawn in-process with krilla. Every text is set in one font that has Chinese
//! glyphs ([`ReportFont`], Noto Sans CJK SC by default), embedded as a subset, and measured with
//! its own advances (skrifa) so that columns align and long cells are cut to fit. The layout
//! is a list of drawing operations per page, so that every page can say how many there are;
//! tables that do not fit continue on the next page under their header.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context as _};
use jiff::tz::TimeZone;
use jiff::Zoned;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::{DateTime as PdfDateTime, Metadata};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule, LineCap, LineJoin, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, GlyphId, KrillaGlyph};
use krilla::Document;
use skrifa::charmap::Charmap;
use skrifa::instance::{LocationRef, Size};
use skrifa::metrics::GlyphMetrics;
use skrifa::raw::FileRef;
use skrifa::string::StringId;
use skrifa::{FontRef, MetadataProvider};
use vigil_schema::Millis;

use super::labels::{Label, Language};
use super::model::{Breakdown, GoalFigures, Period, TrendPoint, TrendStep};
use super::Report;

/// The most breaches the PDF lists (the Excel workbook lists every one the report has).
pub const BREACHES_SHOWN: usize = 500;

/// The font a PDF report is set in: a regular face for all text (it must have Chinese glyphs,
/// as labels are Chinese in `zh-CN` reports and names can be in any report) and, if given, a
/// bold face for headings (without one, headings are drawn with a thin outline).
///
/// Load it once and render many reports with it: it holds the font files in memory (about
/// 20 MB each for Noto Sans CJK) and cloning it is cheap.
#[derive(Clone)]
pub struct ReportFont {
    regular: Face,
    bold: Option<Face>,
}

/// One face of a font file, loaded.
#[derive(Clone)]
struct Face {
    path: PathBuf,
    index: u32,
    data: Arc<Vec<u8>>,
    font: Font,
}

impl ReportFont {
    /// Noto Sans CJK, from Debian's package `fonts-noto-cjk`: a collection, of which the
    /// Simplified Chinese face (`Noto Sans CJK SC`, index 2) is used.
    pub const DEFAULT_PATH: &'static str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";
    /// Its bold weight, from the same package.
    pub const DEFAULT_BOLD_PATH: &'static str =
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc";

    /// Loads [`ReportFont::DEFAULT_PATH`] (with [`ReportFont::DEFAULT_BOLD_PATH`] for
    /// headings where it is installed).
    pub fn load_default() -> anyhow::Result<ReportFont> {
        ReportFont::load(ReportFont::DEFAULT_PATH)
    }

    /// Loads the font file at `path` (OpenType or TrueType, or a collection of them). From a
    /// collection it takes the Simplified Chinese face (a family name ending in ` SC`,
    /// proportional before monospaced), else the first face with Chinese glyphs.
    ///
    /// Headings use the bold file beside it when there is one, named like it with `-Bold` for
    /// `-Regular` (as [`ReportFont::DEFAULT_BOLD_PATH`] is beside
    /// [`ReportFont::DEFAULT_PATH`]); [`ReportFont::with_bold`] names another.
    ///
    /// Fails, naming the path and what to do, if the file cannot be read, is no font, or has
    /// no Chinese glyphs.
    pub fn load(path: impl AsRef<Path>) -> anyhow::Result<ReportFont> {
        let path = path.as_ref();
        let regular = Face::load(path, None)?;
        // The bold sibling is a nicety: without it (or if it is unusable) bold is simulated.
        let bold = bold_sibling(path)
            .filter(|bold| bold.is_file())
            .and_then(|bold| Face::load(&bold, None).ok());
        Ok(ReportFont { regular, bold })
    }

    /// Loads face `index` of the font file at `path` (0 for a file that is not a collection).
    pub fn load_face(path: impl AsRef<Path>, index: u32) -> anyhow::Result<ReportFont> {
        Ok(ReportFont {
            regular: Face::load(path.as_ref(), Some(index))?,
            bold: None,
        })
    }

    /// Sets headings in the font file at `path` (its face chosen as by [`ReportFont::load`]).
    pub fn with_bold(self, path: impl AsRef<Path>) -> anyhow::Result<ReportFont> {
        Ok(ReportFont {
            bold: Some(Face::load(path.as_ref(), None)?),
            ..self
        })
    }

    /// The file the regular face comes from.
    pub fn path(&self) -> &Path {
        &self.regular.path
    }

    /// The regular face's index in its file.
    pub fn face_index(&self) -> u32 {
        self.regular.index
    }
}

impl fmt::Debug for ReportFont {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let face = |face: &Face| format!("{}#{}", face.path.display(), face.index);
        f.debug_struct("ReportFont")
            .field("regular", &face(&self.regular))
            .field("bold", &self.bold.as_ref().map(face))
            .finish()
    }
}

/// `…/Name-Bold.ext` for `…/Name-Regular.ext`.
fn bold_sibling(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    name.contains("-Regular")
        .then(|| path.with_file_name(name.replacen("-Regular", "-Bold", 1)))
}

/// The error of a font that cannot be used: names the file and says what to do.
fn font_error(path: &Path, cause: impl fmt::Display) -> anyhow::Error {
    anyhow!(
        "cannot use {} as the PDF report font: {cause}; install Debian's package fonts-noto-cjk \
         (it provides {}) or set the path of another font file with Chinese glyphs",
        path.display(),
        ReportFont::DEFAULT_PATH
    )
}

/// A character every report font must have (from `达标率`, "compliance").
const CHINESE_PROBE: char = '达';

impl Face {
    fn load(path: &Path, index: Option<u32>) -> anyhow::Result<Face> {
        let data = std::fs::read(path).map_err(|e| font_error(path, e))?;
        let index = {
            let file = FileRef::new(&data)
                .map_err(|e| font_error(path, format_args!("not a font file ({e})")))?;
            let index = index.unwrap_or_else(|| pick_face(&file));
            let face = match &file {
                FileRef::Font(font) if index == 0 => font.clone(),
                FileRef::Font(_) => {
                    return Err(font_error(
                        path,
                        format_args!("it is a single font, without a face {index}"),
                    ))
                }
                FileRef::Collection(c) => c
                    .get(index)
                    .map_err(|e| font_error(path, format_args!("no face {index} ({e})")))?,
            };
            let charmap = face.charmap();
            if charmap.map(CHINESE_PROBE).is_none() || charmap.map('0').is_none() {
                return Err(font_error(
                    path,
                    format_args!("its face {index} has no Chinese glyphs"),
                ));
            }
            index
        };
        let data = Arc::new(data);
        let font = Font::new(data.clone().into(), index)
            .ok_or_else(|| font_error(path, format_args!("face {index} cannot be read")))?;
        Ok(Face {
            path: path.to_owned(),
            index,
            data,
            font,
        })
    }
}

/// The face of a font file to use: see [`ReportFont::load`].
fn pick_face(file: &FileRef<'_>) -> u32 {
    let FileRef::Collection(collection) = file else {
        return 0;
    };
    let faces: Vec<(u32, String)> = (0..collection.len())
        .filter_map(|i| {
            let face = collection.get(i).ok()?;
            face.charmap().map(CHINESE_PROBE)?;
            let family = face
                .localized_strings(StringId::FAMILY_NAME)
                .english_or_first()
                .map(|s| s.to_string())
                .unwrap_or_default();
            Some((i, family))
        })
        .collect();
    faces
        .iter()
        .find(|(_, family)| family.ends_with(" SC") && !family.contains("Mono"))
        .or_else(|| faces.iter().find(|(_, family)| family.ends_with(" SC")))
        .or_else(|| faces.first())
        .map_or(0, |(i, _)| *i)
}

/// Renders `report` as an A4 PDF, every text in `font`.
///
/// Fails if the report's time zone is unknown or the PDF cannot be written (a font krilla
/// cannot embed).
pub fn render(report: &Report, font: &ReportFont) -> anyhow::Result<Vec<u8>> {
    let tz = TimeZone::get(&report.timezone)
        .with_context(|| format!("unknown time zone {:?} in the report", report.timezone))?;
    let mut fonts = Fonts {
        regular: Shaper::new(&font.regular)?,
        bold: font.bold.as_ref().map(Shaper::new).transpose()?,
    };
    let cx = Cx {
        lang: report.language,
        tz,
    };
    let mut layout = Layout {
        fonts: &mut fonts,
        pages: vec![Vec::new()],
        at: 0,
        y: TOP,
    };
    cover(&cx, &mut layout, report)?;
    layout.new_page();
    summary(&cx, &mut layout, report);
    trend(&cx, &mut layout, report)?;
    for (title, key, rows, with_opened) in [
        (
            Label::ByPriority,
            Label::Priority,
            &report.by_priority,
            true,
        ),
        (
            Label::ByServiceType,
            Label::ServiceType,
            &report.by_service_type,
            true,
        ),
        // Tickets opened are not counted per engineer (always 0): no column for them.
        (
            Label::ByEngineer,
            Label::Engineer,
            &report.by_engineer,
            false,
        ),
    ] {
        breakdown(&cx, &mut layout, title, key, rows, with_opened);
    }
    satisfaction(&cx, &mut layout, report);
    breaches(&cx, &mut layout, report)?;
    let pages = layout.finish(&cx, report)?;
    emit(&pages, &mut fonts, metadata(report)?)
}

/// The document's metadata: title, language, creator, when the report was computed (UTC).
fn metadata(report: &Report) -> anyhow::Result<Metadata> {
    let at = jiff::Timestamp::from_millisecond(report.generated_at)
        .context("generated_at out of range")?
        .to_zoned(TimeZone::UTC);
    let small = |v: i8| u8::try_from(v).unwrap_or(0);
    let date = PdfDateTime::new(u16::try_from(at.year()).unwrap_or(0))
        .month(small(at.month()))
        .day(small(at.day()))
        .hour(small(at.hour()))
        .minute(small(at.minute()))
        .second(small(at.second()))
        .utc_offset_hour(0)
        .utc_offset_minute(0);
    let lang = report.language;
    Ok(Metadata::new()
        .title(format!(
            "{} · {} {}",
            Label::Title.text(lang),
            Label::Tenant.text(lang),
            report.tenant_id
        ))
        .language(lang.as_str().to_owned())
        .creator("vigil".to_owned())
        .creation_date(date))
}

// ---------------------------------------------------------------------------------------------
// Text: glyphs and advances from the font's own tables.

/// Maps characters to glyphs and measures them, for one face.
struct Shaper<'a> {
    font: Font,
    charmap: Charmap<'a>,
    metrics: GlyphMetrics<'a>,
    units_per_em: f32,
    /// Glyph id and advance (in em) per character seen.
    cache: HashMap<char, (u32, f32)>,
}

impl<'a> Shaper<'a> {
    fn new(face: &'a Face) -> anyhow::Result<Shaper<'a>> {
        let font =
            FontRef::from_index(&face.data, face.index).map_err(|e| font_error(&face.path, e))?;
        let units_per_em = font
            .metrics(Size::unscaled(), LocationRef::default())
            .units_per_em;
        Ok(Shaper {
            font: face.font.clone(),
            charmap: font.charmap(),
            metrics: font.glyph_metrics(Size::unscaled(), LocationRef::default()),
            units_per_em: f32::from(units_per_em.max(1)),
            cache: HashMap::new(),
        })
    }

    /// The glyph of `c` (`.notdef` if the font has none) and its advance in em.
    fn glyph(&mut self, c: char) -> (u32, f32) {
        if let Some(&g) = self.cache.get(&c) {
            return g;
        }
        let id = self.charmap.map(c).unwrap_or_default();
        let advance = self.metrics.advance_width(id).unwrap_or(0.0) / self.units_per_em;
        let g = (id.to_u32(), advance);
        self.cache.insert(c, g);
        g
    }

    /// The width of `text` at `size` points.
    fn width(&mut self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.glyph(c).1).sum::<f32>() * size
    }

    /// One glyph per character, left to right (the report's scripts need no shaping beyond
    /// that: Latin, digits, CJK).
    fn glyphs(&mut self, text: &str) -> Vec<KrillaGlyph> {
        text.char_indices()
            .map(|(i, c)| {
                let (id, advance) = self.glyph(c);
                KrillaGlyph::new(
                    GlyphId::new(id),
                    advance,
                    0.0,
                    0.0,
                    0.0,
                    i..i + c.len_utf8(),
                    None,
                )
            })
            .collect()
    }
}

/// The regular and (if any) bold face.
struct Fonts<'a> {
    regular: Shaper<'a>,
    bold: Option<Shaper<'a>>,
}

impl<'a> Fonts<'a> {
    /// The shaper for a weight, and whether bold must be simulated.
    fn get(&mut self, bold: bool) -> (&mut Shaper<'a>, bool) {
        match (bold, self.bold.as_mut()) {
            (true, Some(shaper)) => (shaper, false),
            (bold, _) => (&mut self.regular, bold),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Page geometry and colours (points, y down from the top of the page).

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 50.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;
/// Where content starts on a page after the cover.
const TOP: f32 = 68.0;
/// Where content must end.
const BOTTOM: f32 = PAGE_H - 58.0;

type Rgb = (u8, u8, u8);
const NAVY: Rgb = (31, 58, 95);
const BLUE: Rgb = (47, 109, 181);
const ORANGE: Rgb = (224, 123, 57);
const INK: Rgb = (33, 37, 41);
const MUTED: Rgb = (108, 117, 125);
const RULE: Rgb = (206, 212, 218);
const HEAD_FILL: Rgb = (232, 238, 246);
const STRIPE: Rgb = (246, 248, 251);
const GOOD: Rgb = (46, 125, 50);
const BAD: Rgb = (198, 40, 40);
const WHITE: Rgb = (255, 255, 255);
const PALE: Rgb = (200, 215, 235);

/// A drawing operation of a laid-out page.
enum Op {
    /// `text` with its baseline starting at `(x, y)`.
    Text {
        x: f32,
        y: f32,
        size: f32,
        bold: bool,
        color: Rgb,
        text: String,
    },
    /// A filled rectangle.
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        color: Rgb,
    },
    /// A stroked open path.
    Line {
        points: Vec<(f32, f32)>,
        width: f32,
        color: Rgb,
    },
    /// A filled circle.
    Dot { x: f32, y: f32, r: f32, color: Rgb },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
    Center,
}

/// The pages laid out so far and where the next content goes on the last one.
struct Layout<'f, 'a> {
    fonts: &'f mut Fonts<'a>,
    pages: Vec<Vec<Op>>,
    /// The page drawn on: the last one, except while running heads are added.
    at: usize,
    y: f32,
}

impl Layout<'_, '_> {
    fn page(&mut self) -> &mut Vec<Op> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let at = self.at.min(self.pages.len() - 1);
        &mut self.pages[at]
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.at = self.pages.len() - 1;
        self.y = TOP;
    }

    /// Starts a new page unless `h` more points fit on this one.
    fn room(&mut self, h: f32) {
        if self.y + h > BOTTOM {
            self.new_page();
        }
    }

    fn width(&mut self, text: &str, size: f32, bold: bool) -> f32 {
        self.fonts.get(bold).0.width(text, size)
    }

    fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, color: Rgb, text: &str) {
        let text: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        self.page().push(Op::Text {
            x,
            y,
            size,
            bold,
            color,
            text,
        });
    }

    /// `text` aligned in the box `[x, x + w]`, cut with an ellipsis if it is wider.
    #[allow(clippy::too_many_arguments)]
    fn text_in(
        &mut self,
        x: f32,
        w: f32,
        y: f32,
        size: f32,
        bold: bool,
        color: Rgb,
        align: Align,
        text: &str,
    ) {
        let fitted = self.fit(text, w, size, bold);
        let tw = self.width(&fitted, size, bold);
        let x = match align {
            Align::Left => x,
            Align::Right => x + w - tw,
            Align::Center => x + (w - tw) / 2.0,
        };
        self.text(x, y, size, bold, color, &fitted);
    }

    /// `text`, or as much of it as fits in `w` followed by an ellipsis.
    fn fit(&mut self, text: &str, w: f32, size: f32, bold: bool) -> String {
        if self.width(text, size, bold) <= w {
            return text.to_owned();
        }
        let room = w - self.width("…", size, bold);
        let mut out = String::new();
        let mut used = 0.0;
        for c in text.chars() {
            let cw = self.fonts.get(bold).0.glyph(c).1 * size;
            if used + cw > room {
                break;
            }
            used += cw;
            out.push(c);
        }
        out.truncate(out.trim_end().len());
        out.push('…');
        out
    }

    /// `text` broken into lines no wider than `w` (at spaces where possible), at most
    /// `max_lines` of them, the last one cut to fit.
    fn wrap(&mut self, text: &str, w: f32, size: f32, bold: bool, max_lines: usize) -> Vec<String> {
        let mut lines = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            if lines.len() + 1 == max_lines.max(1) || self.width(rest, size, bold) <= w {
                lines.push(self.fit(rest, w, size, bold));
                break;
            }
            // The longest prefix that fits, backed off to its last space if it has one.
            let mut end = 0;
            let mut used = 0.0;
            for (i, c) in rest.char_indices() {
                let cw = self.fonts.get(bold).0.glyph(c).1 * size;
                if used + cw > w {
                    break;
                }
                used += cw;
                end = i + c.len_utf8();
            }
            if end == 0 {
                end = rest.chars().next().map_or(rest.len(), char::len_utf8);
            }
            let cut = match rest[..end].rfind(' ') {
                Some(space) if space > 0 && end < rest.len() => space,
                _ => end,
            };
            lines.push(rest[..cut].trim_end().to_owned());
            rest = rest[cut..].trim_start();
        }
        lines
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: Rgb) {
        if w > 0.0 && h > 0.0 {
            self.page().push(Op::Rect { x, y, w, h, color });
        }
    }

    fn hline(&mut self, x: f32, y: f32, w: f32, width: f32, color: Rgb) {
        self.page().push(Op::Line {
            points: vec![(x, y), (x + w, y)],
            width,
            color,
        });
    }

    /// A section heading, kept on one page with `keep` points of what follows it.
    fn heading(&mut self, text: &str, keep: f32) {
        const H: f32 = 30.0;
        if self.y > TOP {
            self.y += 14.0;
        }
        self.room(H + keep);
        let y = self.y;
        self.rect(MARGIN, y + 2.0, 3.5, 15.0, BLUE);
        self.text(MARGIN + 10.0, y + 14.5, 13.5, true, NAVY, text);
        self.y += H;
    }

    /// Adds the running header and footer of every page after the cover.
    fn finish(mut self, cx: &Cx, report: &Report) -> anyhow::Result<Vec<Vec<Op>>> {
        let total = self.pages.len();
        let left = format!(
            "{} · {} {}",
            cx.t(Label::Title),
            cx.t(Label::Tenant),
            report.tenant_id
        );
        let right = cx.period(report.period)?;
        for i in 1..total {
            self.at = i;
            self.text(MARGIN, 38.0, 7.5, false, MUTED, &left);
            self.text_in(
                MARGIN,
                CONTENT_W,
                38.0,
                7.5,
                false,
                MUTED,
                Align::Right,
                &right,
            );
            self.hline(MARGIN, 45.0, CONTENT_W, 0.5, RULE);
            self.hline(MARGIN, PAGE_H - 42.0, CONTENT_W, 0.5, RULE);
            let number = format!("{} / {total}", i + 1);
            self.text_in(
                MARGIN,
                CONTENT_W,
                PAGE_H - 28.0,
                7.5,
                false,
                MUTED,
                Align::Center,
                &number,
            );
        }
        Ok(self.pages)
    }
}

// ---------------------------------------------------------------------------------------------
// Tables.

/// How a cell's figure compares with the previous period's.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tone {
    Plain,
    Good,
    Bad,
    Muted,
}

impl Tone {
    fn color(self) -> Rgb {
        match self {
            Tone::Plain => INK,
            Tone::Good => GOOD,
            Tone::Bad => BAD,
            Tone::Muted => MUTED,
        }
    }
}

struct Cell {
    text: String,
    tone: Tone,
}

impl Cell {
    fn new(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            tone: Tone::Plain,
        }
    }
}

enum Row {
    Cells(Vec<Cell>),
    /// A heading row across the table (a goal's figures follow).
    Section(String),
}

struct Col {
    title: String,
    width: f32,
    align: Align,
}

fn col(title: &str, width: f32, align: Align) -> Col {
    Col {
        title: title.to_owned(),
        width,
        align,
    }
}

/// A table: optional group titles over runs of columns (title, first column, how many), the
/// columns and the rows.
struct Table {
    groups: Vec<(String, usize, usize)>,
    cols: Vec<Col>,
    rows: Vec<Row>,
    size: f32,
    /// Whether the first column's cells are indented under section rows.
    indent: bool,
}

impl Table {
    fn row_h(&self) -> f32 {
        self.size + 7.5
    }
}

impl Layout<'_, '_> {
    /// The size, at most `size` and at least 6, at which no word of `title` written in
    /// spaces (Latin; CJK text breaks anywhere) is wider than `w`.
    fn title_size(&mut self, title: &str, w: f32, size: f32) -> f32 {
        let widest = title
            .split(|c: char| c.is_whitespace() || u32::from(c) >= 0x2E80)
            .map(|word| self.width(word, 1.0, true))
            .fold(0.0, f32::max);
        if widest * size <= w {
            size
        } else {
            (w / widest).max(6.0)
        }
    }

    /// Sizes every column but the first to its widest cell or title (a Latin title may take
    /// two lines, broken at spaces) and gives the first what is left of the page's width (at
    /// least 80 points: the others shrink, cutting their texts, if need be).
    fn size_columns(&mut self, cols: &mut [Col], rows: &[Row], size: f32) {
        const PAD: f32 = 14.0;
        let mut needed: Vec<f32> = cols
            .iter()
            .map(|c| {
                if c.title.chars().any(|c| u32::from(c) >= 0x2E80) {
                    self.width(&c.title, size, true)
                } else {
                    c.title
                        .split_whitespace()
                        .map(|word| self.width(word, size, true))
                        .fold(0.0, f32::max)
                }
            })
            .collect();
        for row in rows {
            if let Row::Cells(cells) = row {
                for (need, cell) in needed.iter_mut().zip(cells) {
                    *need = need.max(self.width(&cell.text, size, false));
                }
            }
        }
        let others: f32 = needed.iter().skip(1).map(|w| w + PAD).sum();
        let scale = if others > CONTENT_W - 80.0 {
            (CONTENT_W - 80.0) / others
        } else {
            1.0
        };
        for (c, need) in cols.iter_mut().zip(&needed).skip(1) {
            c.width = (need + PAD) * scale;
        }
        if let Some(first) = cols.first_mut() {
            first.width = CONTENT_W - others * scale;
        }
    }

    /// Draws `table`'s header at the current position and returns its height.
    fn table_header(&mut self, t: &Table) -> f32 {
        let start = self.y;
        let size = t.size;
        let x0 = MARGIN;
        let xs: Vec<f32> = t
            .cols
            .iter()
            .scan(x0, |x, c| {
                let at = *x;
                *x += c.width;
                Some(at)
            })
            .collect();
        if !t.groups.is_empty() {
            let h = size + 8.0;
            for (title, first, span) in &t.groups {
                let (Some(&x), Some(last)) = (xs.get(*first), t.cols.get(first + span - 1)) else {
                    continue;
                };
                let end = xs.get(first + span - 1).copied().unwrap_or(x) + last.width;
                self.text_in(
                    x,
                    end - x,
                    self.y + size + 2.0,
                    size,
                    true,
                    NAVY,
                    Align::Center,
                    title,
                );
                self.hline(x + 4.0, self.y + h - 1.5, end - x - 8.0, 0.8, BLUE);
            }
            self.y += h;
        }
        // Each title on up to two lines, in a smaller size where a word would not fit.
        let wrapped: Vec<(f32, Vec<String>)> = t
            .cols
            .iter()
            .map(|c| {
                let size = self.title_size(&c.title, c.width - 8.0, size);
                (size, self.wrap(&c.title, c.width - 8.0, size, true, 2))
            })
            .collect();
        let lines = wrapped.iter().map(|w| w.1.len()).max().unwrap_or(1).max(1);
        let line_h = size * 1.25;
        let h = line_h * lines as f32 + 8.0;
        self.rect(
            x0,
            self.y,
            CONTENT_W.min(t.cols.iter().map(|c| c.width).sum()),
            h,
            HEAD_FILL,
        );
        for ((c, x), (size, lines)) in t.cols.iter().zip(&xs).zip(&wrapped) {
            // Bottom-aligned, like a spreadsheet's header.
            let first_baseline =
                self.y + h - 4.0 - line_h * (lines.len() as f32 - 1.0) - size * 0.25;
            for (i, line) in lines.iter().enumerate() {
                let y = first_baseline + line_h * i as f32;
                self.text_in(*x + 4.0, c.width - 8.0, y, *size, true, NAVY, c.align, line);
            }
        }
        self.y += h;
        self.hline(x0, self.y, t.cols.iter().map(|c| c.width).sum(), 0.8, NAVY);
        self.y - start
    }

    /// Draws `table`, continuing on new pages (header repeated) when it does not fit.
    fn table(&mut self, t: &Table) {
        let row_h = t.row_h();
        let width: f32 = t.cols.iter().map(|c| c.width).sum();
        // The header with at least a few rows, or a new page.
        let probe = 2.0 * (t.size * 1.25)
            + 8.0
            + if t.groups.is_empty() {
                0.0
            } else {
                t.size + 8.0
            };
        self.room(probe + row_h * 3.0_f32.min(t.rows.len().max(1) as f32));
        self.table_header(t);
        let mut stripe = false;
        for row in &t.rows {
            if self.y + row_h > BOTTOM {
                self.new_page();
                self.table_header(t);
                stripe = false;
            }
            let baseline = self.y + row_h / 2.0 + t.size * 0.36;
            match row {
                Row::Section(title) => {
                    self.rect(MARGIN, self.y, width, row_h, STRIPE);
                    self.text_in(
                        MARGIN + 4.0,
                        width - 8.0,
                        baseline,
                        t.size,
                        true,
                        NAVY,
                        Align::Left,
                        title,
                    );
                    stripe = false;
                }
                Row::Cells(cells) => {
                    if stripe {
                        self.rect(MARGIN, self.y, width, row_h, STRIPE);
                    }
                    stripe = !stripe;
                    let mut x = MARGIN;
                    for (c, cell) in t.cols.iter().zip(cells) {
                        let indent = if t.indent && x == MARGIN { 6.0 } else { 0.0 };
                        self.text_in(
                            x + 4.0 + indent,
                            c.width - 8.0 - indent,
                            baseline,
                            t.size,
                            false,
                            cell.tone.color(),
                            c.align,
                            &cell.text,
                        );
                        x += c.width;
                    }
                }
            }
            self.y += row_h;
        }
        if t.rows.is_empty() {
            let baseline = self.y + row_h / 2.0 + t.size * 0.36;
            self.text_in(
                MARGIN + 4.0,
                width - 8.0,
                baseline,
                t.size,
                false,
                MUTED,
                Align::Left,
                "–",
            );
            self.y += row_h;
        }
        self.hline(MARGIN, self.y, width, 0.5, RULE);
    }
}

// ---------------------------------------------------------------------------------------------
// Figures as text.

/// What every part needs: the language and the zone.
struct Cx {
    lang: Language,
    tz: TimeZone,
}

impl Cx {
    fn t(&self, label: Label) -> &'static str {
        label.text(self.lang)
    }

    fn zoned(&self, ms: Millis) -> anyhow::Result<Zoned> {
        Ok(jiff::Timestamp::from_millisecond(ms)
            .with_context(|| format!("instant {ms} out of range"))?
            .to_zoned(self.tz.clone()))
    }

    /// `2026-03-14 09:05` in the report's zone.
    fn datetime(&self, ms: Millis) -> anyhow::Result<String> {
        Ok(self.zoned(ms)?.strftime("%Y-%m-%d %H:%M").to_string())
    }

    /// A period as its first and last days when it runs from midnight to midnight, otherwise
    /// as its first and end instants.
    fn period(&self, p: Period) -> anyhow::Result<String> {
        let (from, to) = (self.zoned(p.from)?, self.zoned(p.to)?);
        let midnight = jiff::civil::Time::midnight();
        if from.time() == midnight && to.time() == midnight && to.date() > from.date() {
            let last = to.date().yesterday().context("period end")?;
            Ok(format!("{} – {}", from.date(), last))
        } else {
            Ok(format!(
                "{} – {}",
                from.strftime("%Y-%m-%d %H:%M"),
                to.strftime("%Y-%m-%d %H:%M")
            ))
        }
    }
}

const NONE: &str = "–";

/// A count with thousands grouped: `12,345`.
fn count(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A fraction as a percentage: `97.3%`.
fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| NONE.to_owned(), |v| format!("{:.1}%", v * 100.0))
}

/// SLA time, to the minute past one: `45 s`, `12 min`, `4 h 12 min`, `2 d 3 h`.
fn duration(ms: i64) -> String {
    let sign = if ms < 0 { "−" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 59_500 {
        return format!("{sign}{} s", (ms + 500) / 1000);
    }
    let minutes = (ms + 30_000) / 60_000;
    let (d, h, m) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let text = match (d, h, m) {
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    };
    format!("{sign}{text}")
}

fn duration_opt(ms: Option<f64>) -> String {
    ms.map_or_else(|| NONE.to_owned(), |ms| duration(ms.round() as i64))
}

/// What a figure is, for its text and the text of its change.
#[derive(Clone, Copy)]
enum Kind {
    Count,
    Pct,
    Duration,
    Rating,
}

/// Which way a figure is better.
#[derive(Clone, Copy)]
enum Better {
    Higher,
    Lower,
    Neither,
}

impl Kind {
    fn text(self, v: Option<f64>) -> String {
        match (self, v) {
            (_, None) => NONE.to_owned(),
            (Kind::Count, Some(v)) => count(v.max(0.0) as u64),
            (Kind::Pct, v) => pct(v),
            (Kind::Duration, v) => duration_opt(v),
            (Kind::Rating, Some(v)) => format!("{v:.2}"),
        }
    }

    /// `now - before`, signed, in the figure's unit (percentage points for compliance).
    fn change(self, now: Option<f64>, before: Option<f64>, better: Better) -> Cell {
        let (Some(now), Some(before)) = (now, before) else {
            return Cell {
                text: NONE.to_owned(),
                tone: Tone::Muted,
            };
        };
        let d = now - before;
        let (text, zero) = match self {
            Kind::Count => {
                let d = d.round();
                (format!("{}{}", sign(d), count(d.abs() as u64)), d == 0.0)
            }
            Kind::Pct => {
                let d = (d * 1000.0).round() / 10.0;
                (format!("{}{:.1}%", sign(d), d.abs()), d == 0.0)
            }
            Kind::Duration => {
                let d = d.round();
                let text = duration(d.abs() as i64);
                (format!("{}{text}", sign(d)), d.abs() < 500.0)
            }
            Kind::Rating => {
                let d = (d * 100.0).round() / 100.0;
                (format!("{}{:.2}", sign(d), d.abs()), d == 0.0)
            }
        };
        if zero {
            return Cell {
                text: "0".to_owned(),
                tone: Tone::Muted,
            };
        }
        let tone = match better {
            Better::Neither => Tone::Plain,
            Better::Higher if d > 0.0 => Tone::Good,
            Better::Lower if d < 0.0 => Tone::Good,
            _ => Tone::Bad,
        };
        Cell { text, tone }
    }
}

fn sign(d: f64) -> &'static str {
    if d > 0.0 {
        "+"
    } else if d < 0.0 {
        "−"
    } else {
        ""
    }
}

fn n(v: u64) -> Option<f64> {
    Some(v as f64)
}

/// A goal's name (`response` or `resolution`) in the report's language.
fn goal_name(lang: Language, goal: &str) -> &str {
    match goal {
        "response" => Label::Response.text(lang),
        "resolution" => Label::Resolution.text(lang),
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// The parts.

fn cover(cx: &Cx, l: &mut Layout<'_, '_>, report: &Report) -> anyhow::Result<()> {
    const BAND: f32 = 300.0;
    l.rect(0.0, 0.0, PAGE_W, BAND, NAVY);
    l.rect(0.0, BAND, PAGE_W, 4.0, BLUE);
    l.rect(MARGIN, 120.0, 40.0, 4.0, ORANGE);
    l.text(MARGIN, 175.0, 30.0, true, WHITE, cx.t(Label::Title));
    let tenant = format!("{} {}", cx.t(Label::Tenant), report.tenant_id);
    l.text(MARGIN, 212.0, 16.0, false, PALE, &tenant);
    let period = cx.period(report.period)?;
    l.text(MARGIN, 240.0, 13.0, false, PALE, &period);

    // What the report is about, label above value.
    let mut y = 350.0;
    let rows = [
        (Label::Tenant, report.tenant_id.to_string()),
        (Label::Period, format!("{period}  ({})", report.timezone)),
        (Label::PreviousPeriod, cx.period(report.previous_period)?),
        (
            Label::Generated,
            format!(
                "{}  ({})",
                cx.datetime(report.generated_at)?,
                report.timezone
            ),
        ),
    ];
    for (label, value) in rows {
        l.text(MARGIN, y, 8.5, false, MUTED, cx.t(label));
        l.text_in(
            MARGIN,
            CONTENT_W,
            y + 16.0,
            12.0,
            false,
            INK,
            Align::Left,
            &value,
        );
        l.hline(MARGIN, y + 25.0, CONTENT_W, 0.4, RULE);
        y += 40.0;
    }

    // Headline figures.
    let (now, before) = (&report.summary, &report.previous);
    let tiles = [
        (
            cx.t(Label::Response),
            cx.t(Label::Compliance),
            Kind::Pct,
            now.response.compliance,
            before.response.compliance,
            Better::Higher,
        ),
        (
            cx.t(Label::Resolution),
            cx.t(Label::Compliance),
            Kind::Pct,
            now.resolution.compliance,
            before.resolution.compliance,
            Better::Higher,
        ),
        (
            cx.t(Label::Opened),
            "",
            Kind::Count,
            n(now.opened),
            n(before.opened),
            Better::Neither,
        ),
        (
            cx.t(Label::Satisfaction),
            "",
            Kind::Rating,
            now.satisfaction,
            before.satisfaction,
            Better::Higher,
        ),
    ];
    let gap = 12.0;
    let w = (CONTENT_W - gap * 3.0) / 4.0;
    let top = y + 24.0;
    for (i, (caption, sub, kind, now, before, better)) in tiles.into_iter().enumerate() {
        let x = MARGIN + (w + gap) * i as f32;
        l.rect(x, top, w, 112.0, STRIPE);
        l.rect(x, top, w, 3.0, BLUE);
        l.text_in(
            x + 10.0,
            w - 20.0,
            top + 20.0,
            9.0,
            true,
            NAVY,
            Align::Left,
            caption,
        );
        l.text_in(
            x + 10.0,
            w - 20.0,
            top + 33.0,
            8.5,
            false,
            MUTED,
            Align::Left,
            sub,
        );
        l.text_in(
            x + 10.0,
            w - 20.0,
            top + 64.0,
            22.0,
            true,
            NAVY,
            Align::Left,
            &kind.text(now),
        );
        let change = kind.change(now, before, better);
        let arrow = match change.tone {
            Tone::Muted => "",
            _ if change.text.starts_with('+') => "▲ ",
            _ => "▼ ",
        };
        let text = format!("{arrow}{}", change.text);
        l.text_in(
            x + 10.0,
            w - 20.0,
            top + 82.0,
            9.0,
            false,
            change.tone.color(),
            Align::Left,
            &text,
        );
        let previous = format!("{} {}", cx.t(Label::PreviousPeriod), kind.text(before));
        l.text_in(
            x + 10.0,
            w - 20.0,
            top + 98.0,
            7.5,
            false,
            MUTED,
            Align::Left,
            &previous,
        );
    }
    Ok(())
}

fn summary(cx: &Cx, l: &mut Layout<'_, '_>, report: &Report) {
    let (now, before) = (&report.summary, &report.previous);
    let mut rows = Vec::new();
    let line =
        |rows: &mut Vec<Row>, label: Label, kind: Kind, a: Option<f64>, b: Option<f64>, better| {
            rows.push(Row::Cells(vec![
                Cell::new(cx.t(label)),
                Cell::new(kind.text(a)),
                Cell {
                    text: kind.text(b),
                    tone: Tone::Muted,
                },
                kind.change(a, b, better),
            ]));
        };
    line(
        &mut rows,
        Label::Opened,
        Kind::Count,
        n(now.opened),
        n(before.opened),
        Better::Neither,
    );
    line(
        &mut rows,
        Label::Resolved,
        Kind::Count,
        n(now.resolved),
        n(before.resolved),
        Better::Neither,
    );
    line(
        &mut rows,
        Label::OpenAtEnd,
        Kind::Count,
        n(now.open_at_end),
        n(before.open_at_end),
        Better::Lower,
    );
    line(
        &mut rows,
        Label::Warnings,
        Kind::Count,
        n(now.warnings),
        n(before.warnings),
        Better::Lower,
    );
    line(
        &mut rows,
        Label::BreachAlerts,
        Kind::Count,
        n(now.breach_alerts),
        n(before.breach_alerts),
        Better::Lower,
    );
    line(
        &mut rows,
        Label::Satisfaction,
        Kind::Rating,
        now.satisfaction,
        before.satisfaction,
        Better::Higher,
    );
    for (label, a, b) in [
        (Label::Response, &now.response, &before.response),
        (Label::Resolution, &now.resolution, &before.resolution),
    ] {
        rows.push(Row::Section(cx.t(label).to_owned()));
        line(
            &mut rows,
            Label::Compliance,
            Kind::Pct,
            a.compliance,
            b.compliance,
            Better::Higher,
        );
        line(
            &mut rows,
            Label::Met,
            Kind::Count,
            n(a.met),
            n(b.met),
            Better::Neither,
        );
        line(
            &mut rows,
            Label::Breached,
            Kind::Count,
            n(a.breached),
            n(b.breached),
            Better::Lower,
        );
        line(
            &mut rows,
            Label::Cancelled,
            Kind::Count,
            n(a.cancelled),
            n(b.cancelled),
            Better::Neither,
        );
        line(
            &mut rows,
            Label::MeanTime,
            Kind::Duration,
            a.mean_ms,
            b.mean_ms,
            Better::Lower,
        );
        let p = |v: Option<i64>| v.map(|v| v as f64);
        line(
            &mut rows,
            Label::MedianTime,
            Kind::Duration,
            p(a.p50_ms),
            p(b.p50_ms),
            Better::Lower,
        );
        line(
            &mut rows,
            Label::P95Time,
            Kind::Duration,
            p(a.p95_ms),
            p(b.p95_ms),
            Better::Lower,
        );
    }

    l.heading(cx.t(Label::Summary), 80.0);
    let table = Table {
        groups: Vec::new(),
        cols: vec![
            col("", CONTENT_W - 300.0, Align::Left),
            col(cx.t(Label::Period), 100.0, Align::Right),
            col(cx.t(Label::PreviousPeriod), 100.0, Align::Right),
            col(cx.t(Label::Change), 100.0, Align::Right),
        ],
        rows,
        size: 8.5,
        indent: true,
    };
    l.table(&table);
}

fn trend(cx: &Cx, l: &mut Layout<'_, '_>, report: &Report) -> anyhow::Result<()> {
    const LEGEND_H: f32 = 22.0;
    const CHART_H: f32 = 190.0;
    const LABELS_H: f32 = 30.0;
    l.heading(cx.t(Label::Trend), LEGEND_H + CHART_H + LABELS_H);
    let points = &report.trend.points;
    let x0 = MARGIN + 34.0;
    let x1 = MARGIN + CONTENT_W;
    let top = l.y + LEGEND_H;
    let bottom = top + CHART_H;
    let y_of = |v: f64| bottom - (v.clamp(0.0, 1.0) as f32) * CHART_H;

    // Legend, top right.
    let mut x = x1;
    for (label, color) in [(Label::Resolution, ORANGE), (Label::Response, BLUE)] {
        let text = cx.t(label);
        let w = l.width(text, 8.5, false);
        x -= w;
        l.text(x, l.y + 9.0, 8.5, false, INK, text);
        x -= 20.0;
        let y = l.y + 6.0;
        l.page().push(Op::Line {
            points: vec![(x, y), (x + 14.0, y)],
            width: 2.0,
            color,
        });
        x -= 14.0;
    }

    // Grid and y axis: 0 to 100%.
    for i in 0..=4 {
        let v = f64::from(i) / 4.0;
        let y = y_of(v);
        let (width, color) = if i == 0 { (0.8, MUTED) } else { (0.4, RULE) };
        l.hline(x0, y, x1 - x0, width, color);
        let label = format!("{}%", i * 25);
        l.text_in(
            MARGIN,
            28.0,
            y + 2.5,
            7.5,
            false,
            MUTED,
            Align::Right,
            &label,
        );
    }

    // The series: one point per step in the middle of its slot, gaps where nothing stopped.
    let slot = (x1 - x0) / points.len().max(1) as f32;
    let x_of = |i: usize| x0 + slot * (i as f32 + 0.5);
    let series: [(Compliance, Rgb); 2] = [
        (|p| p.response.compliance, BLUE),
        (|p| p.resolution.compliance, ORANGE),
    ];
    for (get, color) in series {
        let mut run: Vec<(f32, f32)> = Vec::new();
        for (i, p) in points.iter().enumerate() {
            match get(p) {
                Some(v) => run.push((x_of(i), y_of(v))),
                None => flush(l, &mut run, color),
            }
        }
        flush(l, &mut run, color);
        if points.len() <= 62 {
            for (i, p) in points.iter().enumerate() {
                if let Some(v) = get(p) {
                    l.page().push(Op::Dot {
                        x: x_of(i),
                        y: y_of(v),
                        r: 1.8,
                        color,
                    });
                }
            }
        }
    }

    // A few step labels under the axis.
    if !points.is_empty() {
        let first = cx.zoned(points[0].start)?;
        let last = cx.zoned(points[points.len() - 1].start)?;
        let format = if first.year() == last.year() {
            "%m-%d"
        } else {
            "%Y-%m-%d"
        };
        let most = if format == "%m-%d" { 8 } else { 5 };
        let k = points.len().min(most);
        let mut shown = Vec::new();
        for j in 0..k {
            let i = if k == 1 {
                0
            } else {
                j * (points.len() - 1) / (k - 1)
            };
            if shown.last() != Some(&i) {
                shown.push(i);
            }
        }
        for i in shown {
            let x = x_of(i);
            l.page().push(Op::Line {
                points: vec![(x, bottom), (x, bottom + 3.0)],
                width: 0.6,
                color: MUTED,
            });
            let label = cx.zoned(points[i].start)?.strftime(format).to_string();
            l.text_in(
                x - 30.0,
                60.0,
                bottom + 13.0,
                7.5,
                false,
                MUTED,
                Align::Center,
                &label,
            );
        }
    }
    let step = match report.trend.step {
        TrendStep::Day => Label::Day,
        TrendStep::Week => Label::Week,
    };
    l.text_in(
        x0,
        x1 - x0,
        bottom + 25.0,
        7.5,
        false,
        MUTED,
        Align::Right,
        cx.t(step),
    );
    l.y = bottom + LABELS_H;
    Ok(())
}

/// One goal's compliance at a trend point.
type Compliance = fn(&TrendPoint) -> Option<f64>;

/// Draws a run of connected points (a lone point is drawn by its dot) and empties it.
fn flush(l: &mut Layout<'_, '_>, run: &mut Vec<(f32, f32)>, color: Rgb) {
    if run.len() > 1 {
        l.page().push(Op::Line {
            points: std::mem::take(run),
            width: 1.6,
            color,
        });
    }
    run.clear();
}

fn breakdown(
    cx: &Cx,
    l: &mut Layout<'_, '_>,
    title: Label,
    key: Label,
    rows: &[Breakdown],
    with_opened: bool,
) {
    const SIZE: f32 = 8.0;
    let measures = [
        Label::Compliance,
        Label::Met,
        Label::Breached,
        Label::MeanTime,
    ];
    // Widths are set by `size_columns` below.
    let mut cols = vec![col(cx.t(key), 0.0, Align::Left)];
    if with_opened {
        cols.push(col(cx.t(Label::Opened), 0.0, Align::Right));
    }
    let mut groups = Vec::new();
    for goal in [Label::Response, Label::Resolution] {
        groups.push((cx.t(goal).to_owned(), cols.len(), measures.len()));
        for label in measures {
            cols.push(col(cx.t(label), 0.0, Align::Right));
        }
    }
    let figures = |g: &GoalFigures| {
        [
            Cell::new(pct(g.compliance)),
            Cell::new(count(g.met)),
            Cell::new(count(g.breached)),
            Cell::new(duration_opt(g.mean_ms)),
        ]
    };
    let rows = rows
        .iter()
        .map(|b| {
            let name = if b.key.is_empty() {
                cx.t(Label::Unassigned)
            } else {
                &b.key
            };
            let mut cells = vec![Cell::new(name)];
            if with_opened {
                cells.push(Cell::new(count(b.opened)));
            }
            cells.extend(figures(&b.response));
            cells.extend(figures(&b.resolution));
            Row::Cells(cells)
        })
        .collect::<Vec<_>>();
    l.size_columns(&mut cols, &rows, SIZE);
    l.heading(cx.t(title), 90.0);
    l.table(&Table {
        groups,
        cols,
        rows,
        size: SIZE,
        indent: false,
    });
}

fn satisfaction(cx: &Cx, l: &mut Layout<'_, '_>, report: &Report) {
    const ROW_H: f32 = 17.0;
    let sat = &report.satisfaction;
    l.heading(cx.t(Label::Satisfaction), ROW_H * 7.0);
    let max = sat.distribution.iter().copied().max().unwrap_or(0).max(1);
    let bar_x = MARGIN + 56.0;
    let bar_w = 280.0;
    for stars in (1..=5usize).rev() {
        let y = l.y;
        let c = sat.distribution[stars - 1];
        let label = format!("{stars} ★");
        l.text_in(
            MARGIN,
            44.0,
            y + 11.0,
            9.0,
            false,
            INK,
            Align::Right,
            &label,
        );
        l.rect(bar_x, y + 3.0, bar_w, ROW_H - 6.0, STRIPE);
        l.rect(
            bar_x,
            y + 3.0,
            bar_w * (c as f32 / max as f32),
            ROW_H - 6.0,
            BLUE,
        );
        let share = if sat.count > 0 {
            format!(
                "{}  ({:.1}%)",
                count(c),
                c as f64 * 100.0 / sat.count as f64
            )
        } else {
            count(c)
        };
        l.text(bar_x + bar_w + 10.0, y + 11.0, 9.0, false, INK, &share);
        l.y += ROW_H;
    }
    l.y += 8.0;
    let mean = sat
        .mean
        .map_or_else(|| NONE.to_owned(), |m| format!("{m:.2} / 5"));
    let y = l.y + 10.0;
    let mut x = MARGIN;
    for (label, value) in [
        (Label::Ratings, count(sat.count)),
        (Label::Satisfaction, mean),
    ] {
        let label = cx.t(label);
        l.text(x, y, 9.0, false, MUTED, label);
        x += l.width(label, 9.0, false) + 6.0;
        l.text(x, y, 9.0, true, NAVY, &value);
        x += l.width(&value, 9.0, true) + 28.0;
    }
    l.y += 16.0;
}

fn breaches(cx: &Cx, l: &mut Layout<'_, '_>, report: &Report) -> anyhow::Result<()> {
    let shown = report.breaches.len().min(BREACHES_SHOWN);
    l.heading(cx.t(Label::Breaches), 70.0);
    let note = format!(
        "{} {} {}",
        count(shown as u64),
        cx.t(Label::ListedOf),
        count(report.breaches_total)
    );
    l.text(MARGIN, l.y + 2.0, 8.5, false, MUTED, &note);
    l.y += 12.0;
    let cols = vec![
        col(cx.t(Label::Ticket), 68.0, Align::Left),
        col(cx.t(Label::Goal), 48.0, Align::Left),
        col(cx.t(Label::Priority), 40.0, Align::Left),
        col(cx.t(Label::ServiceType), 60.0, Align::Left),
        col(cx.t(Label::Engineer), CONTENT_W - 427.0, Align::Left),
        col(cx.t(Label::Target), 44.0, Align::Right),
        col(cx.t(Label::Elapsed), 52.0, Align::Right),
        col(cx.t(Label::OverBy), 48.0, Align::Right),
        col(cx.t(Label::StoppedAt), 67.0, Align::Right),
    ];
    let mut rows = Vec::with_capacity(shown);
    for b in &report.breaches[..shown] {
        let engineer = if b.engineer.is_empty() {
            cx.t(Label::Unassigned)
        } else {
            &b.engineer
        };
        rows.push(Row::Cells(vec![
            Cell::new(&*b.ticket_id),
            Cell::new(goal_name(cx.lang, &b.goal)),
            Cell::new(&*b.priority),
            Cell::new(&*b.service_type),
            Cell::new(engineer),
            Cell::new(duration(b.target_ms)),
            Cell::new(duration(b.elapsed_ms)),
            Cell {
                text: duration(b.over_ms),
                tone: Tone::Bad,
            },
            Cell::new(cx.datetime(b.stopped_at)?),
        ]));
    }
    l.table(&Table {
        groups: Vec::new(),
        cols,
        rows,
        size: 7.5,
        indent: false,
    });
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Drawing with krilla.

fn emit(pages: &[Vec<Op>], fonts: &mut Fonts<'_>, metadata: Metadata) -> anyhow::Result<Vec<u8>> {
    let mut document = Document::new();
    document.set_metadata(metadata);
    for ops in pages {
        let settings = PageSettings::from_wh(PAGE_W, PAGE_H).context("the A4 page size")?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        for op in ops {
            draw(&mut surface, fonts, op);
        }
        surface.finish();
        page.finish();
    }
    document
        .finish()
        .map_err(|e| anyhow!("writing the PDF: {e}"))
}

fn paint(c: Rgb) -> krilla::paint::Paint {
    rgb::Color::new(c.0, c.1, c.2).into()
}

fn fill(c: Rgb) -> Fill {
    Fill {
        paint: paint(c),
        opacity: NormalizedF32::ONE,
        rule: FillRule::NonZero,
    }
}

fn draw(surface: &mut Surface<'_>, fonts: &mut Fonts<'_>, op: &Op) {
    match op {
        Op::Text {
            x,
            y,
            size,
            bold,
            color,
            text,
        } => {
            let (shaper, simulate_bold) = fonts.get(*bold);
            let glyphs = shaper.glyphs(text);
            surface.set_fill(Some(fill(*color)));
            surface.set_stroke(simulate_bold.then(|| Stroke {
                paint: paint(*color),
                width: size * 0.04,
                line_join: LineJoin::Round,
                ..Stroke::default()
            }));
            surface.draw_glyphs(
                Point::from_xy(*x, *y),
                &glyphs,
                shaper.font.clone(),
                text,
                *size,
                false,
            );
        }
        Op::Rect { x, y, w, h, color } => {
            let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) else {
                return;
            };
            let mut builder = PathBuilder::new();
            builder.push_rect(rect);
            if let Some(path) = builder.finish() {
                surface.set_stroke(None);
                surface.set_fill(Some(fill(*color)));
                surface.draw_path(&path);
            }
        }
        Op::Line {
            points,
            width,
            color,
        } => {
            let mut builder = PathBuilder::new();
            let mut points = points.iter();
            let Some(&(x, y)) = points.next() else {
                return;
            };
            builder.move_to(x, y);
            for &(x, y) in points {
                builder.line_to(x, y);
            }
            if let Some(path) = builder.finish() {
                surface.set_fill(None);
                surface.set_stroke(Some(Stroke {
                    paint: paint(*color),
                    width: *width,
                    line_cap: LineCap::Round,
                    line_join: LineJoin::Round,
                    ..Stroke::default()
                }));
                surface.draw_path(&path);
            }
        }
        Op::Dot { x, y, r, color } => {
            // A circle from four cubic Béziers.
            const K: f32 = 0.552_284_8;
            let (x, y, r) = (*x, *y, *r);
            let k = K * r;
            let mut b = PathBuilder::new();
            b.move_to(x + r, y);
            b.cubic_to(x + r, y + k, x + k, y + r, x, y + r);
            b.cubic_to(x - k, y + r, x - r, y + k, x - r, y);
            b.cubic_to(x - r, y - k, x - k, y - r, x, y - r);
            b.cubic_to(x + k, y - r, x + r, y - k, x + r, y);
            b.close();
            if let Some(path) = b.finish() {
                surface.set_stroke(None);
                surface.set_fill(Some(fill(*color)));
                surface.draw_path(&path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::process::Command;

    use super::*;
    use crate::report::xlsx::tests::sample;

    /// The default font, or `None` (the test is skipped, saying why) where it is not installed;
    /// under CI a missing font fails instead.
    fn font() -> Option<ReportFont> {
        match ReportFont::load_default() {
            Ok(font) => Some(font),
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!("skipped: {e:#}");
                None
            }
            Err(e) => panic!("the report font is missing under CI: {e:#}"),
        }
    }

    /// Whether a poppler tool runs here.
    fn has(tool: &str) -> bool {
        let found = Command::new(tool).arg("-v").output().is_ok();
        if !found {
            eprintln!("{tool} not found (Debian: poppler-utils): its checks are skipped");
        }
        found
    }

    fn text_of(pdf: &[u8]) -> Option<String> {
        if !has("pdftotext") {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("report.pdf");
        std::fs::write(&path, pdf).expect("pdf written");
        let out = Command::new("pdftotext")
            .arg("-layout")
            .arg(&path)
            .arg("-")
            .output()
            .expect("pdftotext runs");
        assert!(out.status.success(), "pdftotext: {:?}", out);
        Some(String::from_utf8(out.stdout).expect("pdftotext writes UTF-8"))
    }

    /// Renders pages of `pdf` to `target/report-artifacts/{name}-{page}.png` for a person to
    /// look at.
    fn pictures(pdf: &[u8], name: &str, pages: &[(u32, &str)]) {
        if !has("pdftoppm") {
            return;
        }
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/report-artifacts");
        std::fs::create_dir_all(&dir).expect("artifact dir");
        let path = dir.join(format!("{name}.pdf"));
        std::fs::write(&path, pdf).expect("pdf written");
        for (page, what) in pages {
            let page = page.to_string();
            let status = Command::new("pdftoppm")
                .args(["-png", "-r", "60", "-f", &page, "-l", &page, "-singlefile"])
                .arg(&path)
                .arg(dir.join(format!("{name}-{what}")))
                .status()
                .expect("pdftoppm runs");
            assert!(status.success(), "pdftoppm: {status}");
        }
    }

    #[test]
    fn chinese_report_is_a_pdf_with_its_text_in_chinese() {
        let Some(font) = font() else { return };
        let report = sample(Language::ZhCn, 40);
        let pdf = render(&report, &font).expect("renders");
        assert!(pdf.starts_with(b"%PDF"), "a PDF");
        pictures(&pdf, "report-zh-CN", &[(1, "cover"), (2, "summary")]);
        let Some(text) = text_of(&pdf) else { return };
        for expected in [
            "4217",
            "SLA 服务报告",
            "达标率",
            "达标率趋势",
            "按服务类型",
            "数据库",
            "王伟",
            "（未分配）",
            "2026-03-01 – 2026-03-31",
            "TCK-100000",
            "TCK-100039",
            "40 条，共 164",
            "4 h 12 min",
        ] {
            assert!(text.contains(expected), "{expected:?} in the text:\n{text}");
        }
    }

    #[test]
    fn long_breach_lists_are_cut_and_continue_over_pages() {
        let Some(font) = font() else { return };
        let report = sample(Language::En, Report::BREACHES_LISTED);
        let pdf = render(&report, &font).expect("renders");
        assert!(pdf.starts_with(b"%PDF"), "a PDF");
        pictures(
            &pdf,
            "report-en",
            &[(1, "cover"), (2, "summary"), (5, "breaches")],
        );
        let Some(text) = text_of(&pdf) else { return };
        assert!(text.contains("500 listed of 10,124"), "{text}");
        assert!(text.contains("TCK-100499"));
        assert!(
            !text.contains("TCK-100500"),
            "only the first 500 are listed"
        );
        // The table continues over pages, its header repeated on each.
        let pages: Vec<&str> = text.split('\u{c}').collect();
        let with_header = pages.iter().filter(|p| p.contains("Stopped at")).count();
        assert!(
            with_header >= 5,
            "{with_header} pages with the breaches header"
        );
        let last = pages
            .iter()
            .rev()
            .find(|p| !p.trim().is_empty())
            .expect("pages");
        let total = pages.iter().filter(|p| !p.trim().is_empty()).count();
        assert!(
            last.contains(&format!("{total} / {total}")),
            "page numbers: {last}"
        );
    }

    #[test]
    fn an_empty_report_renders() {
        let Some(font) = font() else { return };
        let mut report = sample(Language::En, 0);
        report.by_priority.clear();
        report.by_service_type.clear();
        report.by_engineer.clear();
        report.trend.points.clear();
        report.breaches_total = 0;
        report.summary = Default::default();
        report.previous = Default::default();
        report.satisfaction = Default::default();
        let pdf = render(&report, &font).expect("renders");
        assert!(pdf.starts_with(b"%PDF"));
    }

    #[test]
    fn the_default_font_is_the_simplified_chinese_face_of_noto_sans_cjk() {
        let Some(font) = font() else { return };
        assert_eq!(font.path(), Path::new(ReportFont::DEFAULT_PATH));
        assert_eq!(font.face_index(), 2);
        assert!(font.bold.as_ref().is_some_and(|b| b.index == 2), "{font:?}");
        let same = ReportFont::load_face(ReportFont::DEFAULT_PATH, 2).expect("face 2");
        assert_eq!(same.face_index(), 2);
        assert!(same.bold.is_none());
    }

    #[test]
    fn a_font_that_cannot_be_loaded_names_its_path_and_the_package() {
        let err = ReportFont::load("/nonexistent/fonts/Missing.ttc").expect_err("missing");
        let message = format!("{err:#}");
        assert!(
            message.contains("/nonexistent/fonts/Missing.ttc"),
            "{message}"
        );
        assert!(message.contains("fonts-noto-cjk"), "{message}");

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("not-a-font.ttf");
        std::fs::write(&path, b"hello").expect("written");
        let message = format!("{:#}", ReportFont::load(&path).expect_err("not a font"));
        assert!(message.contains("not-a-font.ttf"), "{message}");
        assert!(message.contains("fonts-noto-cjk"), "{message}");
    }

    #[test]
    fn durations_read_as_hours_and_minutes() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(45_000), "45 s");
        assert_eq!(duration(12 * 60_000), "12 min");
        assert_eq!(duration(4 * 3_600_000 + 12 * 60_000 + 10_000), "4 h 12 min");
        assert_eq!(duration(3 * 3_600_000), "3 h");
        assert_eq!(duration(2 * 86_400_000 + 3 * 3_600_000 + 59_000), "2 d 3 h");
        assert_eq!(duration(-90 * 60_000), "−1 h 30 min");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(999), "999");
        assert_eq!(pct(Some(0.9734)), "97.3%");
        let change = Kind::Pct.change(Some(0.95), Some(0.97), Better::Higher);
        assert_eq!(change.text, "−2.0%");
        assert!(change.tone == Tone::Bad);
    }
}
