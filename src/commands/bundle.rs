//! `doctor --bundle FILE.tar.gz`: a redacted support bundle that opens as a fixture.
//! (Placeholder until the bundle lands; see issue 6.)

use std::path::Path;

use anyhow::{Result, bail};

use crate::cli::Cli;
use crate::host::Facts;
use crate::report::Report;

/// Writes the support bundle.
pub fn write(_cli: &Cli, _facts: &Facts, _report: &Report, path: &Path) -> Result<()> {
    bail!("--bundle {}: support bundles are not built yet", path.display())
}
