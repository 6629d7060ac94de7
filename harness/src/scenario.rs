//! Scenario files (`scenarios/<area>/*.toml`): loading and validation.
//!
//! Everything is checked before anything runs: malformed TOML, unknown or
//! missing fields (including a driver's own parameters), unknown drivers,
//! defects and capabilities, and duplicate ids are reported with the file,
//! line and column.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::drivers::{self, PreparedRun};

/// Default time budget of a scenario.
pub const DEFAULT_BUDGET_MS: u64 = 20_000;
/// Longest budget a scenario may ask for.
pub const MAX_BUDGET_MS: u64 = 300_000;

/// The three guarantees' areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    Channel,
    Stream,
    Handler,
}

impl Area {
    pub const ALL: [Area; 3] = [Area::Channel, Area::Stream, Area::Handler];

    pub fn as_str(self) -> &'static str {
        match self {
            Area::Channel => "channel",
            Area::Stream => "stream",
            Area::Handler => "handler",
        }
    }

    /// The area of that name, if any.
    pub fn named(name: &str) -> Option<Area> {
        Area::ALL.into_iter().find(|area| area.as_str() == name)
    }

    /// The guarantee of this area, as the suite states it.
    pub fn guarantee(self) -> &'static str {
        match self {
            Area::Channel => {
                "Shared-channel parallelism: one client channel is safe to share across tasks, many stubs may share it, and concurrent RPCs really go out in parallel on it."
            }
            Area::Stream => {
                "Stream half-duplex safety: one task may send while another receives on the same stream; concurrent senders are unsafe in grpc-go and must be impossible or serialised in Rust."
            }
            Area::Handler => {
                "Per-handler task isolation: every server handler runs in its own task: a slow, blocking, failing, panicking or cancelled handler must not stall or break other RPCs."
            }
        }
    }
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a scenario needs of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// ProbeService is implemented.
    Probe,
    /// ProbeService's thread-blocking, spinning and panicking holds are enabled.
    UnsafeHolds,
    /// TestService.HalfDuplexCall is implemented.
    HalfDuplex,
    /// The harness may start and stop private instances of the server: the
    /// embedded server, or a server command whose graceful stop is
    /// declared (graceful shutdown).
    Lifecycle,
    /// grpc.health.v1.Health is implemented: the health mode's one need.
    Health,
    /// grpc.testing.TestService is implemented. Every scenario that does
    /// not need `health` needs it implicitly (see [`Scenario::mode`]);
    /// discovery sets it, scenario files do not name it.
    TestService,
}

/// Where each implementation ships grpc.health.v1.Health, for the message
/// to a server that has neither TestService nor Health.
pub const HEALTH_IMPLEMENTATIONS: &str = "grpc-go: google.golang.org/grpc/health; grpcio: grpcio-health-checking; grpc-java: io.grpc:grpc-services HealthStatusManager; tonic: tonic-health; examples in targets/grpc-go-health and targets/grpcio-health";

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Probe => "probe",
            Capability::UnsafeHolds => "unsafe-holds",
            Capability::HalfDuplex => "half-duplex",
            Capability::Lifecycle => "lifecycle",
            Capability::Health => "health",
            Capability::TestService => "test-service",
        }
    }

    /// What gives a target this capability, for a skip's reason.
    pub fn how_to_get(self) -> &'static str {
        match self {
            Capability::Probe => {
                "the server implements conformance.v1.ProbeService (proto/conformance/v1/probe.proto; targets/ has examples)"
            }
            Capability::UnsafeHolds => {
                "the server's ProbeService enables its thread-blocking, spinning and panicking holds"
            }
            Capability::HalfDuplex => "the server implements TestService.HalfDuplexCall",
            Capability::Lifecycle => {
                "the harness starts the server (--server-cmd) and its graceful stop is declared: --graceful-stop SIGTERM (targets.toml: graceful_stop = \"SIGTERM\") if it refuses new RPCs, lets in-flight ones finish and exits 0 on that signal"
            }
            Capability::Health => {
                "the server implements grpc.health.v1.Health (grpc-go: google.golang.org/grpc/health; grpcio: grpcio-health-checking; grpc-java: io.grpc:grpc-services HealthStatusManager; tonic: tonic-health; examples in targets/grpc-go-health and targets/grpcio-health)"
            }
            Capability::TestService => {
                "the server implements grpc.testing.TestService (proto/grpc/testing/test.proto); without it the run is in health mode, where only the scenarios that need just grpc.health.v1.Health run"
            }
        }
    }
}

