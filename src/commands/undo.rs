//! `undo [RUN]`: puts back what an install run changed (default: the last one), from the
//! journal and the backups under var/lib/npu-setup ([`crate::steps::undo`]). Refuses when
//! the journal is missing or damaged, when a backup is, or when a file changed since the run
//! (unless `--force`); holds install's lock while it changes anything. Packages, repositories
//! and DKMS modules the run installed are listed with their removal commands, and removed
//! only with `--packages`.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::cli::{Cli, UndoArgs};
use crate::model::Format;
use crate::report::{emit, exit};
use crate::root::Root;
use crate::runner::Runner;
use crate::state::{JournalEntry, StateDir, journal_path, now, read_journal};
use crate::steps::undo::{self, UNDONE, UndoPlan};

/// What `undo` prints: the plan, and what was done (`apiVersion: npu-setup/v1`, `kind: Undo`).
#[derive(Debug, Serialize)]
struct UndoDoc<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    dry_run: bool,
    #[serde(flatten)]
    plan: &'a UndoPlan,
    /// Changes made (empty on a dry run).
    done: Vec<String>,
}

/// Runs `undo`; returns the exit code.
pub fn run(cli: &Cli, args: &UndoArgs) -> Result<i32> {
    if matches!(cli.format, Format::Prometheus) {
        bail!("undo has no prometheus form; use --format json or yaml");
    }
    let root = Root::open(&cli.root)?;
    let runner = Runner::new(root.clone(), Duration::from_secs_f64(cli.timeout));
    // Read before the lock for a dry run (which writes nothing, not even the lock file);
    // read again under the lock before changing anything.
    let (entries, run) = load(&root, args)?;
    let plan = planned(&root, &runner, &entries, &run, args)?;
    if !plan.changed_since.is_empty() && !args.force {
        bail!(
            "refusing to undo run {run}: changed since the run: {}; `undo --force` puts back what the run found anyway (those changes are lost)",
            plan.changed_since.join(", ")
        );
    }
    let mut out = std::io::stdout().lock();
    let human = |w: &mut dyn Write, plan: &UndoPlan, done: &[String], dry: bool| -> Result<()> {
        w.write_all(undo::render(plan, args.packages).as_bytes())?;
        if dry {
            writeln!(w, "dry run: nothing changed")?;
        } else {
            writeln!(w, "undone: run {} ({} change(s))", plan.run, done.len())?;
        }
        Ok(())
    };
    if args.dry_run {
        let doc = UndoDoc { api_version: "npu-setup/v1", kind: "Undo", dry_run: true, plan: &plan, done: Vec::new() };
        emit(&mut out, cli.format, "undo", &doc, |w| human(w, &plan, &[], true), None)?;
        return Ok(exit::OK);
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
            bail!("refusing to change the host without confirmation: there is no terminal to ask on; pass --yes");
        }
        eprint!("{}", undo::render(&plan, args.packages));
        let ok = dialoguer::Confirm::new()
            .with_prompt(format!("Undo install run {run}?"))
            .default(false)
            .interact()
            .context("reading the answer")?;
        if !ok {
            writeln!(out, "nothing changed")?;
            return Ok(exit::PROBLEMS);
        }
    }
    let st = StateDir::lock(&root)?;
    let (entries, _) = load(&root, &UndoArgs { run: Some(run.clone()), ..args.clone() })?;
    let plan = planned(&root, &runner, &entries, &run, args)?;
    let mut done = undo::apply_files(&root, &plan)?;
    let mut failed = None;
    if args.packages {
        for (i, c) in plan.commands.iter().enumerate() {
            let r = crate::steps::action::run_logged(
                &runner,
                &st,
                "undo",
                i + 1,
                None,
                &[],
                &c.argv,
                crate::steps::action::STEP_COMMAND_TIMEOUT,
                &|_| {},
            );
            match r {
                Ok(()) => done.push(format!("ran {}", crate::runner::quote_argv(&c.argv))),
                Err(e) => {
                    failed = Some(format!("{e:#}"));
                    break;
                }
            }
        }
    }
    for d in &done {
        st.journal(&entry(&st, "undo", d.clone()))?;
    }
    if failed.is_none() {
        st.journal(&entry(&st, UNDONE, run.clone()))?;
        forget(&st, &run)?;
    }
    let doc = UndoDoc { api_version: "npu-setup/v1", kind: "Undo", dry_run: false, plan: &plan, done: done.clone() };
    emit(&mut out, cli.format, "undo", &doc, |w| human(w, &plan, &done, false), None)?;
    if let Some(f) = failed {
        eprintln!("error: a removal command failed (the run is not marked undone; run undo again): {f}");
        return Ok(exit::PROBLEMS);
    }
    Ok(exit::OK)
}

/// The plan; for a run undone already, `--packages` runs only the removals (its files were
/// put back then).
fn planned(root: &Root, runner: &Runner, entries: &[JournalEntry], run: &str, args: &UndoArgs) -> Result<UndoPlan> {
    let mut plan = undo::plan(root, runner, entries, run).context("refusing to undo")?;
    if undo::is_undone(entries, run) && args.packages && !args.force {
        plan.files.clear();
        plan.changed_since.clear();
        plan.not_undone.retain(|n| !n.contains("no backup was kept"));
    }
    Ok(plan)
}

/// The journal and the run to undo; refusals name the journal.
fn load(root: &Root, args: &UndoArgs) -> Result<(Vec<JournalEntry>, String)> {
    let journal = Root::display(journal_path());
    let entries = read_journal(root)
        .context("refusing to undo")?
        .with_context(|| format!("nothing to undo: there is no journal at {journal} (no install ran on this root)"))?;
    let run = match &args.run {
        Some(r) => r.clone(),
        None => undo::last_run(&entries)
            .with_context(|| format!("nothing to undo: {journal} records no install run that is not undone"))?,
    };
    if undo::is_undone(&entries, &run) && !args.force && !args.packages {
        bail!("run {run} was undone already ({journal}); `undo --force {run}` does it again");
    }
    Ok((entries, run))
}

fn entry(st: &StateDir, action: &str, target: String) -> JournalEntry {
    JournalEntry {
        run: st.run_id().to_string(),
        at: now(),
        step: "undo".into(),
        action: action.into(),
        target,
        backup: None,
        before: None,
        after: None,
        created: Vec::new(),
        argv: Vec::new(),
    }
}

/// The state file forgets what the undone run recorded: its steps and the reboot it owed.
fn forget(st: &StateDir, run: &str) -> Result<()> {
    let mut s = st.load()?;
    s.steps.retain(|_, r| r.run != run);
    if s.reboot.as_ref().is_some_and(|r| r.run == run) {
        s.reboot = None;
    }
    st.save(&s)
}
