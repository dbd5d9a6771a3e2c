//! One module per subcommand: orchestration only (probe -> check -> report).

pub mod bench;
pub mod bundle;
pub mod check;
pub mod completions;
pub mod config;
pub mod dev;
pub mod doctor;
pub mod install;
pub mod man;
pub mod recipes;
pub mod status;
pub mod undo;

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::cli::{Cli, ColorChoice};
use crate::recipes::Recipes;
use crate::root::Root;
use crate::runner::Runner;

/// Opens the root, loads recipes (`--data-dir` > the stored bundle > built in:
/// [`recipes::select`]) and builds the runner from the global options.
pub fn setup(cli: &Cli) -> Result<(Runner, Recipes)> {
    if !(cli.timeout.is_finite() && cli.timeout > 0.0) {
        bail!("--timeout must be a positive number of seconds, not {}", cli.timeout);
    }
    let root = Root::open(&cli.root)?;
    let recipes: Recipes = recipes::select(&root, cli.data_dir.as_deref())?.recipes;
    Ok((Runner::new(root, Duration::from_secs_f64(cli.timeout)), recipes))
}

/// Decides colour from `--color`, `NO_COLOR` and the terminal.
pub fn colors(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && console::Term::stdout().features().colors_supported()
        }
    }
}

/// Unicode glyphs when the locale says UTF-8.
pub fn unicode() -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .is_some_and(|v| v.to_uppercase().contains("UTF-8") || v.to_uppercase().contains("UTF8"))
}

/// True when `p` is `/`.
pub fn is_live(p: &Path) -> bool {
    std::fs::canonicalize(p).map(|c| c == Path::new("/")).unwrap_or(false)
}
