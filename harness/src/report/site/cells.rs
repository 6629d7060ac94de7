//! The matrix itself: scenarios grouped by promise, one column per target,
//! each cell its verdict, linked to that scenario's entry (evidence,
//! figures, reproduction command) in the target's report, with the reason
//! shown on hover and on keyboard focus.

use maud::{Markup, html};

use super::changes::Change;
use super::links;
use super::model::{Cell, Matrix, Scenario, Target, guarantee};

fn cell(
    matrix: &Matrix,
    column: usize,
    row: usize,
    target: &Target,
    scenario: &Scenario,
) -> Markup {
    let Some(cell) = target.cells.get(&scenario.id) else {
        return html! { td { "—" } };
    };
    let change: Option<&Change> = matrix
        .since
        .as_ref()
        .and_then(|since| since.of(&target.name, &scenario.id));
    // A tip only where there is something to say: a pass's entry is one
    // click away, and 360 tips would weigh the page down.
    let tip = (cell.reason.is_some() || change.is_some()).then(|| format!("tip-{column}-{row}"));
    let class = match change {
        Some(_) => format!("{} changed", cell.verdict.as_str()),
        None => cell.verdict.as_str().to_owned(),
    };
    html! {
        td class=(class) {
            a href=(links::entry(&target.folder, cell.anchor(&scenario.id))) aria-describedby=[tip.as_deref()] {
                @if change.is_some() { "Δ " }
                (cell.label())
            }
            @if let Some(tip) = &tip {
                span.tip id=(tip) role="tooltip" { (tip_text(target, scenario, cell, change)) }
            }
        }
    }
}

fn tip_text(target: &Target, scenario: &Scenario, cell: &Cell, change: Option<&Change>) -> String {
    let mut text = format!("{} on {}: {}", scenario.id, target.label(), cell.label());
    if let Some(change) = change {
        let before = change.before.as_deref().unwrap_or("not run");
        text.push_str(&format!(" (was {before})"));
    }
    if let Some(reason) = &cell.reason {
        text.push_str(". ");
        text.push_str(reason);
    }
    text
}

/// The matrix table, `#matrix`.
pub fn render(matrix: &Matrix) -> Markup {
    let columns = matrix.targets.len() + 1;
    html! {
        div.scroll { table #matrix {
            thead { tr {
                th { "scenario" }
                @for target in &matrix.targets {
                    th { a href=(links::report(&target.folder)) { (target.label()) } }
                }
            } }
            @for name in matrix.areas() {
                @let name = name.as_str();
                tbody data-area=(name) {
                    tr.group { th colspan=(columns) { span { (name) ": " span.small { (guarantee(name)) } } } }
                    @for (row, scenario) in matrix.scenarios.iter().enumerate().filter(|(_, s)| s.area == name) {
                        @let broken = matrix.targets.iter().any(|target| {
                            target.cells.get(&scenario.id).is_some_and(|cell| !cell.kept())
                        });
                        tr data-id=(scenario.id) data-area=(name) data-broken=[broken.then_some("")] {
                            th scope="row" title=(scenario.title) { code { (scenario.id) } }
                            @for (column, target) in matrix.targets.iter().enumerate() {
                                (cell(matrix, column, row, target, scenario))
                            }
                        }
                    }
                }
            }
        } }
    }
}
