//! `npu-setup install`: probe -> plan every step -> show the plan -> confirm -> lock ->
//! apply step by step (re-probing before each, verifying after) -> doctor verdict.
//!
//! Idempotent by construction: a step plans from the host as it is now, so a second run
//! plans nothing, and an interrupted run resumes by planning again.

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result, bail};
use clap::ArgMatches;
use clap::parser::ValueSource;
use serde::Serialize;

use crate::checks::{CheckOptions, run_checks};
use crate::cli::{Cli, Format, InstallArgs, RebootPolicy};
use crate::host::{Facts, ProbeOptions, probe_all};
use crate::recipes::Recipes;
use crate::report::human::{HumanOptions, render};
use crate::report::{Report, exit};
use crate::runner::{Runner, quote_argv};
use crate::state::{RebootPending, StateDir, StepRecord, now};
use crate::steps::{self, Plan, Step, StepCtx, action};

use super::progress::Progress;

/// Directories of the files install edits (beside `recipes/files.yaml`'s, and whatever the
/// journal names), swept for a killed run's temporary files at startup.
const LEFTOVER_DIRS: &[&str] =
    &["etc/default", "etc/kernel", "boot/loader/entries", "efi/loader/entries", "boot/efi/loader/entries"];

/// Apply/re-plan rounds a step may take before it counts as not converging.
const MAX_ROUNDS: usize = 4;

/// Reads the config file and lets options given on the command line win.
pub fn merge_config(cli_args: &InstallArgs, matches: Option<&ArgMatches>) -> Result<InstallArgs> {
    let Some(path) = &cli_args.config else { return Ok(cli_args.clone()) };
    let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
    let mut merged: InstallArgs =
        crate::parse::yaml::from_str(&text).map_err(|e| anyhow::anyhow!("{}{}", path.display(), e.located()))?;
    validate_config(&path.display().to_string(), &text)?;
    merged.config = cli_args.config.clone();
    let given = |id: &str| matches.is_some_and(|m| m.value_source(id) == Some(ValueSource::CommandLine));
    macro_rules! take {
        ($($f:ident),*) => {$( if given(stringify!($f)) { merged.$f = cli_args.$f.clone(); } )*};
    }
    take!(
        dry_run,
        yes,
        only,
        skip,
        user,
        reboot,
        force,
        plan_json,
        lemonade_package,
        lemonade_port,
        lemonade_host,
        model,
        from,
        driver,
        source_dir,
        source_url,
        gpu_url,
        gpu_model
    );
    merged.firstboot = cli_args.firstboot;
    Ok(merged)
}

/// Runs every value of a config file through the parser of its command-line option, so a
/// value the command line refuses (`--driver nvidia`, `--lemonade-port 0`) is refused in the
/// file too, naming the file and line. The file's types and keys were checked by serde.
fn validate_config(file: &str, text: &str) -> Result<()> {
    use clap::Args;
    let Ok(serde_yaml::Value::Mapping(map)) = crate::parse::yaml::from_str::<serde_yaml::Value>(text) else {
        return Ok(());
    };
    let cmd = InstallArgs::augment_args(clap::Command::new("install"));
    for (key, value) in &map {
        let Some(key) = key.as_str() else { continue };
        let Some(arg) = cmd.get_arguments().find(|a| a.get_long() == Some(key)) else { continue };
        let values = match value {
            serde_yaml::Value::Sequence(items) => items.iter().collect(),
            v => vec![v],
        };
        for v in values {
            let raw = match v {
                serde_yaml::Value::String(s) => s.clone(),
                serde_yaml::Value::Number(n) => n.to_string(),
                // Flags, and shapes serde already refused or accepted.
                _ => continue,
            };
            // The option's own parser, exactly as on the command line.
            let argv = ["install".to_string(), format!("--{key}={raw}")];
            if let Err(e) = cmd.clone().try_get_matches_from(argv) {
                let possible: Vec<String> =
                    arg.get_possible_values().iter().map(|p| p.get_name().to_string()).collect();
                let why = match std::error::Error::source(&e) {
                    Some(cause) => cause.to_string(),
                    None if !possible.is_empty() => format!("possible values: {}", possible.join(", ")),
                    None => e.kind().to_string(),
                };
                let line = key_line(text, key).map(|l| format!(":{l}")).unwrap_or_default();
                bail!("{file}{line}: {key}: invalid value {raw:?} ({why}); the same value is refused as --{key}");
            }
        }
    }
    Ok(())
}

