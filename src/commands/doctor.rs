//! `npu-setup doctor`: probe -> checks -> report, read-only.

use std::io::Write;

use anyhow::{Context, Result, bail};

use crate::checks::{CATALOG, CheckOptions, run_checks};
use crate::cli::{Cli, DoctorArgs, Format};
use crate::host::{ProbeOptions, probe_all};
use crate::report::human::{HumanOptions, render};
use crate::report::{emit, exit, prometheus};

/// Runs doctor and returns the exit code.
pub fn run(cli: &Cli, args: &DoctorArgs) -> Result<i32> {
    for id in args.only.iter().chain(&args.skip) {
        if crate::checks::find(id).is_none() {
            bail!(
                "unknown check id {id:?}; valid ids: {}",
                CATALOG.iter().map(|c| c.id).collect::<Vec<_>>().join(", ")
            );
        }
    }
    let mut out = super::stdout(cli.format);
    if args.list {
        list(&mut out, cli.format)?;
        return Ok(exit::OK);
    }
    let (runner, recipes) = super::setup(cli)?;
    let popts = ProbeOptions {
        user: args.user.clone(),
        lemonade_url: args.lemonade_url.clone(),
        gpu_url: args.gpu_url.clone(),
        smoke: args.smoke,
        npu_model: args.npu_model.clone(),
        gpu_model: args.gpu_model.clone(),
        whisper_model: args.whisper_model.clone(),
    };
    let facts = probe_all(&runner, &recipes, &popts);
    tracing::debug!(millis = facts.probe_millis, "probed");
    let copts = CheckOptions { smoke: args.smoke, today: super::recipes::today(runner.root())? };
    let results = run_checks(&facts, &recipes, &copts, &args.only, &args.skip);
    let report = crate::checks::report(&facts, &recipes, results);
    let metrics = |w: &mut dyn Write| -> Result<()> {
        let extras = metrics_extras(runner.root(), facts.probe_millis);
        Ok(prometheus::render_doctor(w, &report, &extras)?)
    };
    let human = HumanOptions {
        unicode: super::unicode(),
        color: super::colors(cli.color),
        verbose: cli.verbose > 0,
        quiet: cli.quiet,
        brief: false,
    };
    emit(&mut out, cli.format, "the doctor report", &report, |w| Ok(render(w, &report, &human)?), Some(&metrics))?;
    out.flush()?;
    if let Some(path) = &args.bundle {
        super::bundle::write(cli, &facts, &report, path)?;
    }
    if let Some(path) = &args.textfile {
        let extras = metrics_extras(runner.root(), facts.probe_millis);
        prometheus::write_textfile(path, &report, &extras)?;
    }
    let code = report.exit_code(args.strict);
    if args.write_status {
        let boot_id = crate::state::boot_id(runner.root());
        let status = super::status::Status::from_report(&report, code, boot_id);
        super::status::write(runner.root(), &status).with_context(|| {
            format!("recording the verdict in {}", runner.root().join(super::status::STATUS_FILE).display())
        })?;
        // The journal gets the verdict in one line (the unit's stdout goes there too).
        eprintln!(
            "npu-setup: NPU stack {}{}",
            status.state,
            status.first_failure.as_deref().map(|f| format!(" (first failure: {f})")).unwrap_or_default()
        );
    }
    Ok(code)
}

fn list(out: &mut dyn Write, format: Format) -> Result<()> {
    #[derive(serde::Serialize)]
    struct Row {
        id: &'static str,
        layer: &'static str,
        description: &'static str,
    }
    /// `apiVersion: npu-setup/v1`, `kind: CheckCatalog`.
    #[derive(serde::Serialize)]
    struct Catalog<'a> {
        #[serde(rename = "apiVersion")]
        api_version: &'static str,
        kind: &'static str,
        checks: &'a [Row],
    }
    let rows: Vec<Row> = CATALOG.iter().map(|c| Row { id: c.id, layer: c.layer, description: c.description }).collect();
    emit(
        out,
        format,
        "--list",
        &Catalog { api_version: "npu-setup/v1", kind: "CheckCatalog", checks: &rows },
        |w| {
            for r in &rows {
                writeln!(w, "{:<20} {:<11} {}", r.id, r.layer, r.description)?;
            }
            Ok(())
        },
        None,
    )?;
    Ok(())
}

/// What the metrics need beyond the report: the reboot install owes and the last bench
/// result, read through the root. Unreadable or corrupt files count as absent: metrics must
/// still be written when they are.
pub fn metrics_extras(root: &crate::root::Root, probe_millis: u64) -> prometheus::Extras {
    let epoch_seconds =
        |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let bench_rel = crate::state::bench_last_path();
    let bench = root.read_optional(&bench_rel).ok().flatten().and_then(|t| {
        let report: crate::model::bench::BenchReport = serde_json::from_str(&t).ok()?;
        let mtime = root.metadata(&bench_rel).ok().flatten().and_then(|m| m.modified().ok()).map(epoch_seconds);
        Some((report, mtime))
    });
    prometheus::Extras {
        reboot_recorded: crate::state::pending_reboot(root).is_some(),
        bench,
        timestamp: epoch_seconds(std::time::SystemTime::now()),
        duration: probe_millis as f64 / 1e3,
    }
}
