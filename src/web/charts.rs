//! Small charts drawn on the server as SVG: columns per day and horizontal bars per item.
//!
//! Each function takes plain numbers and labels and returns the markup of one `<svg>` element,
//! ready to be placed in a page as it is. Every piece of text in it is XML-escaped here. Colours
//! come from CSS classes (`chart-s1` …) with presentation attributes as a fallback, so the
//! charts follow the light and dark themes and need no inline style or script. A chart is an
//! image to assistive technology, named by its `<title>` and summed up by its `<desc>`; pages
//! pair each chart with a table of the same numbers.

use std::fmt::Write;

/// The wide drawing's coordinate space; the SVG scales to the width of its box.
const WIDTH: f64 = 720.0;
const COLUMNS_HEIGHT: f64 = 260.0;
/// Room for the legend above and the day labels below the plot.
const TOP: f64 = 34.0;
const BOTTOM: f64 = 26.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 24.0;
/// Horizontal bars: room for the item's name on the left and its value on the right.
const BAR_LABEL_WIDTH: f64 = 190.0;
const BAR_VALUE_WIDTH: f64 = 190.0;
const BAR_ROW: f64 = 30.0;
const BAR_HEIGHT: f64 = 18.0;
/// Longest item name drawn in full; longer ones end in an ellipsis (the full name is in the
/// bar's tooltip and the table).
const BAR_LABEL_CHARS: usize = 26;
/// About how wide one character of the 12-unit font is, for laying out text.
const CHAR_WIDTH: f64 = 6.6;
/// A legend row's height, and the plot's height in every drawing.
const LEGEND_ROW: f64 = 18.0;
const PLOT_HEIGHT: f64 = COLUMNS_HEIGHT - TOP - BOTTOM;

/// Which box a drawing is for. Pages get both ([`fitted`]) and the stylesheet shows the one
/// that fits: a narrow drawing keeps its axis, legend and names readable on a phone, where the
/// wide one would shrink them away or have to scroll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    Wide,
    Narrow,
}

/// The geometry of one fit.
struct Frame {
    width: f64,
    left: f64,
    right: f64,
    /// Day labels under the columns, about.
    day_labels: usize,
    /// Bars: the name left of the bar (wide), or on a line of its own above it (narrow).
    names_above: bool,
}

impl Fit {
    fn frame(self) -> Frame {
        match self {
            Fit::Wide => Frame {
                width: WIDTH,
                left: LEFT,
                right: RIGHT,
                day_labels: 6,
                names_above: false,
            },
            Fit::Narrow => Frame {
                width: 360.0,
                left: 60.0,
                right: 8.0,
                day_labels: 4,
                names_above: true,
            },
        }
    }

    /// Ids on a page are unique: the narrow drawing's carry a suffix.
    fn id(self, id: &str) -> String {
        match self {
            Fit::Wide => id.to_owned(),
            Fit::Narrow => format!("{id}-narrow"),
        }
    }
}

/// Both drawings of a chart, each in the box the stylesheet shows at its width.
pub fn fitted(draw: impl Fn(Fit) -> String) -> String {
    format!(
        r#"<div class="chart-fit-wide">{}</div><div class="chart-fit-narrow">{}</div>"#,
        draw(Fit::Wide),
        draw(Fit::Narrow)
    )
}

/// Fallback fills, used only where the stylesheet does not apply.
const FALLBACK_FILLS: [&str; 3] = ["#4f46e5", "#0d9488", "#d97706"];

/// One series of a column chart: one value per column.
pub struct Series<'a> {
    pub name: &'a str,
    pub values: &'a [i64],
}

/// Columns over categories (days), with one or more series stacked in each column.
pub struct Columns<'a> {
    /// Unique on the page; the `<title>` and `<desc>` ids start with it.
    pub id: &'a str,
    pub title: &'a str,
    /// One label per column, e.g. "Nov 27".
    pub labels: &'a [String],
    /// Stacked bottom to top in this order; at most three.
    pub series: &'a [Series<'a>],
    /// How an axis tick reads, e.g. `$0.50` or `20k`.
    pub tick: &'a dyn Fn(i64) -> String,
    /// How an exact value reads in tooltips and the summary, e.g. `$0.000037` or `12,345`.
    pub value: &'a dyn Fn(i64) -> String,
    /// Shown instead of columns when every value is zero.
    pub empty: &'a str,
}