/// A scenario file as written, generic over the driver's parameters so that
/// the driver's own fields are checked (with positions) by the same parse.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScenarioFile<P> {
    id: Spanned<String>,
    area: Area,
    title: String,
    guarantee: String,
    #[serde(default)]
    needs: Vec<Capability>,
    driver: Spanned<String>,
    #[serde(default = "default_budget")]
    budget_ms: Spanned<u64>,
    /// Defects of the reference server (or the harness's client) this
    /// scenario must fail against: its self-test.
    #[serde(default)]
    defects: Vec<Spanned<String>>,
    /// Extra explanation shown by `explain`.
    #[serde(default)]
    notes: Option<String>,
    /// Run with nothing else in flight against the target (see
    /// [`Scenario::exclusive`]).
    #[serde(default)]
    exclusive: bool,
    /// Never run two copies at once (see [`Scenario::one_run_at_a_time`]).
    #[serde(default)]
    one_run_at_a_time: bool,
    #[serde(default)]
    pub(crate) params: P,
}

fn default_budget() -> Spanned<u64> {
    Spanned::new(0..0, DEFAULT_BUDGET_MS)
}

/// A loaded, validated scenario.
#[derive(Clone)]
pub struct Scenario {
    pub id: String,
    pub area: Area,
    pub title: String,
    pub guarantee: String,
    pub needs: Vec<Capability>,
    pub driver: &'static drivers::DriverSpec,
    pub budget_ms: u64,
    pub defects: Vec<String>,
    pub notes: Option<String>,
    /// The scenario runs alone: no other scenario is in flight against the
    /// target while it runs. For scenarios that load the whole server or
    /// machine (their figures, or other scenarios' budgets, would be
    /// disturbed), that occupy the server's threads, or that may take the
    /// target down. Every other scenario keeps its evidence to its own
    /// connections and its own unique names ([`crate::drivers::Ctx::unique`]),
    /// so the runner may run it beside others.
    pub exclusive: bool,
    /// The scenario's runs (with `--repeat`) never overlap one another,
    /// though other scenarios may run beside it: for a scenario that holds
    /// much memory for a moment (a server's whole stream limit, hundreds of
    /// calls), of which up to `--jobs` copies at once would set a repeat
    /// run's peak, yet which is too short to be worth running alone.
    pub one_run_at_a_time: bool,
    pub path: PathBuf,
    /// The driver's parameters as written (for reports and `explain`).
    pub params: toml::Table,
    pub(crate) run: PreparedRun,
}

impl fmt::Debug for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scenario")
            .field("id", &self.id)
            .field("driver", &self.driver.name)
            .finish_non_exhaustive()
    }
}

/// A problem with a scenario file, located in it.
#[derive(Debug, Clone)]
pub struct LoadError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

impl std::error::Error for LoadError {}

/// 1-based line and column of a byte offset.
pub(crate) fn position(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, column)
}

fn located(
    path: &Path,
    text: &str,
    span: Option<std::ops::Range<usize>>,
    message: String,
) -> LoadError {
    let (line, column) = span.map_or((1, 1), |span| position(text, span.start));
    LoadError {
        path: path.to_owned(),
        line,
        column,
        message,
    }
}

/// A TOML error in `path` as `path:line:column: message`.
pub(crate) fn toml_error(path: &Path, text: &str, err: &toml::de::Error) -> LoadError {
    located(path, text, err.span(), err.message().trim().to_owned())
}