/// 1-based line of a top-level `key:` in a YAML mapping (plain or quoted key).
fn key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            [format!("{key}:"), format!("\"{key}\":"), format!("'{key}':")].iter().any(|k| l.starts_with(k.as_str()))
        })
        .map(|i| i + 1)
}

/// One step's plan, as printed and as JSON.
#[derive(Debug, Clone, Serialize)]
struct StepPlan<'a> {
    id: &'a str,
    summary: &'a str,
    plan: Plan,
}

/// The facts steps plan on: the same options as the closing verdict's without `--smoke`,
/// so a converged run judges on the facts it planned on instead of probing again.
fn probe(runner: &Runner, recipes: &Recipes, args: &InstallArgs) -> Facts {
    probe_all(
        runner,
        recipes,
        &ProbeOptions {
            user: args.user.clone(),
            gpu_url: args.gpu_url.clone(),
            gpu_model: args.gpu_model.clone(),
            ..Default::default()
        },
    )
}

/// Steps in install order, and the prerequisites `--only` brought in.
type Selection = (Vec<Box<dyn Step>>, Vec<&'static str>);

/// The steps `--only` / `--skip` select.
fn selected(args: &InstallArgs) -> Result<Selection> {
    let ids = steps::ids();
    for id in args.only.iter().chain(&args.skip) {
        if !ids.contains(&id.as_str()) {
            bail!("unknown step {id:?}; steps: {}", ids.join(", "));
        }
    }
    // `--only X` does what it says: X's prerequisites come along (each plans nothing when
    // already in place); `--skip` still wins.
    let (wanted, added) =
        if args.only.is_empty() { (ids.clone(), Vec::new()) } else { steps::with_prerequisites(&args.only) };
    let added = added.into_iter().filter(|a| !args.skip.iter().any(|k| k == a)).collect();
    let steps = steps::all()
        .into_iter()
        .filter(|s| wanted.contains(&s.id()) && !args.skip.iter().any(|k| k == s.id()))
        .collect();
    Ok((steps, added))
}

/// `12 change(s): kargs 3, loader 2, …` — what the confirmation counts.
fn counts(plans: &[StepPlan]) -> String {
    let total: usize = plans.iter().map(|p| p.plan.actions.len()).sum();
    let per: Vec<String> = plans
        .iter()
        .filter(|p| !p.plan.actions.is_empty())
        .map(|p| format!("{} {}", p.id, p.plan.actions.len()))
        .collect();
    if per.is_empty() { format!("{total} change(s)") } else { format!("{total} change(s): {}", per.join(", ")) }
}

fn print_plan(out: &mut dyn Write, root: &crate::root::Root, plans: &[StepPlan]) -> Result<()> {
    for sp in plans {
        let p = &sp.plan;
        let head = if let Some(b) = &p.blocked {
            format!("BLOCKED: {b}")
        } else if let Some(u) = &p.unavailable {
            format!("not available: {u}")
        } else if p.actions.is_empty() {
            "nothing to do".to_string()
        } else {
            format!("{} change(s)", p.actions.len())
        };
        writeln!(out, "[{}] {} — {head}", sp.id, sp.summary)?;
        for a in &p.actions {
            for (i, line) in a.render(root).lines().enumerate() {
                writeln!(out, "    {}{line}", if i == 0 { "- " } else { "  " })?;
            }
        }
        for n in &p.notes {
            writeln!(out, "    note: {n}")?;
        }
        if let Some(r) = &p.reboot {
            writeln!(out, "    reboot: {r}")?;
        }
    }
    Ok(())
}

/// Asks once on a terminal; refuses without one unless `--yes`.
fn confirm(count: usize) -> Result<bool> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        bail!(
            "refusing to change the host without confirmation: there is no terminal to ask on; pass --yes (or yes: true in the --config file)"
        );
    }
    dialoguer::Confirm::new()
        .with_prompt(format!("Apply these {count} change(s)?"))
        .default(false)
        .interact()
        .context("reading the answer")
}