/// One horizontal bar.
pub struct Bar {
    pub label: String,
    pub value: i64,
    /// What is written at the end of the bar, e.g. "$1.20 · 34k tokens".
    pub text: String,
}

/// The axis of a chart: ticks at every `step` from zero up to `top`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    pub step: i64,
    pub top: i64,
}

impl Scale {
    pub fn ticks(self) -> impl Iterator<Item = i64> {
        (0..=self.top / self.step).map(move |i| i * self.step)
    }
}

/// A scale whose step is 1, 2 or 5 times a power of ten, with at most `max_ticks` steps
/// between zero and the first tick at or above `max`.
pub fn nice_scale(max: i64, max_ticks: i64) -> Scale {
    let max = max.max(1);
    let max_ticks = max_ticks.max(1);
    // The smallest step that covers `max` in `max_ticks` steps.
    let least = max / max_ticks + i64::from(max % max_ticks != 0);
    let mut power: i64 = 1;
    loop {
        for factor in [1, 2, 5] {
            let step = power.saturating_mul(factor);
            if step >= least {
                let top = (max / step + i64::from(max % step != 0)).saturating_mul(step);
                return Scale { step, top };
            }
        }
        power = power.saturating_mul(10);
    }
}

/// Escapes text for XML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Characters XML 1.0 does not allow would make the whole page fail to parse as SVG.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `1234567` as `1,234,567`.
pub fn group_digits(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// A count in a few characters for axes: `950`, `12k`, `1.5M`, `2.25B`.
pub fn compact_count(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    let abs = n.unsigned_abs();
    let (unit, suffix) = match abs {
        0..1_000 => return format!("{sign}{abs}"),
        1_000..1_000_000 => (1_000, "k"),
        1_000_000..1_000_000_000 => (1_000_000, "M"),
        _ => (1_000_000_000, "B"),
    };
    let whole = abs / unit;
    // Two decimals at most, trailing zeros dropped: 1.5M, 2.25M, 3M.
    let hundredths = abs % unit * 100 / unit;
    let frac = format!("{hundredths:02}");
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{sign}{whole}{suffix}")
    } else {
        format!("{sign}{whole}.{frac}{suffix}")
    }
}

/// Cuts `text` to `max` characters, ending in an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The opening of an `<svg>` with its accessible name and description.
fn open_svg(out: &mut String, frame: &Frame, id: &str, height: f64, title: &str, desc: &str) {
    let id = escape(id);
    let width = frame.width;
    let _ = write!(
        out,
        r##"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" aria-labelledby="{id}-title {id}-desc" font-family="system-ui, sans-serif" font-size="12">"##
    );
    let _ = write!(
        out,
        r##"<title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"##,
        escape(title),
        escape(desc)
    );
}

/// The message of a chart with nothing to show, across the middle of its plot.
fn empty_message(out: &mut String, frame: &Frame, height: f64, message: &str) {
    let baseline = height - BOTTOM;
    let _ = write!(
        out,
        r##"<line class="chart-baseline" x1="{x1}" y1="{baseline}" x2="{x2}" y2="{baseline}" stroke="#cdd2dc"/><text class="chart-empty" x="{x}" y="{y:.1}" text-anchor="middle" fill="#7c8393" font-size="14">{}</text>"##,
        escape(message),
        x1 = frame.left,
        x2 = frame.width - frame.right,
        x = frame.width / 2.0,
        y = (TOP + baseline) / 2.0,
    );
}

/// Where each legend entry goes: `(x, row)`, rows wrapping at the frame's right edge. The wide
/// legend starts above the plot, the narrow one at the left edge, to have the whole width.
fn legend_layout(frame: &Frame, names: &[&str], wrap: bool) -> Vec<(f64, usize)> {
    let start = if wrap { 4.0 } else { frame.left };
    let (mut x, mut row) = (start, 0);
    let mut places = Vec::with_capacity(names.len());
    for name in names {
        // Wide enough for the swatch, the name at this font size, and a gap.
        let width = 17.0 + CHAR_WIDTH * name.chars().count() as f64 + 16.0;
        if wrap && x > start && x + width - 16.0 > frame.width - frame.right {
            x = start;
            row += 1;
        }
        places.push((x, row));
        x += width;
    }
    places
}

/// A column chart, drawn for a wide box; see [`columns_fit`].
pub fn columns(chart: &Columns<'_>) -> String {
    columns_fit(chart, Fit::Wide)
}

