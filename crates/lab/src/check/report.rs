//! What `lab check` reports: one outcome per scenario, and their summary.

use std::time::Duration;

/// The result of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    Skip,
}

/// One scenario's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: &'static str,
    pub verdict: Verdict,
    pub took: Duration,
    /// What was seen (on success) or what was missing (on failure).
    pub detail: String,
}

/// The whole run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub outcomes: Vec<Outcome>,
}

impl Report {
    /// No scenario failed.
    pub fn passed(&self) -> bool {
        self.outcomes.iter().all(|o| o.verdict != Verdict::Fail)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{:<4} {:<34} {:<6} {:>8}  DETAIL", "#", "SCENARIO", "RESULT", "TIME")?;
        for (n, o) in self.outcomes.iter().enumerate() {
            let v = match o.verdict {
                Verdict::Pass => "PASS",
                Verdict::Fail => "FAIL",
                Verdict::Skip => "SKIP",
            };
            let mut lines = o.detail.lines();
            writeln!(
                f,
                "{:<4} {:<34} {:<6} {:>7.1}s  {}",
                n + 1,
                o.name,
                v,
                o.took.as_secs_f64(),
                lines.next().unwrap_or("")
            )?;
            for l in lines {
                writeln!(f, "{:<58}  {l}", "")?;
            }
        }
        let count = |v: Verdict| self.outcomes.iter().filter(|o| o.verdict == v).count();
        writeln!(
            f,
            "{}: {} passed, {} failed, {} skipped ({:.1} s)",
            if self.passed() { "PASS" } else { "FAIL" },
            count(Verdict::Pass),
            count(Verdict::Fail),
            count(Verdict::Skip),
            self.outcomes.iter().map(|o| o.took.as_secs_f64()).sum::<f64>()
        )
    }
}
