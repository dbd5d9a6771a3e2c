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
pub mod progress;
pub mod recipes;
pub mod status;
pub mod undo;

use std::io::Write;
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

/// Decides colour of stdout from `--color`, `NO_COLOR` and the terminal: never into a pipe
/// or a file in `auto`.
pub fn colors(choice: ColorChoice) -> bool {
    colors_on(choice, &console::Term::stdout())
}

/// The same decision for stderr (logs, progress, errors): `--color never` holds there too.
pub fn colors_stderr(choice: ColorChoice) -> bool {
    colors_on(choice, &console::Term::stderr())
}

fn colors_on(choice: ColorChoice, term: &console::Term) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && term.features().colors_supported()
        }
    }
}

/// A command's standard output. In the human form outside UTF-8 locales every character is
/// spelled in ASCII ([`crate::report::ascii`]); JSON and YAML stay UTF-8 (they are data). A
/// reader that goes away (`npu-setup doctor | head -1`) ends the output quietly: what is
/// written after that is dropped, and the command finishes and exits as it would have.
pub struct Out {
    inner: Box<dyn Write>,
    closed: bool,
}

/// Standard output for a command printing in `format`.
pub fn stdout(format: crate::model::Format) -> Out {
    let lock = std::io::stdout().lock();
    let inner: Box<dyn Write> = if format == crate::model::Format::Human && !unicode() {
        Box::new(crate::report::ascii::AsciiWriter::new(lock))
    } else {
        Box::new(lock)
    };
    Out { inner, closed: false }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        match self.inner.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}

/// True when `e` (or what caused it) is a write to a pipe nobody reads any more: not a
/// failure of the command (`| head` has what it wanted).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
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
