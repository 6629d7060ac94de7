//! Publishing the site, shared by `matrix` (after a run) and `report merge`
//! (from reports already written): the published copy of each report,
//! `matrix.json`, `index.html`, the badges and the Markdown `README.md`.

use std::path::{Path, PathBuf};

use crate::report::site::{self, Matrix, NotRun};
use crate::report::{Report, matrix, write_atomic};

/// What to publish and where.
pub struct Publication<'a> {
    pub out: &'a Path,
    pub reports: &'a [Report],
    pub title: &'a str,
    /// The previous matrix for "changed since"; `None` reads
    /// `<out>/matrix.previous.json` if there is one.
    pub previous: Option<&'a Path>,
    /// A new publication: the current `<out>/matrix.json` becomes the
    /// previous one before it is replaced.
    pub rotate: bool,
    pub not_run: &'a [(String, String)],
}

fn previous(publication: &Publication) -> Result<Option<Matrix>, String> {
    let kept = publication.out.join(site::PREVIOUS);
    if publication.rotate {
        let current = publication.out.join("matrix.json");
        if current.exists() {
            std::fs::rename(&current, &kept).map_err(|err| {
                format!(
                    "cannot keep {} as {}: {err}",
                    current.display(),
                    kept.display()
                )
            })?;
        }
    }
    match publication.previous {
        Some(path) => site::model::read(path).map(Some),
        None if kept.exists() => site::model::read(&kept).map(Some),
        None => Ok(None),
    }
}

fn readme(publication: &Publication, published: &Matrix) -> String {
    let mut text = matrix::render_markdown(publication.reports, publication.title);
    if !publication.not_run.is_empty() {
        text.push_str("\n## Targets not run\n\n");
        for (name, why) in publication.not_run {
            text.push_str(&format!("- **{name}**: {}\n", why.replace('\n', " ")));
        }
    }
    text.push_str("\n## Badges\n\n");
    for target in &published.targets {
        let alt = crate::report::markdown::cell(&target.name).replace(['[', ']'], "");
        text.push_str(&format!(
            "![{alt}]({}) ",
            site::links::badge(&target.folder)
        ));
    }
    text.push_str(
        "\n\nThe site: `index.html` (summaries, the matrix by promise, filters, each cell linked to \
         its evidence), built from `matrix.json`; a badge per target in `badges/`. Each target's \
         report: `<target>/report.html`, and `report.json`, without timeline spans (the full \
         reports, with timelines and JUnit files, are written to `--full-out`). Regenerate the \
         site from these reports with `grpc-conformance report merge reports/*/report.json --out \
         reports`, or everything with `scripts/matrix.sh` (installs and runs every target).\n",
    );
    text
}

/// Writes everything; returns the paths written.
pub fn publish(publication: &Publication) -> Result<Vec<PathBuf>, String> {
    let previous = previous(publication)?;
    // Servers first, then client libraries, each in the order given; the
    // site pairs each report with its target by position.
    let mut reports = publication.reports.to_vec();
    reports.sort_by_key(|report| !report.target.role.is_server());
    let mut matrix = site::with_previous(&reports, publication.title, previous.as_ref());
    matrix.not_run = publication
        .not_run
        .iter()
        .map(|(name, why)| NotRun {
            name: name.clone(),
            why: why.clone(),
        })
        .collect();
    let mut written = site::write(publication.out, &reports, &matrix)?;
    let path = publication.out.join("README.md");
    write_atomic(&path, readme(publication, &matrix).as_bytes())
        .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    written.push(path);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::{Publication, previous};
    use crate::report::site;

    #[test]
    fn a_new_publication_keeps_the_matrix_it_replaces_as_the_previous_one() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let old = site::build(&[], "old");
        let text = serde_json::to_vec(&old).expect("json");
        std::fs::write(dir.path().join("matrix.json"), text).expect("write");
        let mut publication = Publication {
            out: dir.path(),
            reports: &[],
            title: "new",
            previous: None,
            rotate: false,
            not_run: &[],
        };
        assert_eq!(previous(&publication), Ok(None), "merge does not rotate");
        publication.rotate = true;
        assert_eq!(previous(&publication), Ok(Some(old)));
        assert!(!dir.path().join("matrix.json").exists());
        assert!(dir.path().join(site::PREVIOUS).is_file());
    }
}