/// A column chart: one column per label, its series stacked. Ticks on the left axis are
/// rounded (see [`nice_scale`]); every column has a tooltip with its exact values.
pub fn columns_fit(chart: &Columns<'_>, fit: Fit) -> String {
    let frame = fit.frame();
    let id = fit.id(chart.id);
    let count = chart.labels.len();
    let series = &chart.series[..chart.series.len().min(FALLBACK_FILLS.len())];
    let stack = |i: usize| -> i64 {
        series
            .iter()
            .map(|s| s.values.get(i).copied().unwrap_or(0).max(0))
            .fold(0, i64::saturating_add)
    };
    let stacks: Vec<i64> = (0..count).map(stack).collect();
    let max = stacks.iter().copied().max().unwrap_or(0);

    let mut out = String::new();
    if max == 0 {
        open_svg(
            &mut out,
            &frame,
            &id,
            COLUMNS_HEIGHT,
            chart.title,
            chart.empty,
        );
        empty_message(&mut out, &frame, COLUMNS_HEIGHT, chart.empty);
        out.push_str("</svg>");
        return out;
    }

    // The legend, when there is more than one series; on a narrow drawing it may take rows.
    let names: Vec<&str> = series.iter().map(|s| s.name).collect();
    let legend = if series.len() > 1 {
        legend_layout(&frame, &names, frame.names_above)
    } else {
        Vec::new()
    };
    let legend_rows = legend.iter().map(|(_, row)| row + 1).max().unwrap_or(1);
    let top = TOP + LEGEND_ROW * (legend_rows - 1) as f64;
    let height = top + PLOT_HEIGHT + BOTTOM;

    let total = stacks.iter().copied().fold(0, i64::saturating_add);
    let busiest = stacks
        .iter()
        .enumerate()
        .max_by_key(|(i, v)| (**v, std::cmp::Reverse(*i)))
        .map_or(0, |(i, _)| i);
    let desc = format!(
        "{} in all from {} to {}; the most, {}, on {}.",
        (chart.value)(total),
        chart.labels.first().map_or("", String::as_str),
        chart.labels.last().map_or("", String::as_str),
        (chart.value)(max),
        chart.labels.get(busiest).map_or("", String::as_str),
    );
    open_svg(&mut out, &frame, &id, height, chart.title, &desc);

    let (left, right_edge) = (frame.left, frame.width - frame.right);
    let baseline = height - BOTTOM;
    let plot_width = right_edge - left;
    let scale = nice_scale(max, 4);
    let y_of = |v: i64| baseline - PLOT_HEIGHT * v as f64 / scale.top as f64;

    // Grid lines and tick labels.
    out.push_str(r##"<g class="chart-grid">"##);
    for tick in scale.ticks() {
        let y = y_of(tick);
        let class = if tick == 0 {
            "chart-baseline"
        } else {
            "chart-gridline"
        };
        let stroke = if tick == 0 { "#cdd2dc" } else { "#e2e5ec" };
        let _ = write!(
            out,
            r##"<line class="{class}" x1="{left}" y1="{y:.1}" x2="{right_edge}" y2="{y:.1}" stroke="{stroke}"/><text class="chart-tick" x="{tx}" y="{ty:.1}" text-anchor="end" fill="#5a6170">{label}</text>"##,
            tx = left - 8.0,
            ty = y + 4.0,
            label = escape(&(chart.tick)(tick)),
        );
    }
    out.push_str("</g>");

    if !legend.is_empty() {
        out.push_str(r##"<g class="chart-legend">"##);
        for (n, (s, (x, row))) in series.iter().zip(&legend).enumerate() {
            let y = 8.0 + LEGEND_ROW * *row as f64;
            let _ = write!(
                out,
                r##"<rect class="chart-s{k}" x="{x:.1}" y="{y:.1}" width="12" height="12" rx="2" fill="{fill}"/><text class="chart-legend-text" x="{tx:.1}" y="{ty:.1}" fill="#5a6170">{name}</text>"##,
                k = n + 1,
                fill = FALLBACK_FILLS[n],
                tx = x + 17.0,
                ty = y + 10.0,
                name = escape(s.name),
            );
        }
        out.push_str("</g>");
    }

    // The columns.
    let slot = plot_width / count as f64;
    let bar_width = (slot * 0.72).max(1.0);
    out.push_str(r##"<g class="chart-columns">"##);
    for (i, label) in chart.labels.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar_width) / 2.0;
        let mut tip = escape(label);
        for s in series {
            let v = s.values.get(i).copied().unwrap_or(0);
            let _ = write!(tip, "\n{}: {}", escape(s.name), escape(&(chart.value)(v)));
        }
        let _ = write!(out, r##"<g class="chart-column"><title>{tip}</title>"##);
        // A transparent strip over the whole slot makes the tooltip easy to reach.
        let _ = write!(
            out,
            r##"<rect class="chart-hit" x="{:.1}" y="{top}" width="{slot:.1}" height="{PLOT_HEIGHT:.1}" fill="transparent"/>"##,
            left + slot * i as f64,
        );
        let mut below: i64 = 0;
        for (n, s) in series.iter().enumerate() {
            let v = s.values.get(i).copied().unwrap_or(0).max(0);
            if v == 0 {
                continue;
            }
            let y_top = y_of(below.saturating_add(v));
            let y_bottom = y_of(below);
            // Keep the smallest non-zero amount visible.
            let height = (y_bottom - y_top).max(1.0);
            let _ = write!(
                out,
                r##"<rect class="chart-s{k}" x="{x:.1}" y="{y:.1}" width="{bar_width:.1}" height="{height:.1}" fill="{fill}"/>"##,
                k = n + 1,
                y = y_bottom - height,
                fill = FALLBACK_FILLS[n],
            );
            below = below.saturating_add(v);
        }
        out.push_str("</g>");
    }
    out.push_str("</g>");

    // Category labels: a few of them, always including the last one.
    let every = count.div_ceil(frame.day_labels).max(1);
    out.push_str(r##"<g class="chart-labels">"##);
    for (i, label) in chart.labels.iter().enumerate() {
        if !(count - 1 - i).is_multiple_of(every) {
            continue;
        }
        // The last label ends at the plot's edge rather than running past it.
        let (x, anchor) = if i + 1 == count && fit == Fit::Narrow {
            (right_edge, "end")
        } else {
            (left + slot * (i as f64 + 0.5), "middle")
        };
        let _ = write!(
            out,
            r##"<text class="chart-tick" x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" fill="#5a6170">{}</text>"##,
            escape(label),
            y = baseline + 18.0,
        );
    }
    out.push_str("</g></svg>");
    out
}

/// Horizontal bars, drawn for a wide box; see [`bars_fit`].
pub fn bars(id: &str, title: &str, items: &[Bar], empty: &str) -> String {
    bars_fit(id, title, items, empty, Fit::Wide)
}

/// Horizontal bars, longest first as given, each labelled with its name and its `text`.
/// Bars are scaled to the largest value; an empty list, or one of zeros, shows `empty`. On a
/// narrow drawing each name and value stand on a line of their own above the bar.
pub fn bars_fit(id: &str, title: &str, items: &[Bar], empty: &str, fit: Fit) -> String {
    let frame = fit.frame();
    let id = fit.id(id);
    let max = items.iter().map(|b| b.value).max().unwrap_or(0);
    let mut out = String::new();
    if max <= 0 {
        let height = 120.0;
        open_svg(&mut out, &frame, &id, height, title, empty);
        empty_message(&mut out, &frame, height, empty);
        out.push_str("</svg>");
        return out;
    }

    let row = if frame.names_above { 44.0 } else { BAR_ROW };
    let height = 12.0 + row * items.len() as f64;
    let desc = items
        .iter()
        .map(|b| format!("{}: {}", b.label, b.text))
        .collect::<Vec<_>>()
        .join("; ");
    open_svg(&mut out, &frame, &id, height, title, &desc);
    let (bar_x, area) = if frame.names_above {
        (4.0, frame.width - 8.0)
    } else {
        (
            BAR_LABEL_WIDTH,
            frame.width - BAR_LABEL_WIDTH - BAR_VALUE_WIDTH,
        )
    };
    let _ = write!(
        out,
        r##"<line class="chart-baseline" x1="{bar_x}" y1="2" x2="{bar_x}" y2="{y2:.1}" stroke="#cdd2dc"/>"##,
        y2 = height - 2.0,
    );
    for (i, bar) in items.iter().enumerate() {
        let y = 6.0 + row * i as f64;
        let width = if bar.value > 0 {
            (area * bar.value as f64 / max as f64).max(1.5)
        } else {
            0.0
        };
        let label = escape(&bar.label);
        let text = escape(&bar.text);
        let _ = write!(
            out,
            r##"<g class="chart-bar"><title>{label}: {text}</title>"##
        );
        let bar_y = if frame.names_above {
            // Name on the left of its line, value on the right; the name gives way.
            let value_width = CHAR_WIDTH * bar.text.chars().count() as f64;
            let room = ((frame.width - 8.0 - value_width - 12.0) / CHAR_WIDTH).max(8.0);
            let _ = write!(
                out,
                r##"<text class="chart-bar-label" x="{bar_x}" y="{ty:.1}" fill="#151821">{short}</text><text class="chart-tick" x="{vx}" y="{ty:.1}" text-anchor="end" fill="#5a6170">{text}</text>"##,
                ty = y + 12.0,
                short = escape(&shorten(&bar.label, room as usize)),
                vx = frame.width - 4.0,
            );
            y + 18.0
        } else {
            let _ = write!(
                out,
                r##"<text class="chart-bar-label" x="{lx}" y="{ty:.1}" text-anchor="end" fill="#151821">{short}</text>"##,
                lx = BAR_LABEL_WIDTH - 10.0,
                ty = y + BAR_HEIGHT / 2.0 + 5.0,
                short = escape(&shorten(&bar.label, BAR_LABEL_CHARS)),
            );
            y
        };
        if width > 0.0 {
            let _ = write!(
                out,
                r##"<rect class="chart-s1" x="{bar_x}" y="{bar_y:.1}" width="{width:.1}" height="{BAR_HEIGHT}" rx="2" fill="{fill}"/>"##,
                fill = FALLBACK_FILLS[0],
            );
        }
        if frame.names_above {
            out.push_str("</g>");
        } else {
            let _ = write!(
                out,
                r##"<text class="chart-tick" x="{vx:.1}" y="{ty:.1}" fill="#5a6170">{text}</text></g>"##,
                vx = BAR_LABEL_WIDTH + width + 8.0,
                ty = y + BAR_HEIGHT / 2.0 + 5.0,
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(v: i64) -> String {
        crate::money::Money::from_micros(v).display_in("USD")
    }

    fn labels(n: usize) -> Vec<String> {
        (1..=n).map(|d| format!("Nov {d}")).collect()
    }

    /// Every `<tag …>` opened is closed, in order: the markup is well formed.
    fn assert_well_formed(svg: &str) {
        let mut open: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').expect("tag ends") + start;
            let tag = &rest[start + 1..end];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop().as_deref(), Some(name), "closing {name} in {svg}");
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().unwrap_or_default();
                open.push(name.to_owned());
            }
            rest = &rest[end + 1..];
        }
        assert!(open.is_empty(), "unclosed {open:?}");
        assert!(!svg.contains("style="), "no inline styles");
    }

    #[test]
    fn scales_round_to_one_two_or_five() {
        assert_eq!(nice_scale(37, 4), Scale { step: 10, top: 40 });
        assert_eq!(nice_scale(100, 4), Scale { step: 50, top: 100 });
        assert_eq!(nice_scale(1, 4), Scale { step: 1, top: 1 });
        assert_eq!(nice_scale(7, 4), Scale { step: 2, top: 8 });
        assert_eq!(nice_scale(0, 4), Scale { step: 1, top: 1 });
        assert_eq!(
            nice_scale(1_234_567, 4),
            Scale {
                step: 500_000,
                top: 1_500_000
            }
        );
        // No overflow at the far end.
        let far = nice_scale(i64::MAX, 4);
        assert_eq!(far.step, 5_000_000_000_000_000_000);
        assert_eq!(far.ticks().count(), 2);
        let ticks: Vec<i64> = nice_scale(37, 4).ticks().collect();
        assert_eq!(ticks, [0, 10, 20, 30, 40]);
        for max in [1, 3, 9, 11, 99, 101, 999_999, 12_345_678] {
            let scale = nice_scale(max, 4);
            assert!(
                scale.top >= max && scale.top / scale.step <= 4,
                "{max}: {scale:?}"
            );
        }
    }

    #[test]
    fn numbers_read_compactly_and_in_full() {
        assert_eq!(compact_count(0), "0");
        assert_eq!(compact_count(950), "950");
        assert_eq!(compact_count(12_000), "12k");
        assert_eq!(compact_count(1_500_000), "1.5M");
        assert_eq!(compact_count(2_250_000_000), "2.25B");
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1_234_567), "1,234,567");
        assert_eq!(group_digits(-1_000), "-1,000");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape(r##"<a href="x">&'</a>"##),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("a\u{0}b"), "a\u{fffd}b");
        let hostile = "<script>alert(1)</script>";
        let svg = bars(
            "m",
            hostile,
            &[Bar {
                label: hostile.to_owned(),
                value: 3,
                text: hostile.to_owned(),
            }],
            "none",
        );
        assert!(!svg.contains("<script"), "{svg}");
        assert_well_formed(&svg);
    }

    #[test]
    fn columns_stack_series_with_rounded_ticks_and_tooltips() {
        let days = labels(30);
        let input: Vec<i64> = (0..30).map(|i| i * 10).collect();
        let output: Vec<i64> = (0..30).map(|i| i * 5).collect();
        let svg = columns(&Columns {
            id: "tokens",
            title: "Tokens per day",
            labels: &days,
            series: &[
                Series {
                    name: "Input",
                    values: &input,
                },
                Series {
                    name: "Output",
                    values: &output,
                },
            ],
            tick: &compact_count,
            value: &group_digits,
            empty: "No tokens",
        });
        assert_well_formed(&svg);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains(r##"aria-labelledby="tokens-title tokens-desc""##));
        assert!(svg.contains(r##"<title id="tokens-title">Tokens per day</title>"##));
        // The highest stack is 29 * 15 = 435: ticks every 200 up to 600.
        for tick in [">0<", ">200<", ">400<", ">600<"] {
            assert!(svg.contains(tick), "tick {tick} in {svg}");
        }
        assert!(svg.contains("<title>Nov 30\nInput: 290\nOutput: 145</title>"));
        assert!(svg.contains("6,525 in all from Nov 1 to Nov 30; the most, 435, on Nov 30."));
        // One rect per non-zero value plus one hit area per column (day 1 is all zero).
        assert_eq!(svg.matches("class=\"chart-s1\"").count(), 29 + 1);
        assert_eq!(svg.matches("class=\"chart-s2\"").count(), 29 + 1);
        assert_eq!(svg.matches("class=\"chart-hit\"").count(), 30);
        assert!(!svg.contains("No tokens"));
    }

    #[test]
    fn one_day_of_data_draws_one_column_among_empty_days() {
        let days = labels(30);
        let mut cost = vec![0; 30];
        cost[29] = 37;
        let svg = columns(&Columns {
            id: "cost",
            title: "Cost per day",
            labels: &days,
            series: &[Series {
                name: "Cost",
                values: &cost,
            }],
            tick: &money,
            value: &money,
            empty: "No spend",
        });
        assert_well_formed(&svg);
        // One series: no legend, one drawn column, ticks in money.
        assert!(!svg.contains("chart-legend"));
        assert_eq!(svg.matches(r##"<rect class="chart-s1""##).count(), 1);
        assert!(
            svg.contains(">$0.00<") && svg.contains(">$0.00004<"),
            "{svg}"
        );
        assert!(svg.contains("<title>Nov 30\nCost: $0.000037</title>"));
        // The column reaches 37/40 of the plot's height.
        let plot = COLUMNS_HEIGHT - BOTTOM - TOP;
        let height = format!("height=\"{:.1}\"", plot * 37.0 / 40.0);
        assert!(svg.contains(&height), "{height} in {svg}");
    }

    #[test]
    fn a_chart_without_data_says_so() {
        let days = labels(30);
        let zeros = vec![0; 30];
        let svg = columns(&Columns {
            id: "cost",
            title: "Cost per day",
            labels: &days,
            series: &[Series {
                name: "Cost",
                values: &zeros,
            }],
            tick: &money,
            value: &money,
            empty: "No requests in the last 30 days",
        });
        assert_well_formed(&svg);
        assert!(svg.contains("chart-empty"));
        assert!(svg.contains(r##"<desc id="cost-desc">No requests in the last 30 days</desc>"##));
        assert!(!svg.contains("chart-column"));

        let none = columns(&Columns {
            id: "x",
            title: "Nothing",
            labels: &[],
            series: &[],
            tick: &money,
            value: &money,
            empty: "Nothing yet",
        });
        assert_well_formed(&none);
        assert!(none.contains("Nothing yet"));

        let svg = bars("models", "By model", &[], "No requests in this period");
        assert_well_formed(&svg);
        assert!(svg.contains("No requests in this period"));
    }

    #[test]
    fn bars_scale_to_the_largest_and_shorten_long_names() {
        let long = "a-model-name-that-goes-on-and-on-and-on";
        let svg = bars(
            "models",
            "Cost by model",
            &[
                Bar {
                    label: "big".to_owned(),
                    value: 200,
                    text: "$0.0002".to_owned(),
                },
                Bar {
                    label: long.to_owned(),
                    value: 50,
                    text: "$0.00005".to_owned(),
                },
                Bar {
                    label: "free".to_owned(),
                    value: 0,
                    text: "$0.00".to_owned(),
                },
            ],
            "none",
        );
        assert_well_formed(&svg);
        let area = WIDTH - BAR_LABEL_WIDTH - BAR_VALUE_WIDTH;
        assert!(svg.contains(&format!("width=\"{area:.1}\"")));
        assert!(svg.contains(&format!("width=\"{:.1}\"", area / 4.0)));
        assert!(svg.contains(">a-model-name-that-goes-on…<"), "{svg}");
        assert!(svg.contains(&format!("<title>{long}: $0.00005</title>")));
        assert!(svg.contains("big: $0.0002; "));
        assert_eq!(svg.matches("class=\"chart-bar\"").count(), 3);
        assert_eq!(svg.matches("<rect").count(), 2, "no bar for a zero");
    }

    /// The `x` of every `<rect …>` and `<text …>` whose class is `class`.
    fn xs(svg: &str, class: &str) -> Vec<f64> {
        svg.split(&format!("class=\"{class}\" x=\""))
            .skip(1)
            .filter_map(|rest| rest.split('"').next()?.parse().ok())
            .collect()
    }

    #[test]
    fn a_narrow_drawing_keeps_its_legend_labels_and_names_inside() {
        let days = labels(30);
        let values: Vec<i64> = (0..30).map(|i| i * 1000).collect();
        let chart = Columns {
            id: "tokens",
            title: "Tokens per day",
            labels: &days,
            series: &[
                Series {
                    name: "Uncached input tokens",
                    values: &values,
                },
                Series {
                    name: "Cached input tokens",
                    values: &values,
                },
                Series {
                    name: "Output tokens",
                    values: &values,
                },
            ],
            tick: &compact_count,
            value: &group_digits,
            empty: "none",
        };
        let narrow = columns_fit(&chart, Fit::Narrow);
        assert_well_formed(&narrow);
        assert!(narrow.contains(r##"viewBox="0 0 360 "##));
        assert!(
            narrow.contains(r##"<title id="tokens-narrow-title">"##),
            "ids of its own"
        );
        // The legend wraps rather than running past the right edge.
        let width = Fit::Narrow.frame().width;
        for (x, name) in xs(&narrow, "chart-legend-text").into_iter().zip([
            "Uncached input",
            "Cached input",
            "Output",
        ]) {
            assert!(x + CHAR_WIDTH * name.len() as f64 <= width, "{name} at {x}");
        }
        assert!(
            narrow.contains(r##"y="26.0" width="12""##),
            "a second legend row"
        );
        // Three ticks (0, 50k, 100k) and four day labels, the last one ending at the plot's edge.
        assert_eq!(
            narrow.matches(r##"<text class="chart-tick" x="##).count(),
            3 + 4
        );
        assert!(narrow.contains(r##"text-anchor="end" fill="#5a6170">Nov 30<"##));

        let long = "claude-sonnet-house-edition-with-a-long-name";
        let bars = bars_fit(
            "models",
            "Cost by model",
            &[Bar {
                label: long.to_owned(),
                value: 5,
                text: "$0.0026 · 1.2k tokens".to_owned(),
            }],
            "none",
            Fit::Narrow,
        );
        assert_well_formed(&bars);
        // The name stands above its bar, shortened only as far as the value beside it needs.
        let label_x = xs(&bars, "chart-bar-label");
        assert_eq!(label_x, [4.0]);
        assert!(bars.contains(">claude-sonnet-house-edition-w…<"), "{bars}");
        assert!(bars.contains(&format!("<title>{long}: $0.0026 · 1.2k tokens</title>")));

        let both = fitted(|fit| columns_fit(&chart, fit));
        assert!(both.starts_with(r#"<div class="chart-fit-wide"><svg"#));
        assert!(both.contains(r#"</svg></div><div class="chart-fit-narrow"><svg"#));
    }
}