/// Runs install; returns the exit code.
pub fn run(cli: &Cli, cli_args: &InstallArgs, matches: Option<&ArgMatches>) -> Result<i32> {
    if !cli_args.firstboot {
        return converge(cli, cli_args, matches);
    }
    // First boot after a kickstart / image install: the options the offline run left behind
    // (else the admin's install.yaml), no questions, and the marker cleared once converged.
    use crate::steps::lifecycle::{FIRSTBOOT_CONFIG, FIRSTBOOT_MARKER};
    let root = crate::root::Root::open(&cli.root)?;
    if root.mode() == crate::root::RootMode::Offline {
        bail!("--firstboot finishes the install on the booted system; this root is not running");
    }
    let mut a = cli_args.clone();
    if a.config.is_none() {
        a.config = [FIRSTBOOT_CONFIG, "etc/npu-setup/install.yaml"]
            .iter()
            .find(|c| root.exists(c))
            .map(|c| root.host_path(c))
            .transpose()?;
    }
    a.yes = true;
    let code = converge(cli, &a, matches)?;
    // After a document (--format json|yaml) nothing more goes to stdout.
    let say = |m: String| if cli.format == Format::Human && !a.plan_json { println!("{m}") } else { eprintln!("{m}") };
    if code == exit::OK && root.exists(FIRSTBOOT_MARKER) {
        root.remove_file(FIRSTBOOT_MARKER)?;
        say(format!(
            "first boot: install finished; {} will not run again",
            crate::steps::lifecycle::FIRSTBOOT_UNIT_NAME
        ));
    } else if code != exit::OK {
        say(format!(
            "first boot: not finished (exit {code}); {} runs again at the next boot",
            crate::steps::lifecycle::FIRSTBOOT_UNIT_NAME
        ));
    }
    Ok(code)
}

/// `install --format json|yaml`: the plan and what became of it, as one document
/// (`apiVersion: npu-setup/v1`, `kind: Install`). The text install prints is not in it;
/// progress still goes to stderr.
#[derive(Debug, Default, Serialize)]
struct InstallDoc {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    /// Planned only (`--dry-run`).
    dry_run: bool,
    /// The steps `--only` brought in because the selected ones need them.
    prerequisites: Vec<&'static str>,
    /// Per selected step, what it planned before anything was applied.
    plan: Vec<StepPlan<'static>>,
    /// The step that blocked the install, and why.
    blocked: Option<String>,
    /// The run id (the journal's, for `undo`), when something was applied.
    run: Option<String>,
    /// What each step did in this run.
    steps: std::collections::BTreeMap<String, StepRecord>,
    /// The step that failed, and why.
    failed: Option<String>,
    /// Why a reboot is required (empty: none).
    reboot: Vec<String>,
    /// This run's log directory.
    logs: Option<String>,
    /// The doctor verdict after the install.
    verdict: Option<Report>,
    /// The exit code install returns.
    exit_code: i32,
}

/// One install run: plan, confirm, apply, verify. With `--format json|yaml` (or the
/// deprecated `--plan-json`) the text goes nowhere and one document is printed at the end.
fn converge(cli: &Cli, cli_args: &InstallArgs, matches: Option<&ArgMatches>) -> Result<i32> {
    let format = match (cli.format, cli_args.plan_json) {
        (Format::Prometheus, _) => bail!("install has no prometheus form; use --format json or yaml"),
        (Format::Human, true) => {
            eprintln!("warning: --plan-json is deprecated: use --format json (the plan and its result, one document)");
            Format::Json
        }
        (f, _) => f,
    };
    if format == Format::Human {
        // ASCII outside UTF-8 locales, and a closed pipe is a normal end (commands::Out).
        let mut out = super::stdout(format);
        return converge_to(cli, cli_args, matches, &mut out, &mut InstallDoc::default());
    }
    let mut doc = InstallDoc { api_version: "npu-setup/v1", kind: "Install", ..Default::default() };
    let code = converge_to(cli, cli_args, matches, &mut std::io::sink(), &mut doc)?;
    doc.exit_code = code;
    crate::report::emit(&mut std::io::stdout().lock(), format, "install", &doc, |_| Ok(()), None)?;
    Ok(code)
}

