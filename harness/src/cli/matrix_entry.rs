//! One entry of the matrix: a server of `targets.toml` (`[[target]]`, run
//! with `--server-cmd`) or a client library (`[[client]]`, run through its
//! adapter with `--client-cmd`), each against the scenarios of its subject.

use std::path::PathBuf;
use std::sync::Arc;

use crate::client_target::{Adapter, ClientUnderTest};
use crate::drivers::Subject;
use crate::scenario::Scenario;
use crate::target::{ClientEntry, TargetEntry, TargetSession, TargetSpec};

#[derive(Clone, Copy)]
pub(super) enum Entry<'a> {
    Server(&'a TargetEntry),
    Client(&'a ClientEntry),
}

impl Entry<'_> {
    pub(super) fn name(&self) -> &str {
        match self {
            Entry::Server(entry) => &entry.name,
            Entry::Client(entry) => &entry.name,
        }
    }

    /// The folder of its full report (a client's beside its server's).
    pub(super) fn folder(&self) -> String {
        match self {
            Entry::Server(entry) => entry.name.clone(),
            Entry::Client(entry) => format!("{}-client", entry.name),
        }
    }

    pub(super) fn heading(&self) -> String {
        match self {
            Entry::Server(entry) => format!(
                "{}: {} (services: {})",
                entry.name,
                entry.description,
                entry.services.join(", ")
            ),
            Entry::Client(entry) => format!("{} (client): {}", entry.name, entry.description),
        }
    }

    pub(super) fn description(&self) -> &str {
        match self {
            Entry::Server(entry) => &entry.description,
            Entry::Client(entry) => &entry.description,
        }
    }

    pub(super) fn expectations(&self) -> Option<&PathBuf> {
        match self {
            Entry::Server(entry) => entry.expectations.as_ref(),
            Entry::Client(entry) => entry.expectations.as_ref(),
        }
    }

    pub(super) fn install_command(&self) -> &str {
        match self {
            Entry::Server(entry) => &entry.install,
            Entry::Client(entry) => &entry.install,
        }
    }

    pub(super) fn install(&self) -> Result<(), String> {
        match self {
            Entry::Server(entry) => entry.install(),
            Entry::Client(entry) => entry.install(),
        }
    }

    pub(super) fn read_version(&self) -> String {
        match self {
            Entry::Server(entry) => entry.read_version(),
            Entry::Client(entry) => entry.read_version(),
        }
    }

    pub(super) fn command_line(&self) -> String {
        match self {
            Entry::Server(entry) => entry.command_line(),
            Entry::Client(entry) => entry.command_line(),
        }
    }

    /// The scenarios of its subject: a server's report holds no client
    /// scenario, a client's no server scenario.
    pub(super) fn scenarios(&self, all: &[Arc<Scenario>]) -> Vec<Arc<Scenario>> {
        let subject = match self {
            Entry::Server(_) => Subject::Server,
            Entry::Client(_) => Subject::Client,
        };
        all.iter()
            .filter(|scenario| scenario.driver.subject == subject)
            .cloned()
            .collect()
    }

    /// Starts what the run needs: the server command, or the embedded
    /// observer with the client's adapter.
    pub(super) async fn open(&self) -> Result<Arc<TargetSession>, String> {
        match self {
            Entry::Server(entry) => TargetSession::open(entry.spec(), Vec::new())
                .await
                .map(Arc::new)
                .map_err(|err| err.to_string()),
            Entry::Client(entry) => {
                let observer = TargetSpec::Embedded {
                    config: conformance::server::ServerConfig::default(),
                };
                let target = TargetSession::open(observer, Vec::new())
                    .await
                    .map_err(|err| err.to_string())?;
                let adapter = Adapter::start(&entry.start)
                    .await
                    .map_err(|err| err.to_string())?;
                target.attach_client(ClientUnderTest {
                    adapter: Arc::new(adapter),
                    only_clients: true,
                });
                Ok(Arc::new(target))
            }
        }
    }
}
