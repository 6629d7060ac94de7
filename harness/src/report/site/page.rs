//! The site's one page, `index.html`: header, what changed since the
//! previous matrix, the summaries, the filters and the matrix. Every text
//! from a report goes through maud, which escapes it.

use maud::{Markup, html};

use super::model::Matrix;
use super::{assets, cells, links, summary};

/// The link to a cell's entry in its target's report.
fn entry(matrix: &Matrix, target: &str, id: &str) -> Option<String> {
    let target = matrix.targets.iter().find(|t| t.name == target)?;
    let cell = target.cells.get(id)?;
    Some(links::entry(&target.folder, cell.anchor(id)))
}

fn changes(matrix: &Matrix) -> Markup {
    let Some(since) = &matrix.since else {
        return html! {};
    };
    html! {
        section #changes {
            h2 { "Changed since " (since.previous) }
            @if since.changes.is_empty() {
                p { "No verdict changed." }
            } @else {
                p { (since.changes.len()) " cell(s) changed verdict (marked Δ in the matrix):" }
                ul {
                    @for change in &since.changes {
                        li {
                            b { (change.target) } " "
                            @match entry(matrix, &change.target, &change.id) {
                                Some(link) => a href=(link) { code { (change.id) } },
                                None => code { (change.id) },
                            }
                            ": " (change.before.as_deref().unwrap_or("not run")) " → " (change.after)
                        }
                    }
                }
            }
            @if !since.new_targets.is_empty() {
                p { "New implementations: " (since.new_targets.join(", ")) }
            }
        }
    }
}

fn filters(matrix: &Matrix) -> Markup {
    html! {
        form #filters hidden aria-controls="matrix" {
            label { "Promise"
                select name="area" {
                    option value="" { "all promises" }
                    @for area in matrix.areas() { option value=(area) { (area) } }
                }
            }
            label { "Implementation"
                select name="impl" {
                    option value="" { "all implementations" }
                    @for (index, target) in matrix.targets.iter().enumerate() {
                        option value=(index) { (target.label()) }
                    }
                }
            }
            label { "Scenario id" input name="q" type="search" placeholder="e.g. rendezvous"; }
            label.check { input name="broken" type="checkbox"; "only scenarios some implementation failed" }
            output #shown aria-live="polite" {}
        }
    }
}

fn not_run(matrix: &Matrix) -> Markup {
    html! {
        @if !matrix.not_run.is_empty() {
            h2 { "Not run" }
            ul { @for entry in &matrix.not_run { li { b { (entry.name) } ": " (entry.why) } } }
        }
    }
}

/// Renders the whole page.
pub fn render(matrix: &Matrix) -> String {
    let body = html! {
        p {
            "Published " (matrix.published) ": " (matrix.targets.len()) " implementation(s), "
            (matrix.scenarios.len()) " scenario(s). Each cell links to the scenario's entry "
            "in that implementation's report (reason, evidence, figures, reproduction command). "
            "Data: " a href="matrix.json" { "matrix.json" } " (" (matrix.schema) ")."
        }
        (changes(matrix))
        (summary::implementations(matrix))
        (summary::promises(matrix))
        (not_run(matrix))
        h2 #scenarios { "Scenarios by promise" }
        (filters(matrix))
        (cells::render(matrix))
    };
    crate::report::layout::document(&matrix.title, assets::STYLE, body, assets::SCRIPT)
}
