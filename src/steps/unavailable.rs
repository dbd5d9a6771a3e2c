//! Steps this version cannot carry out yet. They never pretend: when the doctor checks that
//! prove their layer pass, there is nothing to do; otherwise the plan says the step is not
//! available and which checks still fail.

use anyhow::Result;

use super::{Plan, Step, StepCtx};
use crate::checks::{CheckOptions, Status, run_checks};

/// A placeholder for a step whose implementation has not landed.
pub struct Unavailable {
    /// Step id.
    pub id: &'static str,
    /// What the step will do.
    pub summary: &'static str,
    /// Doctor checks that prove the layer (pass or skip = nothing to do).
    pub checks: &'static [&'static str],
    /// Where the work is tracked.
    pub tracked: &'static str,
}

impl Step for Unavailable {
    fn id(&self) -> &'static str {
        self.id
    }
    fn summary(&self) -> &'static str {
        self.summary
    }
    fn plan(&self, cx: &StepCtx) -> Result<Plan> {
        let only: Vec<String> = self.checks.iter().map(|s| s.to_string()).collect();
        let results = run_checks(cx.facts, cx.recipes, &CheckOptions::default(), &only, &[]);
        let failing: Vec<String> = results
            .iter()
            .filter(|r| matches!(r.status, Status::Fail | Status::Error))
            .map(|r| format!("{} ({})", r.id, r.summary))
            .collect();
        if failing.is_empty() {
            return Ok(Plan::default());
        }
        Ok(Plan {
            unavailable: Some(format!(
                "step `{}` is not implemented in this version ({}); still failing: {}",
                self.id,
                self.tracked,
                failing.join("; ")
            )),
            ..Default::default()
        })
    }
}
