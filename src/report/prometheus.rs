//! node_exporter textfile metrics (`--format prometheus`, `doctor --textfile`): the doctor
//! report, the reboot install owes and the last bench's decode speed as gauges named
//! `npu_setup_*`, in the Prometheus text exposition format 0.0.4
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/>).
//!
//! The caller gathers what the report does not hold (state.json, the last bench result) into
//! [`Extras`]; the renderers are pure.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::Report;
use crate::model::Status;
use crate::model::bench::{BenchReport, SideResult};

/// The diagnosis states, all exported so a state change flips a series instead of making one
/// appear (alert rules can then compare against 0).
const STATES: [&str; 5] = ["ready", "degraded", "broken", "no-npu", "inconclusive"];
const STATUSES: [Status; 5] = [Status::Pass, Status::Warn, Status::Fail, Status::Skip, Status::Error];

/// What the metrics need beyond the report.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// install recorded a reboot as owed, in this boot (`state.json` `reboot`).
    pub reboot_recorded: bool,
    /// The last `npu-setup bench` result and when it was written (seconds since the epoch).
    pub bench: Option<(BenchReport, Option<f64>)>,
    /// When this run happened (seconds since the epoch).
    pub timestamp: f64,
    /// How long doctor spent probing the host, seconds.
    pub duration: f64,
}

/// `reboot` owed by install, or kernel arguments that differ between the running kernel and
/// the next boot (`boot.next` evidence `reboot_pending`).
pub fn reboot_pending(report: &Report, extras: &Extras) -> bool {
    extras.reboot_recorded
        || report
            .checks
            .iter()
            .any(|c| c.id == "boot.next" && c.evidence.get("reboot_pending") == Some(&serde_json::Value::Bool(true)))
}

/// The firmware version and where it comes from: the one the NPU runs (`fw_version` in
/// sysfs), else the file `firmware.compat` found the driver will load.
pub fn firmware(report: &Report) -> Option<(String, &'static str)> {
    if let Some(v) = report.host.npu.as_ref().and_then(|n| n.firmware.clone()) {
        return Some((v, "loaded"));
    }
    let c = report.checks.iter().find(|c| c.id == "firmware.compat")?;
    let v = c.evidence.get("chosen")?.get("version")?.as_str()?;
    Some((v.to_string(), "file"))
}

/// One sample: labels and value.
type Sample = (Vec<(&'static str, String)>, f64);

/// Text for one gauge family: HELP, TYPE and its samples, grouped as the format requires.
/// A family without samples is left out.
fn family(out: &mut String, name: &str, help: &str, samples: &[Sample]) {
    if samples.is_empty() {
        return;
    }
    let _ = writeln!(out, "# HELP {name} {}", help.replace('\\', r"\\").replace('\n', r"\n"));
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (labels, value) in samples {
        out.push_str(name);
        if !labels.is_empty() {
            let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape_label(v))).collect();
            let _ = write!(out, "{{{}}}", l.join(","));
        }
        let _ = writeln!(out, " {}", number(*value));
    }
}

