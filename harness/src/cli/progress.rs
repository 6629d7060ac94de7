//! Progress while scenarios run: a bar on a terminal, plain lines in CI or
//! when output is redirected.

use std::io::IsTerminal;

use console::style;
use indicatif::{ProgressBar, ProgressStyle};

use crate::report::{ScenarioResult, run_suffix};
use crate::runner::Observer;
use crate::scenario::Scenario;
use crate::verdict::Verdict;

pub struct Progress {
    bar: Option<ProgressBar>,
    /// The scenarios in flight, as the bar's message names them.
    running: Vec<String>,
}

impl Progress {
    pub fn new(total: usize) -> Self {
        let interactive = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let bar = interactive.then(|| {
            let bar = ProgressBar::new(total as u64);
            if let Ok(template) = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
            ) {
                bar.set_style(template);
            }
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Self {
            bar,
            running: Vec::new(),
        }
    }

    fn show_running(&self) {
        if let Some(bar) = &self.bar {
            bar.set_message(self.running.join(", "));
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The verdict word, coloured for terminals.
pub fn verdict_label(verdict: Verdict) -> String {
    let word = format!("{:<5}", verdict.as_str().to_uppercase());
    match verdict {
        Verdict::Pass => style(word).green().to_string(),
        Verdict::Fail => style(word).red().bold().to_string(),
        Verdict::Skip => style(word).dim().to_string(),
        Verdict::Error => style(word).yellow().bold().to_string(),
    }
}

impl Observer for Progress {
    fn started(&mut self, scenario: &Scenario, attempt: u32, _index: usize, _total: usize) {
        self.running
            .push(format!("{}{}", scenario.id, run_suffix(attempt)));
        self.show_running();
    }

    fn finished(&mut self, result: &ScenarioResult, index: usize, total: usize) {
        let run = run_suffix(result.attempt);
        let name = format!("{}{run}", result.id);
        self.running.retain(|running| *running != name);
        self.show_running();
        let mut line = format!(
            "[{index:>3}/{total}] {} {}{run} ({} ms)",
            verdict_label(result.verdict),
            result.id,
            result.duration_ms
        );
        if let Some(reason) = &result.reason {
            line.push_str(&format!("\n          {}", style(reason).dim()));
        }
        match &self.bar {
            Some(bar) => {
                bar.println(line);
                bar.inc(1);
            }
            None => eprintln!("{line}"),
        }
    }
}
