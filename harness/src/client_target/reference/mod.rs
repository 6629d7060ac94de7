//! The suite's reference client adapter: tonic's client, driven over the
//! client-under-test protocol on stdin/stdout (`grpc-conformance
//! client-adapter`). It is the client mode's own target in `cargo test`, and
//! with `--defect` the defective clients the client scenarios' self-tests
//! must catch.

mod calls;
mod exchange;

use std::time::Duration;

use conformance::proto::probe::{
    AdapterHello, AdapterMessage, HarnessMessage, Instruction, InstructionResult, adapter_message,
    harness_message, instruction,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::transport::{Channel, Endpoint};

use super::protocol::{FrameError, PROTOCOL_VERSION, read_frame, write_frame};
use crate::defects::AdapterDefect;

/// Faults of the adapter process itself, for the harness's own tests of
/// how a run survives a broken adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// Exit with status 3 on the first instruction.
    Crash,
    /// Never answer an instruction.
    Stall,
    /// Answer an instruction with bytes that are not a frame.
    Garbage,
    /// Say protocol version 99 in the hello.
    OtherVersion,
}

/// Serves the protocol on `input`/`output` until the harness closes `input`.
pub async fn serve(
    mut input: impl AsyncRead + Unpin,
    mut output: impl AsyncWrite + Unpin,
    defect: Option<AdapterDefect>,
    fault: Option<Fault>,
) -> Result<(), FrameError> {
    loop {
        let message: HarnessMessage = match read_frame(&mut input, "HarnessMessage").await {
            Ok(message) => message,
            Err(FrameError::Closed) => return Ok(()),
            Err(err) => return Err(err),
        };
        let answer = match message.kind {
            Some(harness_message::Kind::Hello(_)) => adapter_message::Kind::Hello(AdapterHello {
                protocol_version: if fault == Some(Fault::OtherVersion) {
                    99
                } else {
                    PROTOCOL_VERSION
                },
                implementation: "tonic".to_owned(),
                version: conformance::server::TONIC_VERSION.to_owned(),
                api: "tonic::transport::Channel, cloned into a tokio task per call".to_owned(),
                defect: defect.map(|d| d.name().to_owned()).unwrap_or_default(),
            }),
            Some(harness_message::Kind::Instruction(instruction)) => {
                match fault {
                    Some(Fault::Crash) => {
                        eprintln!(
                            "client-adapter: crashing on an instruction, as asked (--fault crash)"
                        );
                        std::process::exit(3)
                    }
                    Some(Fault::Stall) => std::future::pending::<()>().await,
                    Some(Fault::Garbage) => {
                        use tokio::io::AsyncWriteExt;
                        output.write_all(b"not a frame\n").await?;
                        output.flush().await?;
                        continue;
                    }
                    _ => {}
                }
                adapter_message::Kind::Result(run(instruction, defect).await)
            }
            None => {
                return Err(FrameError::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "a HarnessMessage with no kind set",
                )));
            }
        };
        let answer = AdapterMessage { kind: Some(answer) };
        write_frame(&mut output, &answer).await?;
    }
}

async fn run(instruction: Instruction, defect: Option<AdapterDefect>) -> InstructionResult {
    let id = instruction.id;
    let deadline = Duration::from_millis(u64::from(instruction.deadline_ms.max(1)));
    let refused = |reason: String| InstructionResult {
        id,
        adapter_error: reason,
        ..InstructionResult::default()
    };
    let endpoint = match Endpoint::from_shared(format!("http://{}", instruction.server)) {
        Ok(endpoint) => endpoint,
        Err(err) => {
            return refused(format!(
                "bad server address {:?}: {err}",
                instruction.server
            ));
        }
    };
    let channels = Channels { endpoint, defect };
    match instruction.work {
        Some(instruction::Work::Calls(calls)) => InstructionResult {
            id,
            calls: calls::run(&channels, calls, deadline).await,
            ..InstructionResult::default()
        },
        Some(instruction::Work::Exchange(work)) => InstructionResult {
            id,
            exchange: Some(exchange::run(&channels, work, deadline).await),
            ..InstructionResult::default()
        },
        None => refused("an instruction with no work set (a newer harness?)".to_owned()),
    }
}

/// Where calls get their channel: the instruction's one channel, or (the
/// `new-channel-per-call` defect) a new one each time.
struct Channels {
    endpoint: Endpoint,
    defect: Option<AdapterDefect>,
}

impl Channels {
    fn shared(&self) -> Channel {
        self.endpoint.connect_lazy()
    }

    fn for_call(&self, shared: &Channel) -> Channel {
        if self.defect == Some(AdapterDefect::NewChannelPerCall) {
            self.endpoint.connect_lazy()
        } else {
            shared.clone()
        }
    }

    fn has(&self, defect: AdapterDefect) -> bool {
        self.defect == Some(defect)
    }
}

/// The `global-lock` defect's one lock, held around every whole RPC.
static GLOBAL_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The gRPC status code of an outcome, and its message.
fn status_of<T>(outcome: &Result<T, tonic::Status>) -> (i32, String) {
    match outcome {
        Ok(_) => (0, String::new()),
        Err(status) => (status.code() as i32, status.message().to_owned()),
    }
}