/// Label values escape backslash, double quote and line feed, and nothing else.
pub fn escape_label(v: &str) -> String {
    v.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

/// Go's float syntax as Prometheus parses it (Rust's `Display` never uses an exponent).
fn number(v: f64) -> String {
    match v {
        v if v.is_nan() => "NaN".into(),
        v if v == f64::INFINITY => "+Inf".into(),
        v if v == f64::NEG_INFINITY => "-Inf".into(),
        v => v.to_string(),
    }
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn bench_families(out: &mut String, sides: &[SideResult], at: Option<f64>) {
    let per_side = |f: &dyn Fn(&SideResult) -> Option<f64>| -> Vec<Sample> {
        sides.iter().filter_map(|s| Some((vec![("side", s.side.clone()), ("model", s.model.clone())], f(s)?))).collect()
    };
    family(
        out,
        "npu_setup_bench_decode_tokens_per_second",
        "Mean decode speed of the last npu-setup bench, tokens/s after the first token (client side).",
        &per_side(&|s| s.decode_tps.as_ref().map(|d| d.mean)),
    );
    family(
        out,
        "npu_setup_bench_ttft_seconds",
        "Median time to first token of the last npu-setup bench.",
        &per_side(&|s| s.ttft_ms.as_ref().map(|t| t.p50 / 1e3)),
    );
    family(
        out,
        "npu_setup_bench_runs_failed",
        "Requests of the last npu-setup bench that failed, per side.",
        &per_side(&|s| Some(s.errors.len() as f64)),
    );
    if let Some(at) = at {
        family(out, "npu_setup_bench_timestamp_seconds", "When the last npu-setup bench ran.", &[(vec![], at)]);
    }
}

/// The doctor report as textfile metrics.
pub fn render_doctor(w: &mut dyn Write, report: &Report, extras: &Extras) -> std::io::Result<()> {
    let mut out = String::new();
    let state = report.diagnosis.state.as_str();
    family(
        &mut out,
        "npu_setup_build_info",
        "npu-setup version that wrote these metrics.",
        &[(vec![("version", env!("CARGO_PKG_VERSION").to_string())], 1.0)],
    );
    family(
        &mut out,
        "npu_setup_ready",
        "1 when the NPU stack works (doctor state ready or degraded, exit code 0), else 0.",
        &[(vec![], flag(matches!(state, "ready" | "degraded")))],
    );
    let states: Vec<Sample> = STATES.iter().map(|s| (vec![("state", s.to_string())], flag(*s == state))).collect();
    family(&mut out, "npu_setup_state", "Doctor verdict: 1 for the current state, 0 for the others.", &states);
    let s = &report.summary;
    let counts: Vec<Sample> = STATUSES
        .iter()
        .zip([s.pass, s.warn, s.fail, s.skip, s.error])
        .map(|(st, n)| (vec![("status", st.as_str().to_string())], n as f64))
        .collect();
    family(&mut out, "npu_setup_checks", "Number of doctor checks per status.", &counts);
    let checks: Vec<Sample> = report
        .checks
        .iter()
        .map(|c| {
            let labels =
                vec![("id", c.id.clone()), ("layer", c.layer.clone()), ("status", c.status.as_str().to_string())];
            (labels, 1.0)
        })
        .collect();
    family(
        &mut out,
        "npu_setup_check_status",
        "One series per doctor check (stable ids), labelled with its status: pass, warn, fail, skip or error.",
        &checks,
    );
    if let Some(id) = &report.diagnosis.first_failure {
        let layer = report.checks.iter().find(|c| &c.id == id).map(|c| c.layer.clone()).unwrap_or_default();
        family(
            &mut out,
            "npu_setup_first_failure",
            "The first broken layer (root cause, in ladder order); absent when nothing failed.",
            &[(vec![("check", id.clone()), ("layer", layer)], 1.0)],
        );
    }
    if let Some(n) = &report.host.npu {
        let labels = vec![
            ("bdf", n.bdf.clone()),
            ("pci_id", n.pci_id.clone()),
            ("product", n.product.clone().unwrap_or_default()),
            ("generation", n.generation.clone().unwrap_or_default()),
            ("driver", n.driver.clone().unwrap_or_default()),
        ];
        family(&mut out, "npu_setup_npu_info", "The NPU doctor found.", &[(labels, 1.0)]);
    }
    if let Some((version, source)) = firmware(report) {
        family(
            &mut out,
            "npu_setup_firmware_info",
            "NPU firmware version: the one running (source=loaded), else the file the driver will load (source=file).",
            &[(vec![("version", version), ("source", source.to_string())], 1.0)],
        );
    }
    family(
        &mut out,
        "npu_setup_reboot_pending",
        "1 when install recorded a reboot as owed in this boot, or the next boot's kernel arguments differ from the running ones.",
        &[(vec![], flag(reboot_pending(report, extras)))],
    );
    if let Some((bench, at)) = &extras.bench {
        bench_families(&mut out, &bench.sides, *at);
    }
    family(
        &mut out,
        "npu_setup_last_run_timestamp_seconds",
        "When doctor wrote these metrics.",
        &[(vec![], extras.timestamp)],
    );
    family(
        &mut out,
        "npu_setup_doctor_duration_seconds",
        "Time doctor spent probing the host (the checks themselves take microseconds).",
        &[(vec![], extras.duration)],
    );
    w.write_all(out.as_bytes())
}

/// A bench result as textfile metrics (the same families doctor exports from the last one).
pub fn render_bench(w: &mut dyn Write, report: &BenchReport, at: f64) -> std::io::Result<()> {
    let mut out = String::new();
    bench_families(&mut out, &report.sides, Some(at));
    w.write_all(out.as_bytes())
}

/// Writes the doctor metrics to `path` atomically (temp file in the same directory, which the
/// collector ignores as it does not end in `.prom`, then rename): node_exporter never scrapes
/// a half-written file. Mode 0644 so node_exporter's own user can read it.
pub fn write_textfile(path: &Path, report: &Report, extras: &Extras) -> Result<()> {
    if path.file_name().is_none() {
        bail!("--textfile {}: not a file path", path.display());
    }
    let mut data = Vec::new();
    render_doctor(&mut data, report, extras)?;
    // A host path the user names (node_exporter's textfile directory), not under --root.
    crate::fsx::atomic_write(path, &data, 0o644, None).with_context(|| format!("writing metrics {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslash_quote_and_newline_only() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("x\ny"), r"x\ny");
        assert_eq!(escape_label("Strix Halo {npu5}"), "Strix Halo {npu5}");
    }

    #[test]
    fn numbers_use_prometheus_float_syntax() {
        assert_eq!(number(1.0), "1");
        assert_eq!(number(83.25), "83.25");
        assert_eq!(number(1_777_000_000.5), "1777000000.5");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NAN), "NaN");
    }

    #[test]
    fn a_family_is_grouped_under_one_help_and_type() {
        let mut out = String::new();
        family(
            &mut out,
            "npu_setup_x",
            "Help with \\ and\nnewline.",
            &[(vec![("side", "npu".into())], 2.0), (vec![("side", "g\"pu".into())], 0.5)],
        );
        assert_eq!(
            out,
            "# HELP npu_setup_x Help with \\\\ and\\nnewline.\n# TYPE npu_setup_x gauge\n\
             npu_setup_x{side=\"npu\"} 2\nnpu_setup_x{side=\"g\\\"pu\"} 0.5\n"
        );
        let mut empty = String::new();
        family(&mut empty, "npu_setup_y", "h", &[]);
        assert_eq!(empty, "");
    }
}
