//! Install options: the `install` command line, which doubles as the YAML config file
//! (`--config`; keys are the long flag names). Defined here, where the steps read them; the
//! CLI re-exports them.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

pub use crate::knowledge::routes::FromMode;

/// What install does after converging when a reboot is owed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RebootPolicy {
    /// Never reboot; exit 3 and say so
    #[default]
    Never,
    /// Reboot at the end when a change needs it
    IfNeeded,
}

/// `install` arguments. They double as the YAML config file (`--config`): keys are the long
/// flag names; options given on the command line override the file.
#[derive(Debug, Clone, Args, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct InstallArgs {
    /// Print the exact plan (commands, file diffs) and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Apply without asking (required without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    // Its values are the step ids: completions offer them and a typo is a usage error.
    /// Run only these steps (ids, repeatable or comma-separated)
    #[arg(long, value_name = "STEP", value_delimiter = ',', value_parser = step_ids())]
    pub only: Vec<String>,
    /// Skip these steps (ids, repeatable or comma-separated)
    #[arg(long, value_name = "STEP", value_delimiter = ',', value_parser = step_ids())]
    pub skip: Vec<String>,
    /// Read options from this YAML file (keys = long flag names)
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// The user who runs inference (device access, memlock)
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Reboot at the end if a change needs it
    #[arg(long, value_enum, default_value_t = RebootPolicy::Never)]
    pub reboot: RebootPolicy,
    /// Continue without an NPU or a distro recipe (image builds)
    #[arg(long)]
    pub force: bool,
    /// Deprecated: use --format json (the plan and the result, one document)
    #[arg(long, hide = true)]
    pub plan_json: bool,
    /// First-boot mode (the npu-setup-firstboot unit after a kickstart): apply without asking,
    /// finish the device-dependent steps, verify, and clear the first-boot marker once converged
    #[arg(long)]
    #[serde(skip)]
    pub firstboot: bool,
    /// Install Lemonade from this package (URL or local file) instead of the recipe's
    #[arg(long, value_name = "URL|PATH")]
    pub lemonade_package: Option<String>,
    /// Port Lemonade listens on (default: its version's, 8000 for 10.0, else 13305)
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub lemonade_port: Option<u16>,
    /// Address Lemonade binds to (default 127.0.0.1; others need LEMONADE_API_KEY set)
    #[arg(long, value_name = "ADDR")]
    pub lemonade_host: Option<String>,
    /// FLM model tag to pull (repeatable; default: the recipe's list)
    #[arg(long = "model", value_name = "TAG")]
    pub model: Vec<String>,
    /// GPU endpoint for verify's smoke and later doctor/bench runs: health URL or OpenAI base
    /// (default llama-swap, http://127.0.0.1:8080/health)
    #[arg(long, value_name = "URL")]
    pub gpu_url: Option<String>,
    /// GPU model for verify's smoke and later doctor/bench runs (default: the first it lists)
    #[arg(long, value_name = "MODEL")]
    pub gpu_model: Option<String>,
    /// Where components come from: packages where a packaged route satisfies the compatibility
    /// matrix, else the pinned source builds (auto); packages only; or the source builds
    #[arg(long, value_enum, default_value_t = FromMode::Auto)]
    pub from: FromMode,
    /// Driver path instead of the matrix's choice (warns when it contradicts the matrix)
    #[arg(long, value_name = "PATH", value_parser = ["in-tree", "xdna-dkms", "backport-dkms"])]
    pub driver: Option<String>,
    /// Directory of pre-cloned source trees (<dir>/xdna-driver, <dir>/fastflowlm; air-gapped sites)
    #[arg(long, value_name = "DIR")]
    pub source_dir: Option<PathBuf>,
    /// Clone a source from a mirror: ID=URL (repeatable; ids in recipes/sources.yaml)
    #[arg(long, value_name = "ID=URL")]
    pub source_url: Vec<String>,
}

/// The step ids as the values `--only`/`--skip` take.
fn step_ids() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(crate::model::STEP_IDS.iter().copied())
}
