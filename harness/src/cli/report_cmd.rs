//! `grpc-conformance report`: the compatibility site from several JSON
//! reports (`merge`), and the published copies of full reports (`publish`).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::exit;
use super::site::{Publication, publish};
use crate::report::site::links::folder_name;
use crate::report::{ReportFiles, read};

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ReportCommand {
    /// Merge JSON reports (one per target, full or published) into the
    /// compatibility site: <out>/index.html, matrix.json, badges/<target>.svg,
    /// README.md (the matrix in Markdown) and each target's published report
    /// <out>/<target>/report.{json,html} that the site links to. Runs
    /// nothing: `report merge reports/*/report.json --out reports`
    /// regenerates the committed site.
    Merge {
        /// JSON reports written by `run`, `matrix` or `report publish`.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Output directory.
        #[arg(long, value_name = "DIR", default_value = "out")]
        out: PathBuf,
        /// The previous matrix.json, for "changed since" (default:
        /// <out>/matrix.previous.json, if there is one).
        #[arg(long, value_name = "FILE")]
        previous: Option<PathBuf>,
        /// Title of the matrix.
        #[arg(
            long,
            default_value = "gRPC concurrency conformance: compatibility matrix"
        )]
        title: String,
    },
    /// Write the published copies of full JSON reports (as the matrix
    /// writes to reports/): <out>/<target>/report.{json,html}, without
    /// timeline spans (no site: `merge` writes that).
    Publish {
        /// Full JSON reports written by `run` or `matrix --full-out`.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Output directory.
        #[arg(long, value_name = "DIR", default_value = "reports")]
        out: PathBuf,
    },
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
            previous,
        } => {
            let loaded = match read_all(&reports) {
                Ok(loaded) => loaded,
                Err(err) => {
                    super::error(err);
                    return exit::USAGE;
                }
            };
            let publication = Publication {
                out: &out,
                reports: &loaded,
                title: &title,
                previous: previous.as_deref(),
                rotate: false,
                not_run: &[],
            };
            match publish(&publication) {
                Ok(written) => {
                    for path in written {
                        eprintln!("wrote {}", path.display());
                    }
                    exit::OK
                }
                Err(err) => {
                    super::error(err);
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
