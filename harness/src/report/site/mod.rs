//! The published compatibility site, built from JSON reports: `index.html`
//! (one self-contained page), `matrix.json` (the machine-readable matrix
//! it is rendered from), a badge per target, and each target's published
//! report (`<target>/report.{json,html}`) that the cells link to.

mod assets;
pub mod badge;
mod build;
pub mod cells;
pub mod changes;
mod counts;
pub mod links;
pub mod model;
pub mod page;
pub mod summary;

use std::path::{Path, PathBuf};

pub use build::build;
pub use model::{Matrix, NotRun};

use super::{Report, ReportFiles, write_atomic};

/// Where the previous matrix is kept for "changed since".
pub const PREVIOUS: &str = "matrix.previous.json";

/// Writes the site into `out`: each report's published copy, the badges,
/// `matrix.json` and `index.html`. Returns the paths written.
pub fn write(out: &Path, reports: &[Report], matrix: &Matrix) -> Result<Vec<PathBuf>, String> {
    let mut written = Vec::new();
    let fail = |path: &Path, err: std::io::Error| format!("cannot write {}: {err}", path.display());
    for (report, target) in reports.iter().zip(&matrix.targets) {
        let files = ReportFiles::new(out.join(&target.folder));
        files
            .write_published(report)
            .map_err(|err| fail(&files.dir, err))?;
        written.push(files.dir.clone());
        let badge = out.join("badges").join(format!("{}.svg", target.folder));
        write_atomic(&badge, badge::render(target).as_bytes()).map_err(|err| fail(&badge, err))?;
    }
    let json = out.join("matrix.json");
    // Compact: the page and tools read it, and reports/ must stay small.
    let text = serde_json::to_string(matrix).map_err(|err| format!("matrix.json: {err}"))?;
    write_atomic(&json, (text + "\n").as_bytes()).map_err(|err| fail(&json, err))?;
    let index = out.join("index.html");
    write_atomic(&index, page::render(matrix).as_bytes()).map_err(|err| fail(&index, err))?;
    written.extend([json, index]);
    Ok(written)
}

/// The matrix of `reports` with what changed since `previous`, if any.
pub fn with_previous(reports: &[Report], title: &str, previous: Option<&Matrix>) -> Matrix {
    let mut matrix = build(reports, title);
    matrix.since = previous.map(|previous| changes::since(previous, &matrix));
    matrix
}
