//! The two summaries at the top of the site: one row per implementation
//! (version, threading model, results per promise) and one row per promise
//! across implementations.

use maud::{Markup, html};

use super::links;
use super::model::{Counts, Matrix, Role, Target, guarantee};

/// "11/12" (passes of the scenarios that applied), with what did not pass.
fn counts(counts: &Counts) -> Markup {
    html! {
        (counts.pass) "/" (counts.total() - counts.skip)
        @if counts.fail > 0 { " " span.fail { (counts.fail) " fail" } }
        @if counts.error > 0 { " " span.error { (counts.error) " error" } }
        @if counts.skip > 0 { " " span.skip { (counts.skip) " skip" } }
    }
}

fn implementation_row(areas: &[String], index: usize, target: &Target) -> Markup {
    html! {
        tr data-target=(target.name) data-t=(index) {
            th scope="row" {
                a href=(links::report(&target.folder)) { (target.name) }
                br;
                img src=(links::badge(&target.folder)) alt={ "badge: " (super::badge::message(target)) } height="20";
            }
            td { (target.version) @if !target.complete { br; b { "incomplete run" } } }
            td { (target.threading) br; span.small { (target.description) } }
            @for area in areas {
                td data-area=(area) {
                    (counts(&target.areas.get(area).copied().unwrap_or_default()))
                }
            }
            td.pass data-count="pass" { (target.totals.pass) }
            td.fail data-count="fail" { (target.totals.fail) }
            td.skip data-count="skip" { (target.totals.skip) }
            td.error data-count="error" { (target.totals.error) }
        }
    }
}

/// One table per role present (servers first), one row per target.
pub fn implementations(matrix: &Matrix) -> Markup {
    let roles = [(Role::Server, "Servers"), (Role::Client, "Clients")];
    let areas = matrix.areas();
    html! {
        @for (role, heading) in roles {
            @if matrix.targets.iter().any(|target| target.role == role) {
                h2 id={ "implementations-" (heading.to_lowercase()) } { (heading) ": one row per implementation" }
                div.scroll { table.implementations {
                    thead { tr {
                        th { "implementation" } th { "version" } th { "threading / transport" }
                        @for area in &areas { th { (area) } }
                        th { "pass" } th { "fail" } th { "skip" } th { "error" }
                    } }
                    tbody {
                        @for (index, target) in matrix.targets.iter().enumerate() {
                            @if target.role == role { (implementation_row(&areas, index, target)) }
                        }
                    }
                } }
            }
        }
    }
}

/// One row per promise: how many implementations keep it (no failure or
/// error in its scenarios) and its cells by verdict.
pub fn promises(matrix: &Matrix) -> Markup {
    html! {
        h2 id="promises" { "Per promise, across implementations" }
        div.scroll { table.promises {
            thead { tr {
                th { "promise" } th { "scenarios" } th { "kept by" } th { "broken by" }
                th { "pass" } th { "fail" } th { "skip" } th { "error" }
            } }
            tbody {
                @for name in matrix.areas() {
                    @let name = name.as_str();
                    @let cells = promise_counts(matrix, name);
                    @let broken: Vec<&str> = matrix.targets.iter()
                        .filter(|target| target.areas.get(name).is_some_and(|c| !c.kept()))
                        .map(|target| target.name.as_str()).collect();
                    tr data-promise=(name) {
                        th scope="row" { (name) br; span.small { (guarantee(name)) } }
                        td { (matrix.scenarios.iter().filter(|s| s.area == name).count()) }
                        td data-count="kept" { (matrix.targets.len() - broken.len()) " of " (matrix.targets.len()) }
                        td { (broken.join(", ")) }
                        td.pass { (cells.pass) } td.fail { (cells.fail) }
                        td.skip { (cells.skip) } td.error { (cells.error) }
                    }
                }
            }
        } }
    }
}

fn promise_counts(matrix: &Matrix, area: &str) -> Counts {
    let mut total = Counts::default();
    for counts in matrix.targets.iter().filter_map(|t| t.areas.get(area)) {
        total.pass += counts.pass;
        total.fail += counts.fail;
        total.skip += counts.skip;
        total.error += counts.error;
    }
    total
}
