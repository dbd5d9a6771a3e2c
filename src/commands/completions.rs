//! `completions SHELL`: shell completion scripts from the clap definitions.
//! (Placeholder until packaging lands; see issue 6.)

use anyhow::{Result, bail};

/// Prints the completion script for `shell`.
pub fn run(_shell: clap_complete::Shell) -> Result<i32> {
    bail!("completions are not built yet")
}
