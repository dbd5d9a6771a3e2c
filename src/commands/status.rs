//! `status [--wait]`: the verdict the boot-time check recorded.
//! (Placeholder until the boot unit lands; see issue 6.)

use anyhow::{Result, bail};

use crate::cli::{Cli, StatusArgs};

/// Runs `status`.
pub fn run(_cli: &Cli, _args: &StatusArgs) -> Result<i32> {
    bail!("status is not built yet")
}
