//! `verify`: the doctor ladder after the other steps, plus the smoke inferences (NPU through
//! Lemonade, the GPU endpoint, Whisper when configured) once no reboot is owed. It changes
//! nothing; the engine runs the checks and reports the verdict.

use anyhow::Result;

use super::{Plan, Step, StepCtx};

/// The verify step.
pub struct Verify;

impl Step for Verify {
    fn id(&self) -> &'static str {
        "verify"
    }
    fn summary(&self) -> &'static str {
        "run the doctor ladder (flm validate included) and smoke inferences; report the verdict"
    }
    fn plan(&self, _cx: &StepCtx) -> Result<Plan> {
        Ok(Plan::default())
    }
}
