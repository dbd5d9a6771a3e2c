//! `check --kernel KVER` / `check --next-boot`: per-kernel NPU readiness.
//! (Placeholder until the kernel checks land; see issue 6.)

use anyhow::{Result, bail};

use crate::cli::{CheckArgs, Cli};

/// Runs `check`.
pub fn run(_cli: &Cli, _args: &CheckArgs) -> Result<i32> {
    bail!("check is not built yet")
}
