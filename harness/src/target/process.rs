//! A server command the harness runs itself: started on a free loopback
//! port, watched (exit status, stderr tail), stopped with SIGTERM and, after
//! a grace period, SIGKILL, always as a whole process group.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use super::TargetError;
use conformance::proto::grpc_testing::test_service_client::TestServiceClient;

/// Lines of output kept for error reports.
pub(crate) const TAIL_LINES: usize = 40;

/// How a server process ended.
#[derive(Debug, Clone)]
pub struct ProcessExit {
    /// E.g. "exit status 2" or "killed by signal 9".
    pub status: String,
    /// True for a clean exit (status 0).
    pub success: bool,
    /// The last lines it wrote to stderr/stdout.
    pub output_tail: String,
}

impl std::fmt::Display for ProcessExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the server process ended ({})", self.status)?;
        if !self.output_tail.is_empty() {
            write!(f, "; last output:\n{}", self.output_tail)?;
        }
        Ok(())
    }
}

/// The last lines a process wrote, shared with their collectors.
pub(crate) type Tail = Arc<Mutex<VecDeque<String>>>;

/// A running (or ended) server command.
pub struct ServerProcess {
    command: String,
    port: u16,
    startup_timeout: Duration,
    child: Child,
    tail: Tail,
    exit: Option<ProcessExit>,
}

pub(crate) fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

/// A loopback port free right now.
fn free_port() -> Result<u16, TargetError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|err| TargetError::Start(format!("cannot find a free port: {err}")))?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|err| TargetError::Start(format!("cannot find a free port: {err}")))
}

/// The lines kept in `tail`, as one text.
pub(crate) fn tail_text(tail: &Tail) -> String {
    let tail = tail
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    tail.iter().cloned().collect::<Vec<_>>().join("\n")
}

/// Keeps the last lines of `stream` in `tail`, until its end (the task
/// ends then: await it to be sure every line is in).
pub(crate) fn collect(
    stream: impl AsyncRead + Unpin + Send + 'static,
    tail: Tail,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut tail = tail
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.chars().take(500).collect());
        }
    })
}

fn spawn(command: &str, port: u16, tail: &Tail) -> Result<Child, TargetError> {
    let line = command.replace("{port}", &port.to_string());
    // A simple command replaces the shell (`exec`), so that the process the
    // harness watches and signals is the server itself: otherwise SIGTERM
    // ends the shell at once while the server is still draining.
    let simple = !line.contains([';', '&', '|', '\n', '(', '`']);
    let line = if simple { format!("exec {line}") } else { line };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&line)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| TargetError::Start(format!("cannot run `{line}`: {err}")))?;
    if let Some(stdout) = child.stdout.take() {
        // Detached: the collector ends with the stream.
        drop(collect(stdout, Arc::clone(tail)));
    }
    if let Some(stderr) = child.stderr.take() {
        drop(collect(stderr, Arc::clone(tail)));
    }
    Ok(child)
}

/// The signal a server command stops gracefully on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StopSignal {
    #[serde(rename = "SIGTERM")]
    Term,
    #[serde(rename = "SIGINT")]
    Int,
}

impl StopSignal {
    fn kill_arg(self) -> &'static str {
        match self {
            StopSignal::Term => "-TERM",
            StopSignal::Int => "-INT",
        }
    }
}

impl std::fmt::Display for StopSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopSignal::Term => "SIGTERM",
            StopSignal::Int => "SIGINT",
        })
    }
}

impl std::str::FromStr for StopSignal {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.to_ascii_uppercase().trim_start_matches("SIG") {
            "TERM" => Ok(StopSignal::Term),
            "INT" => Ok(StopSignal::Int),
            _ => Err(format!(
                "unknown stop signal {text:?}: the harness can send SIGTERM or SIGINT"
            )),
        }
    }
}

