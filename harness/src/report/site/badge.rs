//! The status badge of one target (SVG, as projects put in a README):
//! "gRPC concurrency | 31/33 pass", green when nothing failed, amber when
//! every failure is a known one, red otherwise.

use maud::{Markup, html};

use super::model::Target;
use crate::expectations::Outcome;

const LABEL: &str = "gRPC concurrency";

/// Approximate width of `text` in 11 px Verdana, as badges are set.
fn width(text: &str) -> usize {
    text.chars().count() * 7 + 10
}

fn colour(target: &Target) -> &'static str {
    let unexpected = target
        .cells
        .values()
        .any(|cell| cell.outcome == Outcome::UnexpectedFailure);
    if target.totals.kept() {
        "#2e7d32"
    } else if unexpected {
        "#c62828"
    } else {
        "#b26a00"
    }
}

/// The badge's message: passes of the scenarios that applied (skips aside).
pub fn message(target: &Target) -> String {
    let t = &target.totals;
    format!("{}/{} pass", t.pass, t.total() - t.skip)
}

/// Renders `target`'s badge as a standalone SVG document.
pub fn render(target: &Target) -> String {
    let message = message(target);
    let (left, right) = (width(LABEL), width(&message));
    let total = left + right;
    let svg: Markup = html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(total) height="20" role="img"
            aria-label={ (LABEL) ": " (target.name) " " (message) } {
            title { (LABEL) ": " (target.name) " " (message) }
            rect width=(left) height="20" fill="#555" {}
            rect x=(left) width=(right) height="20" fill=(colour(target)) {}
            g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" text-anchor="middle" {
                text x=(left / 2) y="14" { (LABEL) }
                text x=(left + right / 2) y="14" { (message) }
            }
        }
    };
    svg.into_string() + "\n"
}
