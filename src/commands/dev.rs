//! Hidden developer commands: `dev facts` (print probed facts), `dev capture-fixture`,
//! `dev lemonade-ready` (the Lemonade unit's readiness check).

use std::io::Write;
use std::time::{Duration, Instant};

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
        DevCommand::Man { out } => {
            let pages = super::man::write_pages(out)?;
            let mut stdout = std::io::stdout().lock();
            for p in pages {
                writeln!(stdout, "{}", p.display())?;
            }
            Ok(exit::OK)
        }
        DevCommand::CaptureFixture { out, user } => crate::capture::capture(cli, out, user.as_deref()),
        DevCommand::LemonadeReady { url, load } => {
            if !(cli.timeout.is_finite() && cli.timeout > 0.0) {
                anyhow::bail!("--timeout must be a positive number of seconds, not {}", cli.timeout);
            }
            Ok(lemonade_ready(url, Duration::from_secs_f64(cli.timeout), load.as_deref()))
        }
    }
}

/// `dev lemonade-ready`: the ExecStartPost of the Lemonade unit. Polls `GET <url>/live` (no
/// API key needed) until it answers 200, then optionally `POST <url>/api/v1/load`
/// `{"model_name": …}` with `LEMONADE_API_KEY` from the environment as bearer token
/// (<https://github.com/lemonade-sdk/lemonade/blob/d88f5d96087d4daf40220206c09ca60116aed99b/src/cpp/server/server.cpp>).
/// The whole run stays within `timeout`. Returns the exit code.
pub fn lemonade_ready(url: &str, timeout: Duration, load: Option<&str>) -> i32 {
    let url = url.trim_end_matches('/');
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let agent = |t: Duration| -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(t.max(Duration::from_millis(100))))
            .http_status_as_error(false)
            .build()
            .into()
    };
    let live = format!("{url}/live");
    let mut last;
    loop {
        match agent(left().min(Duration::from_secs(2))).get(&live).call() {
            Ok(r) if r.status().is_success() => break,
            Ok(r) => last = format!("HTTP {}", r.status()),
            Err(e) => last = e.to_string(),
        }
        if left().is_zero() {
            eprintln!("Lemonade did not answer {live} within {} s (last: {last})", timeout.as_secs_f64());
            return exit::PROBLEMS;
        }
        std::thread::sleep(left().min(Duration::from_millis(500)));
    }
    println!("Lemonade answers at {live}");
    let Some(model) = load else { return exit::OK };
    let endpoint = format!("{url}/api/v1/load");
    let body = serde_json::json!({ "model_name": model }).to_string();
    let mut req = agent(left()).post(&endpoint).header("Content-Type", "application/json");
    let key = std::env::var("LEMONADE_API_KEY").ok().filter(|k| !k.is_empty());
    if let Some(k) = &key {
        req = req.header("Authorization", &format!("Bearer {k}"));
    }
    match req.send(body.as_bytes()) {
        Ok(r) if r.status().is_success() => {
            println!("loaded {model} ({endpoint})");
            exit::OK
        }
        Ok(mut r) => {
            let text = r.body_mut().with_config().limit(64 * 1024).read_to_string().unwrap_or_default();
            eprintln!("loading {model} failed: POST {endpoint} answered HTTP {}: {}", r.status(), text.trim());
            exit::PROBLEMS
        }
        Err(e) => {
            eprintln!("loading {model} failed: POST {endpoint}: {e}");
            exit::PROBLEMS
        }
    }
}
