//! `grpc-conformance`: the suite's command line (see `--help`).

fn main() -> std::process::ExitCode {
    harness::cli::main()
}
