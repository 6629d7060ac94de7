//! Bench-side helper: draws throughput against RPCs in flight as SVG (the
//! `svg` crate), one line per kind of call and side.

use std::path::PathBuf;

use svg::Document;
use svg::node::element::{Circle, Line, Polyline, Text};

/// One line of the chart: a group's function at every level.
pub struct Series {
    pub group: &'static str,
    pub function: &'static str,
    /// RPCs per second at each level, where measured.
    pub points: Vec<Option<f64>>,
}

/// Where criterion keeps its results (as criterion finds it, short of
/// asking `cargo metadata`): the chart goes beside them.
pub fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion")
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

fn text(content: impl Into<String>, x: f64, y: f64, size: u32, anchor: &str) -> Text {
    Text::new(content.into())
        .set("x", x)
        .set("y", y)
        .set("font-size", size)
        .set("font-family", "sans-serif")
        .set("text-anchor", anchor)
        .set("fill", "#1f2937")
}

/// A round upper bound for the y axis and its tick step.
fn axis(max: f64) -> (f64, f64) {
    let magnitude = 10f64.powf(max.max(1.0).log10().floor());
    for step in [0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0] {
        let step = step * magnitude;
        if max / step <= 8.0 {
            return ((max / step).ceil() * step, step);
        }
    }
    (max, max / 4.0)
}

/// Draws the chart; returns where it was written (None if there is nothing
/// to draw or it could not be written).
pub fn write(series: &[Series], levels: &[usize]) -> Option<PathBuf> {
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().flatten())
        .copied()
        .fold(0.0_f64, f64::max);
    if max <= 0.0 {
        return None;
    }
    let (top, step) = axis(max);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let first = (levels[0] as f64).log2();
    let last = (levels[levels.len() - 1] as f64).log2();
    let x_of = |level: usize| LEFT + ((level as f64).log2() - first) / (last - first) * plot_w;
    let y_of = |value: f64| TOP + plot_h - value / top * plot_h;

    let mut document = Document::new()
        .set("viewBox", (0.0, 0.0, WIDTH, HEIGHT))
        .set("width", WIDTH)
        .set("height", HEIGHT)
        .add(
            svg::node::element::Rectangle::new()
                .set("width", WIDTH)
                .set("height", HEIGHT)
                .set("fill", "white"),
        )
        .add(text(
            "Throughput against RPCs in flight (one channel, reference server, 2-core machine)",
            WIDTH / 2.0,
            22.0,
            14,
            "middle",
        ));
    // Grid and y ticks.
    let mut tick = 0.0;
    while tick <= top + step / 2.0 {
        let y = y_of(tick);
        document = document
            .add(
                Line::new()
                    .set("x1", LEFT)
                    .set("x2", LEFT + plot_w)
                    .set("y1", y)
                    .set("y2", y)
                    .set("stroke", "#e5e7eb"),
            )
            .add(text(format!("{tick:.0}"), LEFT - 8.0, y + 4.0, 11, "end"));
        tick += step;
    }
    for &level in levels {
        let x = x_of(level);
        document = document
            .add(
                Line::new()
                    .set("x1", x)
                    .set("x2", x)
                    .set("y1", TOP)
                    .set("y2", TOP + plot_h)
                    .set("stroke", "#e5e7eb"),
            )
            .add(text(
                level.to_string(),
                x,
                TOP + plot_h + 18.0,
                11,
                "middle",
            ));
    }
    document = document
        .add(text(
            "RPCs in flight (log scale)",
            LEFT + plot_w / 2.0,
            HEIGHT - 18.0,
            12,
            "middle",
        ))
        .add(text("RPCs per second", 0.0, 0.0, 12, "middle").set(
            "transform",
            format!("translate(18 {}) rotate(-90)", TOP + plot_h / 2.0),
        ))
        .add(
            Line::new()
                .set("x1", LEFT)
                .set("x2", LEFT)
                .set("y1", TOP)
                .set("y2", TOP + plot_h)
                .set("stroke", "#374151"),
        )
        .add(
            Line::new()
                .set("x1", LEFT)
                .set("x2", LEFT + plot_w)
                .set("y1", TOP + plot_h)
                .set("y2", TOP + plot_h)
                .set("stroke", "#374151"),
        );
    for (index, line) in series.iter().enumerate() {
        let colour = if line.group == "unary" {
            "#2563eb"
        } else {
            "#ea580c"
        };
        let dashed = line.function != "harness";
        let points: Vec<(f64, f64)> = levels
            .iter()
            .zip(&line.points)
            .filter_map(|(&level, value)| value.map(|v| (x_of(level), y_of(v))))
            .collect();
        if points.is_empty() {
            continue;
        }
        let path = points
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut polyline = Polyline::new()
            .set("points", path)
            .set("fill", "none")
            .set("stroke", colour)
            .set("stroke-width", 2);
        if dashed {
            polyline = polyline.set("stroke-dasharray", "6 4");
        }
        document = document.add(polyline);
        for (x, y) in &points {
            document = document.add(
                Circle::new()
                    .set("cx", *x)
                    .set("cy", *y)
                    .set("r", 3.5)
                    .set("fill", if dashed { "white" } else { colour })
                    .set("stroke", colour)
                    .set("stroke-width", 1.5),
            );
        }
        // Legend.
        let ly = TOP + 10.0 + index as f64 * 22.0;
        let lx = LEFT + plot_w + 20.0;
        let mut sample = Line::new()
            .set("x1", lx)
            .set("x2", lx + 28.0)
            .set("y1", ly)
            .set("y2", ly)
            .set("stroke", colour)
            .set("stroke-width", 2);
        if dashed {
            sample = sample.set("stroke-dasharray", "6 4");
        }
        document = document.add(sample).add(text(
            format!("{} {}", line.group, line.function),
            lx + 36.0,
            ly + 4.0,
            12,
            "start",
        ));
    }
    let note_y = TOP + 10.0 + series.len() as f64 * 22.0 + 8.0;
    for (line, note) in [
        "streaming: one RPC is a",
        "StreamingOutputCall of 8",
        "messages; dashed: plain tonic",
    ]
    .iter()
    .enumerate()
    {
        document = document.add(text(
            *note,
            LEFT + plot_w + 20.0,
            note_y + line as f64 * 13.0,
            10,
            "start",
        ));
    }

    let path = std::env::var_os("GRPC_BENCH_CHART")
        .map(PathBuf::from)
        .unwrap_or_else(|| criterion_dir().join("throughput.svg"));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).ok()?;
    }
    std::fs::write(&path, document.to_string()).ok()?;
    Some(path)
}