fn converge_to(
    cli: &Cli,
    cli_args: &InstallArgs,
    matches: Option<&ArgMatches>,
    out: &mut dyn Write,
    doc: &mut InstallDoc,
) -> Result<i32> {
    let mut args = merge_config(cli_args, matches)?;
    if cli_args.firstboot {
        args.yes = true;
    }
    let (runner, recipes) = super::setup(cli)?;
    let root = runner.root().clone();
    let (steps, added) = selected(&args)?;
    doc.dry_run = args.dry_run;
    doc.prerequisites = added.clone();
    if !added.is_empty() {
        writeln!(
            out,
            "--only {} also runs what it needs first: {} (a step already in place plans nothing)\n",
            args.only.join(","),
            added.join(", ")
        )?;
    }

    let facts = probe(&runner, &recipes, &args);
    if root_is_offline(&root) {
        let k = facts.kernel.ok();
        let host = nix::sys::utsname::uname().ok().map(|u| u.release().to_string_lossy().into_owned());
        writeln!(
            out,
            "{}: nothing in it is running{}. Target kernel: {} ({}). Offline-safe steps only: services are enabled, not started; {} finishes the rest at the first boot.\n",
            if root.is_chroot() {
                "Installing inside a chroot (kickstart %post, image build)"
            } else {
                "Installing into an offline root"
            },
            host.map(|h| format!(" (the kernel running this, {h}, is the installer's)")).unwrap_or_default(),
            k.and_then(|k| k.target.as_deref()).unwrap_or("none found under /lib/modules"),
            k.and_then(|k| k.target_source.as_deref()).unwrap_or("?"),
            crate::steps::lifecycle::FIRSTBOOT_UNIT_NAME,
        )?;
    }
    let mut plans = Vec::new();
    // What earlier steps of this plan install: later ones plan on it instead of blocking.
    let mut planned: Vec<String> = Vec::new();
    for s in &steps {
        let cx = StepCtx::new(&root, &runner, &facts, &recipes, &args).preview(&planned);
        let plan = steps::plan_for_install(s.as_ref(), &cx)?;
        planned.extend(plan.installs.iter().cloned());
        plans.push(StepPlan { id: s.id(), summary: s.summary(), plan });
    }
    print_plan(out, &root, &plans)?;
    doc.plan = plans.clone();
    if let Some(b) = plans.iter().find(|p| p.plan.blocked.is_some()) {
        writeln!(out, "\ninstall stops here: [{}] {}", b.id, b.plan.blocked.as_deref().unwrap_or(""))?;
        doc.blocked = Some(format!("[{}] {}", b.id, b.plan.blocked.as_deref().unwrap_or("")));
        return Ok(exit::PROBLEMS);
    }
    let total: usize = plans.iter().map(|p| p.plan.actions.len()).sum();
    if args.dry_run {
        writeln!(out, "\ndry run: nothing changed; planned {}", counts(&plans))?;
        return Ok(exit::OK);
    }
    if total == 0 {
        // Converged: take no lock, write no state, run nothing that changes the host.
        writeln!(out, "\nEverything is in place: nothing to change.")?;
        let mut reasons: Vec<String> =
            plans.iter().filter_map(|p| p.plan.reboot.clone().map(|r| format!("{}: {r}", p.id))).collect();
        for r in crate::state::pending_reboot(&root).map(|r| r.reasons).unwrap_or_default() {
            if !reasons.contains(&r) {
                reasons.push(r);
            }
        }
        let smoke = reasons.is_empty() && verifying(&steps);
        let report = verdict(cli, out, &runner, &recipes, &args, smoke, Some(facts))?;
        doc.verdict = Some(report.clone());
        doc.reboot = reasons.clone();
        if !reasons.is_empty() {
            writeln!(out, "reboot required: {}", reasons.join("; "))?;
            return Ok(exit::REBOOT);
        }
        return Ok(if report.diagnosis.state == "broken" { exit::PROBLEMS } else { exit::OK });
    }
    writeln!(out, "\n{}", counts(&plans))?;
    if !args.yes && !confirm(total)? {
        writeln!(out, "nothing changed")?;
        return Ok(exit::PROBLEMS);
    }

    let st = StateDir::lock(&root)?;
    // What a killed run left: its temporary files in the directories install writes.
    let f = &recipes.files;
    let written: Vec<String> = [&f.memlock_limits, &f.memlock_user_dropin, &f.loader_conf, &f.accel_udev_rule]
        .iter()
        .filter_map(|p| p.rsplit_once('/').map(|(d, _)| d.to_string()))
        .chain(LEFTOVER_DIRS.iter().map(|d| d.to_string()))
        .collect();
    for p in st.sweep_leftovers(&written) {
        writeln!(out, "removed {p} (left by an interrupted run)")?;
    }
    let mut state = st.load()?;
    state.version = 1;
    state.tool_version = env!("CARGO_PKG_VERSION").to_string();
    state.recipes = recipes.origin.clone();
    state.last_run = Some(st.run_id().to_string());
    state.models = if args.model.is_empty() { recipes.lemonade.models.clone() } else { args.model.clone() };
    state.gpu_url = args.gpu_url.clone().or(state.gpu_url);
    state.gpu_model = args.gpu_model.clone().or(state.gpu_model);
    let boot_id = crate::state::boot_id(&root);
    // Reasons recorded earlier in this same boot still hold; once the boot id changed (or
    // cannot be known) only what the steps observe now counts.
    let carried: Vec<String> = crate::state::pending_reboot(&root).map(|r| r.reasons).unwrap_or_default();
    let progress = Progress::new(cli.quiet, super::colors_stderr(cli.color), super::unicode());
    let mut failed: Option<String> = None;
    let mut reboot_reasons: Vec<String> = Vec::new();
    let mut seq = 0;
    // The reboot owed so far (this run's reasons, then those carried from this boot), as
    // state.json records it after every step: a kill between steps loses nothing.
    let owed = |reasons: &[String]| {
        let mut all = reasons.to_vec();
        all.extend(carried.iter().filter(|r| !reasons.contains(r)).cloned());
        (!all.is_empty()).then(|| RebootPending { reasons: all, boot_id: boot_id.clone(), run: st.run_id().into() })
    };
    // The preview's facts hold until something changes: a step that applied nothing leaves
    // the host as it was, so the next step plans on the same facts (no probe per step).
    let mut facts = facts;
    let mut changed = false;
    let applying: Vec<&Box<dyn Step>> = steps.iter().filter(|s| s.id() != "verify").collect();
    for (n, s) in applying.iter().enumerate() {
        progress.step(n + 1, applying.len(), s.id());
        // Re-probe: earlier steps changed the host.
        if changed {
            facts = probe(&runner, &recipes, &args);
            changed = false;
        }
        let cx = StepCtx::new(&root, &runner, &facts, &recipes, &args);
        let plan = steps::plan_for_install(s.as_ref(), &cx)?;
        let record = |status: &str, message: String| StepRecord {
            status: status.into(),
            run: st.run_id().into(),
            at: now(),
            message,
        };
        if let Some(b) = plan.blocked {
            progress.step_done(&format!("BLOCKED: {b}"));
            failed = Some(format!("[{}] {b}", s.id()));
            state.steps.insert(s.id().into(), record("failed", b));
            break;
        }
        if let Some(u) = plan.unavailable {
            progress.step_done(&format!("not available: {u}"));
            state.steps.insert(s.id().into(), record("unavailable", u));
            st.save(&state)?;
            continue;
        }
        // A step that will owe a reboot records it before it changes anything: killed
        // half-way, the next run (which may find the step converged) still knows.
        if let Some(r) = plan.reboot.as_ref().filter(|_| !plan.actions.is_empty()) {
            let mut pending = reboot_reasons.clone();
            pending.push(format!("{}: {r}", s.id()));
            state.reboot = owed(&pending);
            st.save(&state)?;
        }
        // Apply, re-probe, re-plan — until the step plans nothing. Multi-phase steps
        // (clone then verify, build then install) converge over a few rounds; a round that
        // plans exactly what the previous one applied is not converging.
        let mut error = None;
        let mut current = plan.actions.clone();
        let mut applied = 0;
        let mut rounds = 0;
        let mut reboot = plan.reboot.clone();
        while !current.is_empty() && error.is_none() {
            rounds += 1;
            for a in &current {
                seq += 1;
                progress.action(a.render(&root).lines().next().unwrap_or_default());
                if let Err(e) = action::apply(a, s.id(), &root, &runner, &st, seq, &|e| progress.event(e)) {
                    error = Some(format!("{e:#}"));
                    break;
                }
                progress.action_done();
                applied += 1;
            }
            changed |= applied > 0;
            if error.is_some() {
                break;
            }
            facts = probe(&runner, &recipes, &args);
            changed = false;
            let cx = StepCtx::new(&root, &runner, &facts, &recipes, &args);
            let again = steps::plan_for_install(s.as_ref(), &cx)?;
            if let Some(b) = again.blocked {
                error = Some(b);
                break;
            }
            if again.reboot.is_some() {
                reboot = again.reboot.clone();
            }
            if !again.actions.is_empty() && (again.actions == current || rounds >= MAX_ROUNDS) {
                let left: Vec<String> = again
                    .actions
                    .iter()
                    .map(|a| a.render(&root).lines().next().unwrap_or_default().to_string())
                    .collect();
                error = Some(format!("did not converge; still planned: {}", left.join("; ")));
            }
            current = again.actions;
        }
        let plan = Plan { reboot, ..plan };
        if let Some(e) = error {
            // What it applied before failing may already need the reboot.
            if let Some(r) = plan.reboot.as_ref().filter(|_| applied > 0) {
                reboot_reasons.push(format!("{}: {r}", s.id()));
            }
            progress.step_done(&format!("FAILED: {e}"));
            state.steps.insert(s.id().into(), record("failed", e.clone()));
            failed = Some(format!("[{}] {e}", s.id()));
            break;
        }
        if let Some(r) = plan.reboot {
            reboot_reasons.push(format!("{}: {r}", s.id()));
        }
        let msg = if applied == 0 { "nothing to do".to_string() } else { format!("{applied} change(s) applied") };
        progress.step_done(&msg);
        state.steps.insert(s.id().into(), record("done", msg));
        state.reboot = owed(&reboot_reasons);
        st.save(&state)?;
    }
    state.reboot = owed(&reboot_reasons);
    st.save(&state)?;

    let smoke = failed.is_none() && state.reboot.is_none() && verifying(&steps);
    let report = verdict(cli, out, &runner, &recipes, &args, smoke, None)?;
    if let Some(dir) = st.log_dir() {
        writeln!(out, "logs: {dir}")?;
    }
    doc.verdict = Some(report.clone());
    doc.run = Some(st.run_id().to_string());
    doc.logs = st.log_dir();
    doc.steps = state.steps.iter().filter(|(_, r)| r.run == st.run_id()).map(|(k, v)| (k.clone(), v.clone())).collect();
    doc.failed = failed.clone();
    doc.reboot = state.reboot.as_ref().map(|r| r.reasons.clone()).unwrap_or_default();
    if let Some(f) = failed {
        writeln!(
            out,
            "install failed: {f}\nRun the same command again after fixing it; finished steps are not redone."
        )?;
        return Ok(exit::PROBLEMS);
    }
    if let Some(r) = &state.reboot {
        writeln!(out, "reboot required: {}", r.reasons.join("; "))?;
        if args.reboot == RebootPolicy::IfNeeded && !root_is_offline(&root) {
            let argv = vec!["systemctl".to_string(), "reboot".to_string()];
            writeln!(out, "rebooting: {}", quote_argv(&argv))?;
            action::apply(
                &action::Action::Run { argv, why: "--reboot if-needed".into() },
                "reboot",
                &root,
                &runner,
                &st,
                seq + 1,
                &|_| {},
            )?;
        } else {
            writeln!(out, "After the reboot, run the same command again to finish.")?;
        }
        return Ok(exit::REBOOT);
    }
    Ok(if report.diagnosis.state == "broken" { exit::PROBLEMS } else { exit::OK })
}

