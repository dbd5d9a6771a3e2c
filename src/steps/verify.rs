//! `verify`: the doctor ladder after the other steps. It changes nothing; the engine runs the
//! checks and reports the verdict (smoke inference joins when it lands).

use anyhow::Result;

use super::{Plan, Step, StepCtx};

/// The verify step.
pub struct Verify;

impl Step for Verify {
    fn id(&self) -> &'static str {
        "verify"
    }
    fn summary(&self) -> &'static str {
        "run the doctor ladder (flm validate included) and report the verdict"
    }
    fn plan(&self, _cx: &StepCtx) -> Result<Plan> {
        Ok(Plan::default())
    }
}
