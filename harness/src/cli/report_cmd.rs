//! `grpc-conformance report`: a compatibility matrix from several JSON
//! reports (`merge`), and the published copies of full reports (`publish`).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::exit;
use crate::report::{ReportFiles, matrix, read, write_atomic};

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ReportCommand {
    /// Merge JSON reports (one per target) into a compatibility matrix
    /// (matrix.md and matrix.html).
    Merge {
        /// JSON reports written by `run`.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Output directory.
        #[arg(long, value_name = "DIR", default_value = "out")]
        out: PathBuf,
        /// Title of the matrix.
        #[arg(
            long,
            default_value = "gRPC concurrency conformance: compatibility matrix"
        )]
        title: String,
    },
    /// Write the published copies of full JSON reports (as the matrix
    /// writes to reports/): <out>/<target>/report.{json,md,html}, without
    /// timeline spans.
    Publish {
        /// Full JSON reports written by `run` or `matrix --full-out`.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Output directory.
        #[arg(long, value_name = "DIR", default_value = "reports")]
        out: PathBuf,
    },
}

/// A target's name as one folder name: path separators and leading dots
/// (a report is a file someone else may have written) become `_`.
fn folder_name(target: &str) -> String {
    let name: String = target
        .chars()
        .map(|c| if c == '/' || c == '\\' { '_' } else { c })
        .collect();
    let name = name.trim_start_matches('.');
    if name.is_empty() {
        "target".to_owned()
    } else {
        name.to_owned()
    }
}

fn read_all(paths: &[PathBuf]) -> Result<Vec<crate::report::Report>, String> {
    paths.iter().map(|path| read(path)).collect()
}

pub fn report(args: ReportArgs) -> u8 {
    match args.command {
        ReportCommand::Merge {
            reports,
            out,
            title,
        } => {
            let loaded = match read_all(&reports) {
                Ok(loaded) => loaded,
                Err(err) => {
                    super::error(err);
                    return exit::USAGE;
                }
            };
            let markdown = out.join("matrix.md");
            let html = out.join("matrix.html");
            let written = write_atomic(
                &markdown,
                matrix::render_markdown(&loaded, &title).as_bytes(),
            )
            .and_then(|()| write_atomic(&html, matrix::render_html(&loaded, &title).as_bytes()));
            match written {
                Ok(()) => {
                    eprintln!("wrote {}\nwrote {}", markdown.display(), html.display());
                    exit::OK
                }
                Err(err) => {
                    super::error(format!("cannot write to {}: {err}", out.display()));
                    exit::USAGE
                }
            }
        }
        ReportCommand::Publish { reports, out } => {
            let loaded = match read_all(&reports) {
                Ok(loaded) => loaded,
                Err(err) => {
                    super::error(err);
                    return exit::USAGE;
                }
            };
            for report in &loaded {
                let files = ReportFiles::new(out.join(folder_name(&report.target.name)));
                if let Err(err) = files.write_published(report) {
                    super::error(format!("cannot write {}: {err}", files.dir.display()));
                    return exit::USAGE;
                }
                eprintln!("wrote {}", files.dir.display());
            }
            exit::OK
        }
    }
}

#[cfg(test)]
mod tests {
    use super::folder_name;

    #[test]
    fn a_target_name_stays_one_folder() {
        assert_eq!(folder_name("grpc-go"), "grpc-go");
        assert_eq!(folder_name("../../etc"), "_.._etc");
        assert_eq!(folder_name("a/b"), "a_b");
        assert_eq!(folder_name(""), "target");
        assert_eq!(folder_name(".."), "target");
    }
}