/// The `verify` step: the doctor ladder on the converged host, one line per problem.
///
/// With `smoke` (the verify step selected and no reboot owed) it also runs the smoke
/// inferences: one completion on the NPU through Lemonade, one on the GPU endpoint, and the
/// Whisper clip when a Whisper model is among the install's models.
fn verdict(
    cli: &Cli,
    out: &mut dyn Write,
    runner: &Runner,
    recipes: &Recipes,
    args: &InstallArgs,
    smoke: bool,
    probed: Option<Facts>,
) -> Result<Report> {
    let models = if args.model.is_empty() { recipes.lemonade.models.clone() } else { args.model.clone() };
    let defaults = crate::host::smoke::HostDefaults::from_tags(&models);
    let opts = ProbeOptions {
        user: args.user.clone(),
        smoke,
        npu_model: defaults.npu,
        whisper_model: defaults.whisper,
        gpu_url: args.gpu_url.clone(),
        gpu_model: args.gpu_model.clone(),
        ..Default::default()
    };
    // The facts install planned on (nothing changed since) are the verdict's; only the
    // smoke probes are added.
    let facts = match probed {
        Some(mut f) => {
            if smoke {
                crate::host::probe_smoke(runner, recipes, &opts, &mut f);
            }
            f
        }
        None => probe_all(runner, recipes, &opts),
    };
    let copts = CheckOptions { smoke, today: super::recipes::today(runner.root())? };
    let results = run_checks(&facts, recipes, &copts, &[], &[]);
    let report = crate::checks::report(&facts, recipes, results);
    writeln!(out, "\nverify (doctor):")?;
    render(
        out,
        &report,
        &HumanOptions {
            unicode: super::unicode(),
            color: super::colors(cli.color),
            verbose: false,
            quiet: true,
            brief: true,
        },
    )?;
    Ok(report)
}

