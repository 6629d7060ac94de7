//! The timeline picture: one bar per RPC, from start to end, with a mark at
//! the first message. Parallel RPCs show as overlapping bars, serialised ones
//! as a staircase.

use svg::Document;
use svg::node::element::{Group, Rectangle, Text, Title};

use crate::timeline::Span;

const WIDTH: f64 = 760.0;
const LEFT: f64 = 10.0;
const BAR: f64 = 6.0;
const GAP: f64 = 2.0;
/// Bars drawn at most; the rest are summarised in the caption.
const MAX_BARS: usize = 300;

/// Renders `spans` as an SVG picture (empty string for no spans).
/// `value` rounded to a tenth.
fn tenths(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

pub fn render(spans: &[Span]) -> String {
    if spans.is_empty() {
        return String::new();
    }
    // Rows in order of first message (start when none): serialised RPCs
    // then draw a clean staircase.
    let mut ordered: Vec<&Span> = spans.iter().collect();
    ordered.sort_by_key(|span| span.first_message_us.unwrap_or(span.start_us));
    let shown = &ordered[..ordered.len().min(MAX_BARS)];
    let end = spans
        .iter()
        .map(|span| span.end_us.unwrap_or(span.start_us).max(span.start_us))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let scale = (WIDTH - 2.0 * LEFT) / end;
    let height = shown.len() as f64 * (BAR + GAP) + 30.0;
    let mut document = Document::new()
        .set("viewBox", (0.0, 0.0, WIDTH, tenths(height)))
        .set("width", WIDTH)
        .set("height", tenths(height))
        .set("class", "timeline");
    for (row, span) in shown.iter().enumerate() {
        let y = row as f64 * (BAR + GAP) + 4.0;
        let x = LEFT + span.start_us as f64 * scale;
        let finish = span.end_us.unwrap_or(end as u64) as f64;
        let width = ((finish - span.start_us as f64) * scale).max(1.5);
        let colour = match (span.ok, span.end_us) {
            (true, _) => "#3b82f6",
            (false, Some(_)) => "#ef4444",
            (false, None) => "#9ca3af",
        };
        let tooltip = format!(
            "{}: start {:.1} ms{}{}",
            span.label,
            span.start_us as f64 / 1000.0,
            span.first_message_us
                .map(|us| format!(", first message {:.1} ms", us as f64 / 1000.0))
                .unwrap_or_default(),
            span.end_us
                .map(|us| format!(", end {:.1} ms", us as f64 / 1000.0))
                .unwrap_or_else(|| ", did not end".to_owned()),
        );
        // Waiting for the first message: a pale bar; active (first message
        // to end): a solid one. Parallel RPCs overlap, serialised ones make
        // a staircase of solid segments.
        let active_from = span
            .first_message_us
            .map_or(x, |first| LEFT + first as f64 * scale);
        // One group per RPC: its tooltip once, its bars in tenths of a
        // pixel (finer digits only weigh the page down).
        let mut group = Group::new().set("fill", colour).add(Title::new(tooltip));
        if active_from > x {
            group = group.add(
                Rectangle::new()
                    .set("x", tenths(x))
                    .set("y", tenths(y))
                    .set("width", tenths((active_from - x).max(0.5)))
                    .set("height", BAR)
                    .set("fill-opacity", 0.25),
            );
        }
        let solid = (x + width - active_from).max(1.5);
        document = document.add(
            group.add(
                Rectangle::new()
                    .set("x", tenths(active_from))
                    .set("y", tenths(y))
                    .set("width", tenths(solid))
                    .set("height", BAR),
            ),
        );
    }
    let caption = format!(
        "{} RPC(s){} over {:.1} ms; pale = started, waiting for the first message; solid = first message to end; red = failed, grey = did not end",
        spans.len(),
        if spans.len() > MAX_BARS {
            format!(" (first {MAX_BARS} drawn)")
        } else {
            String::new()
        },
        end / 1000.0
    );
    document = document.add(
        Text::new(caption)
            .set("x", LEFT)
            .set("y", height - 8.0)
            .set("font-size", 11)
            .set("font-family", "sans-serif")
            .set("fill", "#374151"),
    );
    document.to_string()
}