/// Parses the file with the driver's own parameter type, for
/// [`drivers::DriverSpec`]'s prepare function.
pub(crate) fn parse_with<P: DeserializeOwned + Default>(
    text: &str,
) -> Result<ScenarioFile<P>, toml::de::Error> {
    toml::from_str(text)
}

/// Parses and validates one scenario file.
pub fn load_file(path: &Path, text: &str) -> Result<Scenario, LoadError> {
    let file: ScenarioFile<toml::Table> =
        toml::from_str(text).map_err(|err| toml_error(path, text, &err))?;
    let driver_name = file.driver.get_ref();
    let driver = drivers::find(driver_name).ok_or_else(|| {
        located(
            path,
            text,
            Some(file.driver.span()),
            format!(
                "unknown driver {driver_name:?}; known drivers: {}",
                drivers::names().join(", ")
            ),
        )
    })?;
    let id = file.id.get_ref();
    if !valid_id(id) {
        return Err(located(
            path,
            text,
            Some(file.id.span()),
            format!(
                "id {id:?} must be dotted lowercase words, e.g. \"channel.parallel-rendezvous-8\""
            ),
        ));
    }
    let area_prefix = format!("{}.", file.area);
    if !id.starts_with(&area_prefix) {
        return Err(located(
            path,
            text,
            Some(file.id.span()),
            format!("id {id:?} must start with its area, \"{area_prefix}\""),
        ));
    }
    let budget = *file.budget_ms.get_ref();
    if budget == 0 || budget > MAX_BUDGET_MS {
        return Err(located(
            path,
            text,
            Some(file.budget_ms.span()),
            format!("budget_ms must be between 1 and {MAX_BUDGET_MS}, not {budget}"),
        ));
    }
    for defect in &file.defects {
        if let Err(message) = crate::defects::check_name(defect.get_ref()) {
            return Err(located(path, text, Some(defect.span()), message));
        }
    }
    let run = (driver.prepare)(text).map_err(|err| toml_error(path, text, &err))?;
    Ok(Scenario {
        id: id.clone(),
        area: file.area,
        title: file.title,
        guarantee: file.guarantee,
        needs: file.needs,
        driver,
        budget_ms: budget,
        defects: file.defects.into_iter().map(Spanned::into_inner).collect(),
        notes: file.notes,
        exclusive: file.exclusive,
        one_run_at_a_time: file.one_run_at_a_time,
        path: path.to_owned(),
        params: file.params,
        run,
    })
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

/// The scenarios of a catalog directory (`scenarios/`), sorted by id.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub scenarios: Vec<Arc<Scenario>>,
}

impl Catalog {
    /// Loads every `*.toml` under `<dir>/<area>/`. Returns every problem found,
    /// not just the first.
    pub fn load(dir: &Path) -> Result<Self, Vec<LoadError>> {
        let mut errors = Vec::new();
        let mut scenarios: Vec<Arc<Scenario>> = Vec::new();
        let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
        let mut files = Vec::new();
        for area in Area::ALL {
            let area_dir = dir.join(area.as_str());
            let Ok(entries) = std::fs::read_dir(&area_dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|ext| ext == "toml") {
                    files.push(path);
                }
            }
        }
        if files.is_empty() {
            errors.push(LoadError {
                path: dir.to_owned(),
                line: 1,
                column: 1,
                message: "no scenario files (expected scenarios/<channel|stream|handler>/*.toml); pass --scenarios DIR".into(),
            });
        }
        files.sort();
        for path in files {
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(err) => {
                    errors.push(LoadError {
                        path: path.clone(),
                        line: 1,
                        column: 1,
                        message: format!("cannot read: {err}"),
                    });
                    continue;
                }
            };
            match load_file(&path, &text) {
                Ok(scenario) => {
                    if let Some(first) = seen.get(&scenario.id) {
                        let span = text.find(&format!("\"{}\"", scenario.id));
                        errors.push(located(
                            &path,
                            &text,
                            span.map(|start| start..start),
                            format!(
                                "duplicate scenario id {:?} (first defined in {})",
                                scenario.id,
                                first.display()
                            ),
                        ));
                        continue;
                    }
                    seen.insert(scenario.id.clone(), path.clone());
                    scenarios.push(Arc::new(scenario));
                }
                Err(err) => errors.push(err),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        scenarios.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Self { scenarios })
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Scenario>> {
        self.scenarios.iter().find(|scenario| scenario.id == id)
    }
}

