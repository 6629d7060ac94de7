//! A client adapter process: given one instruction at a time, watched (exit
//! status, stderr tail) and restarted after it died, so that later
//! scenarios still run ([`super::launch`] starts it).

use std::time::Duration;

use conformance::proto::probe::{
    AdapterHello, AdapterMessage, HarnessMessage, Instruction, InstructionResult, adapter_message,
    harness_message,
};
use tokio::io::BufReader;
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::launch::{launch, stop};
use super::protocol::{FrameError, PROTOCOL_VERSION, read_frame, write_frame};
use crate::target::process::{Tail, describe, signal_group, tail_text};

/// Why the adapter could not carry an instruction out.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("cannot start the client adapter `{command}`: {reason}")]
    Start { command: String, reason: String },
    #[error(
        "the client adapter `{command}` speaks protocol version {adapter}, the suite speaks version {PROTOCOL_VERSION} (proto/conformance/v1/client.proto): update the adapter or the suite"
    )]
    Version { command: String, adapter: u32 },
    #[error("the client adapter `{command}` ended ({status}); its last output:\n{tail}")]
    Ended {
        command: String,
        status: String,
        tail: String,
    },
    #[error(
        "the client adapter `{command}` gave no result within {} ms; it was stopped and is restarted for the next scenario",
        limit.as_millis()
    )]
    Stalled { command: String, limit: Duration },
    #[error("the client adapter `{command}` broke the protocol: {reason}")]
    Protocol { command: String, reason: String },
    #[error("the client adapter `{command}` could not carry the instruction out: {reason}")]
    Refused { command: String, reason: String },
}

/// One running adapter process.
pub(super) struct Running {
    pub(super) child: Child,
    pub(super) stdin: ChildStdin,
    pub(super) stdout: BufReader<ChildStdout>,
    /// The stderr collector: done once the process has closed stderr.
    pub(super) stderr: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Waits (briefly) for the process to end and its stderr to be read to
    /// the end; its exit status, if it ended.
    pub(super) async fn ended(&mut self) -> Option<String> {
        let status = tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
            .map(describe)?;
        let _ = tokio::time::timeout(Duration::from_secs(1), &mut self.stderr).await;
        Some(status)
    }
}

/// The adapter of a client-mode run.
pub struct Adapter {
    command: String,
    tail: Tail,
    hello: AdapterHello,
    running: tokio::sync::Mutex<Option<Running>>,
}

impl std::fmt::Debug for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapter")
            .field("command", &self.command)
            .finish_non_exhaustive()
    }
}

impl Adapter {
    /// Starts the adapter and checks its protocol version.
    pub async fn start(command: &str) -> Result<Self, AdapterError> {
        let tail = Tail::default();
        let (running, hello) = launch(command, &tail).await?;
        Ok(Self {
            command: command.to_owned(),
            tail,
            hello,
            running: tokio::sync::Mutex::new(Some(running)),
        })
    }

    pub fn command(&self) -> &str {
        &self.command
    }

    /// What the adapter said of itself.
    pub fn hello(&self) -> &AdapterHello {
        &self.hello
    }

    /// Gives the adapter one instruction and waits up to `limit` for its
    /// result. An adapter that died before is restarted first; one that
    /// dies or stalls now is left stopped (restarted next time).
    pub async fn run(
        &self,
        instruction: Instruction,
        limit: Duration,
    ) -> Result<InstructionResult, AdapterError> {
        let mut slot = self.running.lock().await;
        let running = match slot.take() {
            Some(running) => slot.insert(running),
            None => slot.insert(launch(&self.command, &self.tail).await?.0),
        };
        let id = instruction.id;
        let message = HarnessMessage {
            kind: Some(harness_message::Kind::Instruction(instruction)),
        };
        let exchange = async {
            write_frame(&mut running.stdin, &message).await?;
            let answer: AdapterMessage = read_frame(&mut running.stdout, "AdapterMessage").await?;
            Ok(match answer.kind {
                Some(adapter_message::Kind::Result(result)) if result.id == id => Ok(result),
                Some(adapter_message::Kind::Result(result)) => Err(format!(
                    "a result for instruction {} while instruction {id} was in flight",
                    result.id
                )),
                Some(adapter_message::Kind::Hello(_)) => Err("a second hello".to_owned()),
                None => Err("an AdapterMessage with no kind set".to_owned()),
            })
        };
        let outcome = tokio::time::timeout(limit, exchange).await;
        match outcome {
            Ok(Ok(Ok(result))) if !result.adapter_error.is_empty() => Err(AdapterError::Refused {
                command: self.command.clone(),
                reason: result.adapter_error,
            }),
            Ok(Ok(Ok(result))) => Ok(result),
            Ok(Ok(Err(reason))) => {
                let running = slot.take();
                stop(running).await;
                Err(AdapterError::Protocol {
                    command: self.command.clone(),
                    reason,
                })
            }
            Ok(Err(frame)) => Err(self.ended_or_broken(slot.take(), frame).await),
            Err(_) => {
                stop(slot.take()).await;
                Err(AdapterError::Stalled {
                    command: self.command.clone(),
                    limit,
                })
            }
        }
    }

    /// After a frame error: the process's end, or what was wrong with the frame.
    async fn ended_or_broken(&self, running: Option<Running>, frame: FrameError) -> AdapterError {
        let status = match running {
            Some(mut running) => {
                let status = running.ended().await;
                stop(Some(running)).await;
                status
            }
            None => None,
        };
        match (status, frame) {
            (Some(status), FrameError::Closed | FrameError::Io(_)) => AdapterError::Ended {
                command: self.command.clone(),
                status,
                tail: self.tail_text(),
            },
            (_, frame) => AdapterError::Protocol {
                command: self.command.clone(),
                reason: frame.to_string(),
            },
        }
    }

    /// The last lines the adapter wrote to stderr.
    pub fn tail_text(&self) -> String {
        tail_text(&self.tail)
    }

    /// Closes the adapter's stdin (its signal to exit) and waits briefly.
    pub async fn close(&self) {
        let running = self.running.lock().await.take();
        if let Some(Running {
            mut child, stdin, ..
        }) = running
        {
            drop(stdin);
            if tokio::time::timeout(Duration::from_secs(5), child.wait())
                .await
                .is_err()
            {
                signal_group(child.id(), "-KILL");
            }
        }
    }
}