/// Sends a signal to the whole process group led by `pid`.
pub(crate) fn signal_group(pid: Option<u32>, signal: &str) {
    if let Some(pid) = pid {
        let _ = std::process::Command::new("kill")
            .args([signal, "--", &format!("-{pid}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl ServerProcess {
    /// Starts `command` (with `{port}` replaced) and waits until it answers
    /// gRPC on that port.
    pub async fn start(command: &str, startup_timeout: Duration) -> Result<Self, TargetError> {
        if !command.contains("{port}") {
            return Err(TargetError::Config(format!(
                "the server command must contain a {{port}} placeholder: `{command}`"
            )));
        }
        let port = free_port()?;
        let tail: Tail = Arc::default();
        let child = spawn(command, port, &tail)?;
        let mut process = Self {
            command: command.to_owned(),
            port,
            startup_timeout,
            child,
            tail,
            exit: None,
        };
        process.wait_ready().await?;
        Ok(process)
    }

    pub fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn wait_ready(&mut self) -> Result<(), TargetError> {
        let give_up = tokio::time::Instant::now() + self.startup_timeout;
        loop {
            if let Some(exit) = self.exited() {
                return Err(TargetError::Start(format!(
                    "`{}` ended before answering: {exit}",
                    self.command
                )));
            }
            if answers(&self.uri()).await {
                return Ok(());
            }
            if tokio::time::Instant::now() >= give_up {
                let exit = self.stop(Duration::from_secs(1)).await;
                return Err(TargetError::Start(format!(
                    "`{}` did not answer gRPC on port {} within {} s; {exit}",
                    self.command,
                    self.port,
                    self.startup_timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last lines of the process's output.
    pub fn stderr_tail(&self) -> String {
        tail_text(&self.tail)
    }

    /// How the process ended, if it has.
    pub fn exited(&mut self) -> Option<ProcessExit> {
        if self.exit.is_none()
            && let Ok(Some(status)) = self.child.try_wait()
        {
            self.exit = Some(ProcessExit {
                status: describe(status),
                success: status.success(),
                output_tail: self.stderr_tail(),
            });
        }
        self.exit.clone()
    }

    /// SIGTERM to the process group, SIGKILL after `grace`.
    pub async fn stop(&mut self, grace: Duration) -> ProcessExit {
        self.stop_with(StopSignal::Term, grace).await
    }

    /// `signal` to the process group, SIGKILL after `grace`.
    pub async fn stop_with(&mut self, signal: StopSignal, grace: Duration) -> ProcessExit {
        if let Some(exit) = self.exited() {
            return exit;
        }
        signal_group(self.child.id(), signal.kill_arg());
        let status = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(status)) => describe(status),
            _ => {
                signal_group(self.child.id(), "-KILL");
                match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
                    Ok(Ok(status)) => format!(
                        "{} after SIGKILL ({signal} was ignored for {} s)",
                        describe(status),
                        grace.as_secs()
                    ),
                    _ => "did not end after SIGKILL".to_owned(),
                }
            }
        };
        // Give the output collectors a moment to drain.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let exit = ProcessExit {
            success: status == "exit status 0",
            status,
            output_tail: self.stderr_tail(),
        };
        self.exit = Some(exit.clone());
        exit
    }

    /// Starts the command again on the same port after it ended.
    pub async fn restart(&mut self) -> Result<(), TargetError> {
        if self.exited().is_none() {
            return Ok(());
        }
        self.child = spawn(&self.command, self.port, &self.tail)?;
        self.exit = None;
        self.wait_ready().await
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.exit.is_none() {
            signal_group(self.child.id(), "-KILL");
        }
    }
}

/// Whether a gRPC server answers at `uri` (any gRPC status counts, even
/// UNIMPLEMENTED: only "no connection" does not).
async fn answers(uri: &str) -> bool {
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(uri.to_owned()) else {
        return false;
    };
    let endpoint = endpoint.connect_timeout(Duration::from_millis(500));
    let Ok(Ok(channel)) = tokio::time::timeout(Duration::from_secs(1), endpoint.connect()).await
    else {
        return false;
    };
    let mut client = TestServiceClient::new(channel);
    match tokio::time::timeout(
        Duration::from_secs(2),
        client.empty_call(conformance::proto::grpc_testing::Empty {}),
    )
    .await
    {
        Ok(Ok(_)) => true,
        Ok(Err(status)) => status.code() != tonic::Code::Unavailable,
        Err(_) => false,
    }
}
