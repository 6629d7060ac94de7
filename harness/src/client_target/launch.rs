//! Starting an adapter process: `sh -c` with its own process group, stderr
//! kept in a tail, and the hello exchanged (protocol version checked).

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use conformance::proto::probe::{
    AdapterHello, AdapterMessage, HarnessMessage, Hello, adapter_message, harness_message,
};
use tokio::io::BufReader;
use tokio::process::Command;

use super::adapter::{AdapterError, Running};
use super::protocol::{FrameError, PROTOCOL_VERSION, read_frame, write_frame};
use crate::target::process::{Tail, collect, signal_group, tail_text};

/// How long an adapter has to answer the hello (a JVM starts slowly).
const HELLO_LIMIT: Duration = Duration::from_secs(60);

/// Kills a process that broke the protocol or stalled.
pub(super) async fn stop(running: Option<Running>) {
    if let Some(mut running) = running {
        signal_group(running.child.id(), "-KILL");
        let _ = tokio::time::timeout(Duration::from_secs(5), running.child.wait()).await;
    }
}

/// Spawns the command and exchanges hellos.
pub(super) async fn launch(
    command: &str,
    tail: &Tail,
) -> Result<(Running, AdapterHello), AdapterError> {
    let start_error = |reason: String| AdapterError::Start {
        command: command.to_owned(),
        reason,
    };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| start_error(err.to_string()))?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(start_error("no stdin, stdout or stderr pipe".to_owned()));
    };
    let mut running = Running {
        child,
        stdin,
        stdout: BufReader::new(stdout),
        stderr: collect(stderr, Arc::clone(tail)),
    };
    let hello = HarnessMessage {
        kind: Some(harness_message::Kind::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
        })),
    };
    let greeting = async {
        write_frame(&mut running.stdin, &hello).await?;
        read_frame::<AdapterMessage>(&mut running.stdout, "AdapterMessage").await
    };
    let answer = match tokio::time::timeout(HELLO_LIMIT, greeting).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(err)) => {
            let status = running.ended().await;
            let what = match (&err, &status) {
                (FrameError::Closed, Some(status)) => {
                    format!("it ended before its hello ({status})")
                }
                (_, Some(status)) => format!("no hello ({err}; then it ended, {status})"),
                (_, None) => format!("no hello: {err}"),
            };
            let text = tail_text(tail);
            stop(Some(running)).await;
            return Err(start_error(format!(
                "{what}. An adapter waits for the harness's hello on stdin and answers on stdout (proto/conformance/v1/client.proto). Its last output:\n{text}"
            )));
        }
        Err(_) => {
            stop(Some(running)).await;
            return Err(start_error(format!(
                "no hello within {} s",
                HELLO_LIMIT.as_secs()
            )));
        }
    };
    let Some(adapter_message::Kind::Hello(hello)) = answer.kind else {
        stop(Some(running)).await;
        return Err(AdapterError::Protocol {
            command: command.to_owned(),
            reason: "its first message was not a hello".to_owned(),
        });
    };
    if hello.protocol_version != PROTOCOL_VERSION {
        stop(Some(running)).await;
        return Err(AdapterError::Version {
            command: command.to_owned(),
            adapter: hello.protocol_version,
        });
    }
    Ok((running, hello))
}
