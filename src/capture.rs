//! `npu-setup dev capture-fixture`: copies what the probes read from this host into a
//! fixture tree (see tests/fixtures/hosts/README.md), with redaction.

use std::path::Path;

use anyhow::{Result, bail};

use crate::cli::Cli;

/// Captures the host under `--root` into `out`.
pub fn capture(_cli: &Cli, out: &Path, _user: Option<&str>) -> Result<i32> {
    bail!("capture-fixture into {} is not available in this build yet", out.display())
}
