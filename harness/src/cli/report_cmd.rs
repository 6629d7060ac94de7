//! `grpc-conformance report merge`: a compatibility matrix from several
//! JSON reports.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::exit;
use crate::report::{matrix, read, write_atomic};

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
}

pub fn report(args: ReportArgs) -> u8 {
    match args.command {
        ReportCommand::Merge {
            reports,
            out,
            title,
        } => {
            let mut loaded = Vec::new();
            for path in &reports {
                match read(path) {
                    Ok(report) => loaded.push(report),
                    Err(err) => {
                        super::error(err);
                        return exit::USAGE;
                    }
                }
            }
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
    }
}
