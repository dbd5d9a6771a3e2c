//! Hidden developer commands: `dev facts` (print probed facts), `dev capture-fixture`.

use std::io::Write;

use anyhow::Result;

use crate::cli::{Cli, DevCommand};
use crate::host::{ProbeOptions, probe_all};
use crate::report::exit;

/// Runs a dev subcommand.
pub fn run(cli: &Cli, cmd: &DevCommand) -> Result<i32> {
    match cmd {
        DevCommand::Facts => {
            let (runner, recipes) = super::setup(cli)?;
            let facts = probe_all(&runner, &recipes, &ProbeOptions::default());
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &facts)?;
            writeln!(out)?;
            Ok(exit::OK)
        }
        DevCommand::CaptureFixture { out, user } => crate::capture::capture(cli, out, user.as_deref()),
    }
}