/// The verify step is among the selected steps.
fn verifying(steps: &[Box<dyn Step>]) -> bool {
    steps.iter().any(|s| s.id() == "verify")
}

fn root_is_offline(root: &crate::root::Root) -> bool {
    root.mode() == crate::root::RootMode::Offline
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(yaml: &str) -> Result<InstallArgs> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("install.yaml");
        std::fs::write(&path, yaml).unwrap();
        merge_config(&InstallArgs { config: Some(path), ..Default::default() }, None)
    }

    /// `driver: nvidia` was silently ignored while `--driver nvidia` is refused: a config
    /// value goes through the option's own parser, and the error names file and line.
    #[test]
    fn config_values_are_validated_like_flags() {
        let err = format!("{:#}", merged("yes: true\ndriver: nvidia\n").unwrap_err());
        assert!(
            err.contains(
                "install.yaml:2: driver: invalid value \"nvidia\" (possible values: in-tree, xdna-dkms, backport-dkms)"
            ),
            "{err}"
        );
        let err = format!("{:#}", merged("lemonade-port: 0\n").unwrap_err());
        assert!(err.contains("install.yaml:1: lemonade-port: invalid value \"0\" (0 is not in 1..=65535)"), "{err}");
        let err = format!("{:#}", merged("lemonade-port: 70000\n").unwrap_err());
        assert!(err.contains("install.yaml:1:16") && err.contains("70000"), "{err}");
        let err = format!("{:#}", merged("reboot: sometimes\n").unwrap_err());
        assert!(err.contains("install.yaml:1:9") && err.contains("sometimes"), "{err}");
        let ok = merged("driver: xdna-dkms\nlemonade-port: 8001\nmodel: [a, b]\n\"yes\": true\n").unwrap();
        assert_eq!((ok.driver.as_deref(), ok.lemonade_port, ok.yes), (Some("xdna-dkms"), Some(8001), true));
    }

    /// Every option with a closed set of values refuses a value outside it in the file too.
    #[test]
    fn every_option_with_possible_values_is_checked_in_the_file() {
        use clap::Args;
        let cmd = InstallArgs::augment_args(clap::Command::new("install"));
        let mut checked = 0;
        for arg in cmd.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if arg.get_possible_values().is_empty() || !arg.get_action().takes_values() {
                continue;
            }
            let err = format!("{:#}", merged(&format!("{long}: not-a-value\n")).unwrap_err());
            assert!(err.contains("install.yaml:1") && err.contains("not-a-value"), "{long}: {err}");
            checked += 1;
        }
        assert!(checked >= 2, "driver and reboot at least");
    }
}
