//! Hidden developer commands: `dev facts` (print probed facts), `dev capture-fixture`,
//! `dev lemonade-ready` (the Lemonade unit's readiness check).

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::cli::{Cli, DevCommand};
use crate::host::{ProbeOptions, probe_all};
use crate::lemonade;
use crate::net::http::{Client, Timeouts, status_line};
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
        DevCommand::Man { out } => {
            let pages = super::man::write_pages(out)?;
            let mut stdout = std::io::stdout().lock();
            for p in pages {
                writeln!(stdout, "{}", p.display())?;
            }
            Ok(exit::OK)
        }
        DevCommand::CaptureFixture { out, user } => {
            let (runner, recipes) = super::setup(cli)?;
            crate::capture::capture(&runner, &recipes, out, user.as_deref())?;
            Ok(exit::OK)
        }
        DevCommand::LemonadeReady { url, load } => {
            if !(cli.timeout.is_finite() && cli.timeout > 0.0) {
                anyhow::bail!("--timeout must be a positive number of seconds, not {}", cli.timeout);
            }
            Ok(lemonade_ready(url, Duration::from_secs_f64(cli.timeout), load.as_deref()))
        }
    }
}

/// `dev lemonade-ready`: the ExecStartPost of the Lemonade unit. Polls `GET <url>/live` (no
/// API key needed) until it answers 200, then optionally loads a model
/// ([`lemonade::load_model`]) with the API key [`lemonade::api_key`] chooses (this runs in
/// the service's environment, so that is the service's own `LEMONADE_API_KEY`). The whole
/// run stays within `timeout`. Returns the exit code.
pub fn lemonade_ready(url: &str, timeout: Duration, load: Option<&str>) -> i32 {
    let url = url.trim_end_matches('/');
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let client = |t: Duration| Client::live(Timeouts::total(t.max(Duration::from_millis(100))));
    let live = lemonade::url(url, lemonade::LIVE);
    let mut last;
    loop {
        let r = client(left().min(Duration::from_secs(2))).probe(&live);
        if r.ok() {
            break;
        }
        last = match r.status {
            Some(s) => format!("HTTP {}", status_line(s)),
            None => r.error.unwrap_or_default(),
        };
        if left().is_zero() {
            eprintln!("Lemonade did not answer {live} within {} s (last: {last})", timeout.as_secs_f64());
            return exit::PROBLEMS;
        }
        std::thread::sleep(left().min(Duration::from_millis(500)));
    }
    println!("Lemonade answers at {live}");
    let Some(model) = load else { return exit::OK };
    let key = lemonade::api_key(None);
    match lemonade::load_model(&client(left()).bearer(key.as_deref()), url, model) {
        Ok(_) => {
            println!("loaded {model} ({})", lemonade::url(url, lemonade::LOAD));
            exit::OK
        }
        Err(e) => {
            eprintln!("loading {model} failed: {e}");
            exit::PROBLEMS
        }
    }
}