/// Which servers a scenario runs against, by the service it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Needs grpc.testing.TestService (most scenarios): a server without it
    /// reports the scenario as `skip`.
    TestService,
    /// Needs only grpc.health.v1.Health: runs against a TestService server
    /// that also has Health, and in health mode, against a server that has
    /// Health alone.
    Health,
    /// Checks a client library through its adapter (`--client-cmd`; the
    /// embedded run uses the suite's own), the reference server observing.
    Client,
}

impl Mode {
    /// How `list` and `explain` name the servers it runs against.
    pub fn describe(self) -> &'static str {
        match self {
            Mode::TestService => "TestService mode",
            Mode::Health => "health mode and TestService mode",
            Mode::Client => "client mode",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::TestService => "test-service",
            Mode::Health => "health",
            Mode::Client => "client",
        }
    }
}

impl Scenario {
    /// Whether the scenario needs TestService, only the health service, or
    /// a client adapter.
    pub fn mode(&self) -> Mode {
        if self.driver.subject == crate::drivers::Subject::Client {
            Mode::Client
        } else if self.needs.contains(&Capability::Health) {
            Mode::Health
        } else {
            Mode::TestService
        }
    }

    /// What the scenario needs of a target: its file's `needs`, and
    /// TestService unless it is a health scenario.
    pub fn requirements(&self) -> Vec<Capability> {
        let mut needs = self.needs.clone();
        // A client scenario's observer is the reference server: with its
        // TestService (absent only when it runs health-only) come
        // ProbeService and ClientObserver.
        if self.mode() != Mode::Health && !needs.contains(&Capability::TestService) {
            needs.insert(0, Capability::TestService);
        }
        needs
    }

    /// Every parameter the driver runs with, and whether the file chose it
    /// (false: the driver's default).
    pub fn effective_params(&self) -> Vec<(String, toml::Value, bool)> {
        let mut all = (self.driver.defaults)();
        for (name, value) in &self.params {
            all.insert(name.clone(), value.clone());
        }
        all.into_iter()
            .map(|(name, value)| {
                let chosen = self.params.contains_key(&name);
                (name, value, chosen)
            })
            .collect()
    }

    /// The parameters the file sets to the driver's default anyway: a
    /// scenario file states only what it chooses.
    pub fn restated_defaults(&self) -> Vec<String> {
        let defaults = (self.driver.defaults)();
        self.params
            .iter()
            .filter(|(name, value)| defaults.get(name.as_str()) == Some(value))
            .map(|(name, _)| name.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(position(text, 0), (1, 1));
        assert_eq!(position(text, 6), (2, 1));
        assert_eq!(position(text, 9), (2, 4));
    }

    #[test]
    fn catalog_files_state_only_what_they_choose() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let catalog = Catalog::load(&dir).expect("the catalog loads");
        let restated: Vec<String> = catalog
            .scenarios
            .iter()
            .flat_map(|scenario| {
                scenario
                    .restated_defaults()
                    .into_iter()
                    .map(|name| format!("{}: {name}", scenario.id))
            })
            .collect();
        assert!(
            restated.is_empty(),
            "scenario parameters equal to the driver's default (delete them from the file):\n{}",
            restated.join("\n")
        );
    }

    #[test]
    fn ids_are_dotted_lowercase() {
        assert!(valid_id("channel.parallel-rendezvous-8"));
        assert!(!valid_id("Channel.x"));
        assert!(!valid_id("channel..x"));
        assert!(!valid_id(""));
    }
}
