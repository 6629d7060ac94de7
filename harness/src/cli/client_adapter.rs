//! `grpc-conformance client-adapter`: the reference client adapter (tonic),
//! speaking the client-under-test protocol on stdin/stdout.

use clap::Args;

use super::exit;
use crate::client_target::reference::{Fault, serve};
use crate::defects::AdapterDefect;

#[derive(Debug, Clone, Args)]
pub struct ClientAdapterArgs {
    /// Run with this client-side defect (what the client scenarios'
    /// self-tests must catch): new-channel-per-call, global-lock,
    /// send-all-then-receive, receive-after-half-close.
    #[arg(long, value_name = "DEFECT", value_parser = parse_defect)]
    pub defect: Option<AdapterDefect>,
    /// Misbehave as a process (the harness's own tests of broken adapters).
    #[arg(long, value_enum, hide = true)]
    pub fault: Option<Fault>,
}

fn parse_defect(text: &str) -> Result<AdapterDefect, String> {
    text.parse()
}

pub fn client_adapter(args: ClientAdapterArgs) -> u8 {
    let runtime = match super::runtime(None) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let served = runtime.block_on(serve(
        tokio::io::stdin(),
        tokio::io::stdout(),
        args.defect,
        args.fault,
    ));
    // Calls a deadline cut short may leave tasks behind: do not wait for them.
    runtime.shutdown_background();
    match served {
        Ok(()) => exit::OK,
        Err(err) => {
            super::error(format!("client-adapter: {err}"));
            exit::USAGE
        }
    }
}
