//! `targets/targets.toml`: the third-party servers the matrix runs, each
//! with how to install it, start it, read its version and what to expect.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;

use super::{StopSignal, TargetSpec};

/// How long an install step may take (a cold Maven or C++ build).
const INSTALL_LIMIT: Duration = Duration::from_secs(900);
/// How long a version command may take.
const VERSION_LIMIT: Duration = Duration::from_secs(60);
/// How long a started server has to answer (a JVM starts slowly).
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsFile {
    pub target: Vec<TargetEntry>,
    /// Client libraries, each through its adapter (client mode).
    #[serde(default)]
    pub client: Vec<ClientEntry>,
}

/// One client library of the matrix: its adapter. Commands run with
/// `sh -c` from the repository root.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEntry {
    pub name: String,
    /// Library, version and how the adapter uses it, in one line.
    pub description: String,
    /// An idempotent install command.
    pub install: String,
    /// Starts the adapter in the foreground (the protocol on its stdin and
    /// stdout); `--defect NAME` appended selects a defective variant.
    pub start: String,
    /// Prints the library's version.
    pub version: String,
    /// The adapter defects it implements (`grpc-conformance client-adapter
    /// --help` lists them), for `scripts/client-defects.sh`.
    #[serde(default)]
    pub defects: Vec<String>,
    pub expectations: Option<PathBuf>,
}

impl ClientEntry {
    pub fn install(&self) -> Result<(), String> {
        shell(&self.install, INSTALL_LIMIT).map(|_| ())
    }

    pub fn read_version(&self) -> String {
        shell(&self.version, VERSION_LIMIT).unwrap_or_else(|err| format!("unknown ({err})"))
    }

    pub fn command_line(&self) -> String {
        format!(
            "grpc-conformance run --client-cmd '{}' --name {}",
            self.start, self.name
        )
    }
}

/// One server of the matrix. Commands run with `sh -c` from the
/// repository root.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetEntry {
    pub name: String,
    /// Implementation, version and threading/transport model, in one line.
    pub description: String,
    /// An idempotent install command.
    pub install: String,
    /// Starts the server in the foreground; `{port}` is replaced.
    pub start: String,
    /// Prints the implementation's version.
    pub version: String,
    /// The services it implements (`test`, `probe`), for the reader.
    pub services: Vec<String>,
    pub expectations: Option<PathBuf>,
    /// The signal the server stops gracefully on, if it does (see
    /// `run --graceful-stop`).
    #[serde(default)]
    pub graceful_stop: Option<StopSignal>,
}

