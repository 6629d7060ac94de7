//! Every scenario file as its own test (libtest-mimic), so that `cargo test`
//! and `cargo nextest` list, filter and report scenarios individually:
//!
//! * `<id>`: the scenario passes against the healthy embedded reference server;
//! * `selftest::<id>::<defect>`: the scenario fails against each defect mode
//!   its file lists (a scenario that cannot fail proves nothing).

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock, RwLock};

use conformance::server::ServerConfig;
use harness::client_target::{Adapter, ClientUnderTest, reference_command};
use harness::defects::AnyDefect;
use harness::drivers::Subject;
use harness::runner::run_scenario;
use harness::scenario::{Catalog, Scenario};
use harness::target::{TargetSession, TargetSpec};
use harness::verdict::{ReasonKind, Verdict};
use libtest_mimic::{Arguments, Failed, Trial};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// The embedded target with `defects`; with `adapter`, the suite's own
/// client adapter (this package's binary, with its defect if one is given)
/// is attached for the client scenarios.
async fn open(defects: &[AnyDefect], adapter: bool) -> Result<Arc<TargetSession>, Failed> {
    let mut config = ServerConfig::default();
    let mut client = Vec::new();
    let mut adapter_defect = None;
    for defect in defects {
        match defect {
            AnyDefect::Server(defect) => {
                config.defects.insert(*defect);
            }
            AnyDefect::Client(defect) => client.push(*defect),
            AnyDefect::Adapter(defect) => adapter_defect = Some(*defect),
        }
    }
    let target = TargetSession::open(TargetSpec::Embedded { config }, client)
        .await
        .map_err(|err| Failed::from(format!("cannot open the embedded target: {err}")))?;
    if adapter || adapter_defect.is_some() {
        let exe = std::path::Path::new(env!("CARGO_BIN_EXE_grpc-conformance"));
        let command = reference_command(exe, adapter_defect);
        let adapter = Adapter::start(&command)
            .await
            .map_err(|err| Failed::from(format!("cannot start the reference adapter: {err}")))?;
        target.attach_client(ClientUnderTest {
            adapter: Arc::new(adapter),
            only_clients: false,
        });
    }
    Ok(Arc::new(target))
}

/// The runner's rule for running scenarios side by side, kept by the test
/// threads against the shared healthy server: a scenario marked `exclusive`
/// runs with no other healthy run in flight (a write lock), the others
/// beside each other (a read lock). A self-test has a server of its own and
/// is not gated.
fn gate<T>(alone: bool, run: impl FnOnce() -> T) -> T {
    static GATE: RwLock<()> = RwLock::new(());
    if alone {
        let _alone = GATE
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        run()
    } else {
        let _beside = GATE
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        run()
    }
}

fn healthy() -> Result<Arc<TargetSession>, Failed> {
    static HEALTHY: OnceLock<Arc<TargetSession>> = OnceLock::new();
    if let Some(target) = HEALTHY.get() {
        return Ok(Arc::clone(target));
    }
    let target = runtime().block_on(open(&[], true))?;
    Ok(Arc::clone(HEALTHY.get_or_init(|| target)))
}

fn describe(finding: &harness::verdict::Finding) -> String {
    let mut text = format!("verdict {}", finding.verdict.as_str());
    if let Some((kind, reason)) = &finding.reason {
        text.push_str(&format!(" ({kind:?}): {reason}"));
    }
    for line in &finding.evidence {
        text.push_str(&format!("\n  evidence: {line}"));
    }
    text
}

fn passes(scenario: Arc<Scenario>) -> Result<(), Failed> {
    let target = healthy()?;
    let (finding, _) = gate(scenario.exclusive, || {
        runtime().block_on(run_scenario(&scenario, &target, 1, false))
    });
    if finding.verdict == Verdict::Pass {
        Ok(())
    } else {
        Err(format!(
            "{} against the healthy reference server: {}",
            scenario.id,
            describe(&finding)
        )
        .into())
    }
}

fn fails_against(
    scenario: Arc<Scenario>,
    defects: Vec<AnyDefect>,
    name: String,
) -> Result<(), Failed> {
    let finding = runtime().block_on(async {
        let client = scenario.driver.subject == Subject::Client;
        let target = open(&defects, client).await?;
        let (finding, _) = run_scenario(&scenario, &target, 1, false).await;
        target.close().await;
        Ok::<_, Failed>(finding)
    })?;
    // Only a violation counts: a scenario that runs out of its budget or
    // loses its target against the defect has not shown that it catches it.
    match (finding.verdict, &finding.reason) {
        (Verdict::Fail, Some((ReasonKind::Violation, reason))) if !reason.is_empty() => Ok(()),
        _ => Err(format!(
            "{} must fail with a violation against the defect {name}, but: {}",
            scenario.id,
            describe(&finding)
        )
        .into()),
    }
}

fn main() {
    let mut args = Arguments::from_args();
    // Most trials spend their time waiting (holds, paced responses, a
    // defect's timeout), so run as many at once as the runner does against
    // the embedded server; `gate` keeps the exclusive scenarios alone.
    if args.test_threads.is_none() {
        args.test_threads = Some(harness::runner::EMBEDDED_JOBS);
    }
    let catalog = match Catalog::load(&harness::default_scenarios_dir()) {
        Ok(catalog) => catalog,
        Err(errors) => {
            for error in errors {
                eprintln!("{error}");
            }
            std::process::exit(2);
        }
    };
    // Trials start in list order: the healthy runs of exclusive scenarios
    // first (one by one), the self-tests beside them (most wait out a
    // defect's timeout, the longest 15 s), then the other healthy runs.
    let mut alone = Vec::new();
    let mut selftests = Vec::new();
    let mut beside = Vec::new();
    let mut ids = BTreeSet::new();
    for scenario in &catalog.scenarios {
        ids.insert(scenario.id.clone());
        let healthy_run = Arc::clone(scenario);
        let trial = Trial::test(scenario.id.clone(), move || passes(healthy_run))
            .with_kind(scenario.area.as_str());
        if scenario.exclusive {
            alone.push(trial);
        } else {
            beside.push(trial);
        }
        for name in &scenario.defects {
            let Ok(defects) = harness::defects::parse_combination(name) else {
                continue; // validated when the catalog loaded
            };
            let defect_run = Arc::clone(scenario);
            let label = name.clone();
            selftests.push(
                Trial::test(format!("selftest::{}::{name}", scenario.id), move || {
                    fails_against(defect_run, defects, label)
                })
                .with_kind("selftest"),
            );
        }
    }
    let trials: Vec<Trial> = alone.into_iter().chain(selftests).chain(beside).collect();
    libtest_mimic::run(&args, trials).exit();
}
