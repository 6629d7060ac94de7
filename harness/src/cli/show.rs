//! `grpc-conformance list` and `explain`.

use clap::Args;

use super::{Selection, exit};

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// List the defect modes (reference server and client) instead.
    #[arg(long)]
    pub defects: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ExplainArgs {
    /// Scenario id, e.g. channel.parallel-rendezvous-8.
    pub id: String,
    /// Directory of scenario files.
    #[arg(long, value_name = "DIR")]
    pub scenarios: Option<std::path::PathBuf>,
}

pub fn list(args: &ListArgs) -> u8 {
    if args.defects {
        for (name, description) in crate::defects::describe_all() {
            println!("{name:<30} {description}");
        }
        return exit::OK;
    }
    match args.selection.load() {
        Ok((_, scenarios)) => {
            for scenario in scenarios {
                let needs = if scenario.needs.is_empty() {
                    String::new()
                } else {
                    format!(" [needs {}]", needs(&scenario))
                };
                println!(
                    "{:<44} {:<12} {}{needs}",
                    scenario.id,
                    scenario.mode().as_str(),
                    scenario.title
                );
            }
            exit::OK
        }
        Err(err) => {
            super::error(err);
            exit::USAGE
        }
    }
}

pub fn explain(args: &ExplainArgs) -> u8 {
    let selection = Selection {
        scenarios: args.scenarios.clone(),
        filters: Vec::new(),
        areas: Vec::new(),
    };
    let catalog = match selection.load() {
        Ok((catalog, _)) => catalog,
        Err(err) => {
            super::error(err);
            return exit::USAGE;
        }
    };
    let Some(scenario) = catalog.get(&args.id) else {
        super::error(format!(
            "no scenario {:?} (run `grpc-conformance list` for the ids)",
            args.id
        ));
        return exit::USAGE;
    };
    println!("{}: {}\n", scenario.id, scenario.title);
    println!("Area: {} — {}\n", scenario.area, scenario.area.guarantee());
    println!("Guarantee checked: {}\n", scenario.guarantee);
    println!(
        "Method ({} driver):\n{}\n",
        scenario.driver.name,
        indent(scenario.driver.method())
    );
    println!(
        "Evidence recorded:\n{}\n",
        indent(scenario.driver.evidence())
    );
    if let Some(notes) = &scenario.notes {
        println!("Notes: {}\n", notes.trim());
    }
    let params = scenario.effective_params();
    if !params.is_empty() {
        println!("Parameters (the driver's default unless marked as the file's choice):");
        for (name, value, chosen) in params {
            println!(
                "  {name} = {value}{}",
                if chosen {
                    "   (chosen by the file)"
                } else {
                    ""
                }
            );
        }
        println!();
    }
    println!(
        "Runs in: {} ({})\n",
        scenario.mode().describe(),
        match scenario.mode() {
            crate::scenario::Mode::TestService =>
                "a server without grpc.testing.TestService reports it as `skip`",
            crate::scenario::Mode::Health =>
                "it needs only grpc.health.v1.Health, so it runs against servers without TestService too",
            crate::scenario::Mode::Client =>
                "it checks a client library through its adapter, --client-cmd (the embedded run uses the suite's tonic adapter); the reference server observes",
        }
    );
    if !scenario.needs.is_empty() {
        println!(
            "Needs: {} (a target without them reports `skip` with the reason)\n",
            needs(scenario)
        );
    }
    println!(
        "Time budget: {} ms (exceeding it is a `fail` with reason kind `timeout`)\n",
        scenario.budget_ms
    );
    if scenario.exclusive {
        println!(
            "Runs alone: no other scenario is in flight against the target while it runs, whatever --jobs says\n"
        );
    } else if scenario.one_run_at_a_time {
        println!(
            "Runs beside others under --jobs, but never beside a copy of itself (--repeat): it holds much memory for a moment\n"
        );
    } else {
        println!(
            "Runs beside others under --jobs: its evidence is kept to its own connections and names\n"
        );
    }
    if !scenario.defects.is_empty() {
        println!(
            "Self-test: fails against the defect mode(s) {} of the reference server/client\n",
            scenario.defects.join(", ")
        );
    }
    println!("Run it: grpc-conformance run --filter {}", scenario.id);
    println!(
        "  against a server: grpc-conformance run --target http://127.0.0.1:50051 --filter {}",
        scenario.id
    );
    println!(
        "  against a command: grpc-conformance run --server-cmd './server --port {{port}}' --filter {}",
        scenario.id
    );
    println!("File: {}", scenario.path.display());
    exit::OK
}

/// The capabilities a scenario needs, comma-separated.
fn needs(scenario: &crate::scenario::Scenario) -> String {
    scenario
        .needs
        .iter()
        .map(|need| need.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Indents wrapped documentation text by two spaces.
fn indent(text: &str) -> String {
    text.lines()
        .map(|line| {
            if line.is_empty() {
                String::new()
            } else {
                format!("  {line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