impl TargetsFile {
    /// Reads and validates `path`; errors name the file, line and column.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("{}: cannot read: {err}", path.display()))?;
        let file: TargetsFile = toml::from_str(&text)
            .map_err(|err| crate::scenario::toml_error(path, &text, &err).to_string())?;
        // A client may share a server's name (grpc-go's server and its
        // client library); within each list names are unique.
        let lists = [
            (
                "target",
                file.target
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>(),
            ),
            (
                "client",
                file.client.iter().map(|c| c.name.as_str()).collect(),
            ),
        ];
        for (kind, names) in lists {
            let mut seen = std::collections::BTreeSet::new();
            if let Some(twice) = names.into_iter().find(|name| !seen.insert(*name)) {
                return Err(format!(
                    "{}: {kind} {twice:?} is listed twice",
                    path.display()
                ));
            }
        }
        Ok(file)
    }

    /// The servers and clients named in `only` (all when empty), in file
    /// order; a name matches a server, a client, or both. An unknown name
    /// is an error.
    pub fn select(
        &self,
        only: &[String],
        path: &Path,
    ) -> Result<(Vec<&TargetEntry>, Vec<&ClientEntry>), String> {
        let known = |name: &String| {
            self.target.iter().any(|t| &t.name == name)
                || self.client.iter().any(|c| &c.name == name)
        };
        if let Some(unknown) = only.iter().find(|name| !known(name)) {
            return Err(format!(
                "--only {unknown:?}: no such target or client in {} (it has: {})",
                path.display(),
                self.target
                    .iter()
                    .map(|t| t.name.clone())
                    .chain(self.client.iter().map(|c| format!("{} (client)", c.name)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let chosen = |name: &String| only.is_empty() || only.contains(name);
        Ok((
            self.target.iter().filter(|t| chosen(&t.name)).collect(),
            self.client.iter().filter(|c| chosen(&c.name)).collect(),
        ))
    }
}

impl TargetEntry {
    /// Runs the install command.
    pub fn install(&self) -> Result<(), String> {
        shell(&self.install, INSTALL_LIMIT).map(|_| ())
    }

    /// The version the implementation reports, or why it could not be read.
    pub fn read_version(&self) -> String {
        shell(&self.version, VERSION_LIMIT).unwrap_or_else(|err| format!("unknown ({err})"))
    }

    /// How the harness starts and stops it.
    pub fn spec(&self) -> TargetSpec {
        TargetSpec::Command {
            command: self.start.clone(),
            startup_timeout: STARTUP_LIMIT,
            graceful_stop: self.graceful_stop,
        }
    }

    /// The `run` command that reproduces this target's results.
    pub fn command_line(&self) -> String {
        format!(
            "grpc-conformance run --server-cmd '{}'{} --name {}",
            self.start,
            self.graceful_stop
                .map(|signal| format!(" --graceful-stop {signal}"))
                .unwrap_or_default(),
            self.name
        )
    }
}

/// Runs a shell command from the current directory for at most `limit`,
/// returning its trimmed stdout, or its output's tail on failure.
fn shell(command: &str, limit: Duration) -> Result<String, String> {
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot run `{command}`: {err}"))?;
    let id = child.id();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    match done_rx.recv_timeout(limit) {
        Ok(Ok(output)) if output.status.success() => {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        }
        Ok(Ok(output)) => {
            let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
            text.push_str(&String::from_utf8_lossy(&output.stdout));
            let tail: Vec<&str> = text.lines().rev().take(12).collect();
            Err(format!(
                "`{command}` failed ({}): {}",
                output.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ))
        }
        Ok(Err(err)) => Err(format!("`{command}`: {err}")),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &id.to_string()])
                .status();
            Err(format!(
                "`{command}` did not finish within {} s",
                limit.as_secs()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads `text` from a file of its own (tests run in parallel).
    fn parse(text: &str) -> Result<TargetsFile, String> {
        let file = tempfile::NamedTempFile::new().map_err(|err| err.to_string())?;
        std::fs::write(file.path(), text).map_err(|err| err.to_string())?;
        TargetsFile::load(file.path())
    }

    const ONE: &str = "[[target]]\nname = \"a\"\ndescription = \"d\"\ninstall = \"true\"\nstart = \"s {port}\"\nversion = \"echo 1\"\nservices = [\"test\"]\n";

    #[test]
    fn the_repository_targets_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../targets/targets.toml");
        let file = TargetsFile::load(&path).expect("targets/targets.toml loads");
        assert!(!file.target.is_empty());
    }

    #[test]
    fn a_mistyped_field_is_refused_with_its_position() {
        let err = parse(&ONE.replace("install =", "instal =")).expect_err("refused");
        assert!(err.contains(":4:1: unknown field `instal`"), "{err}");
    }

    #[test]
    fn a_name_listed_twice_is_refused() {
        let err = parse(&format!("{ONE}{ONE}")).expect_err("refused");
        assert!(err.contains("target \"a\" is listed twice"), "{err}");
    }

    #[test]
    fn only_an_unknown_name_is_refused() {
        let file = parse(ONE).expect("loads");
        let path = Path::new("t.toml");
        assert_eq!(
            file.select(&[], path)
                .map(|(servers, clients)| (servers.len(), clients.len())),
            Ok((1, 0))
        );
        let err = file.select(&["b".to_owned()], path).expect_err("refused");
        assert!(
            err.contains("no such target or client in t.toml (it has: a)"),
            "{err}"
        );
    }

    #[test]
    fn the_command_line_reproduces_the_run() {
        let mut file = parse(ONE).expect("loads");
        let mut entry = file.target.remove(0);
        assert_eq!(
            entry.command_line(),
            "grpc-conformance run --server-cmd 's {port}' --name a"
        );
        entry.graceful_stop = Some(StopSignal::Term);
        assert!(
            entry
                .command_line()
                .ends_with("--graceful-stop SIGTERM --name a")
        );
    }
}
