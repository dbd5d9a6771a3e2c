//! `check --kernel KVER` (one kernel; with `--record`, recorded under
//! /var/lib/npu-setup/kernels/) and
//! `check --next-boot` (the readiness matrix of every installed kernel). The kernel-install
//! plugin and the Debian postinst.d hook call `check --kernel KVER --hook --record`: warnings on
//! stderr, the result recorded, exit 0 whatever happens — a kernel install is never blocked.

use std::io::Write;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::checks::Status;
use crate::cli::{CheckArgs, Cli, Format};
use crate::host::probe_kernels;
use crate::knowledge::kernels::{KernelReadiness, all_kernels, judge};
use crate::report::{emit, exit};
use crate::state::STATE_DIR;

/// What `check --kernel` prints and, with `--record`, records
/// (`/var/lib/npu-setup/kernels/<KVER>.json`): `apiVersion: npu-setup/v1`, `kind: KernelReadiness`.
#[derive(Debug, Serialize)]
struct Record<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    tool_version: &'static str,
    /// Seconds since the epoch.
    checked_at: u64,
    #[serde(flatten)]
    readiness: &'a KernelReadiness,
}

/// The `--next-boot` matrix: `apiVersion: npu-setup/v1`, `kind: KernelMatrix`.
#[derive(Debug, Serialize)]
struct Matrix<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    /// The kernel that boots next.
    default: Option<&'a str>,
    /// The running kernel.
    running: Option<&'a str>,
    /// The default kernel is ready (pass or warn).
    ready: bool,
    kernels: &'a [KernelReadiness],
}

fn ready(s: Status) -> bool {
    matches!(s, Status::Pass | Status::Warn | Status::Skip)
}

fn verdict(k: &KernelReadiness) -> &'static str {
    if !k.npu && ready(k.status) {
        return "no NPU here (module and boot entry fine)";
    }
    match k.status {
        Status::Pass | Status::Skip => "ready",
        Status::Warn => "ready, with warnings",
        _ => "NOT READY",
    }
}

/// Runs `check`. In hook mode every failure becomes a warning and the exit code is 0.
pub fn run(cli: &Cli, args: &CheckArgs) -> Result<i32> {
    if !args.hook {
        return check(cli, args);
    }
    match check(cli, args) {
        Ok(_) => Ok(exit::OK),
        Err(e) => {
            eprintln!("npu-setup: warning: could not check the new kernel: {e:#} (the kernel install goes on)");
            Ok(exit::OK)
        }
    }
}

fn check(cli: &Cli, args: &CheckArgs) -> Result<i32> {
    let (runner, recipes) = super::setup(cli)?;
    let mut out = super::stdout(cli.format);
    let Some(kver) = &args.kernel else {
        let facts = probe_kernels(&runner, &recipes, &[]);
        let kernels = all_kernels(&facts, &recipes);
        if kernels.is_empty() {
            bail!("no kernels found under {}", runner.root().join("lib/modules").display());
        }
        let k = facts.kernel.ok();
        let default = k.and_then(|k| k.target.as_deref());
        let m = Matrix {
            api_version: "npu-setup/v1",
            kind: "KernelMatrix",
            default,
            running: k.and_then(|k| k.running.as_deref()),
            ready: kernels.iter().find(|x| x.default).is_some_and(|x| ready(x.status)),
            kernels: &kernels,
        };
        let metrics = |w: &mut dyn Write| metrics(w, &kernels);
        emit(&mut out, cli.format, "check", &m, |w| render_matrix(w, &m, super::unicode()), Some(&metrics))?;
        return Ok(if m.ready { exit::OK } else { exit::PROBLEMS });
    };
    if kver.is_empty() || kver.contains('/') || kver.starts_with('.') {
        bail!("--kernel {kver:?} is not a kernel release");
    }
    let facts = probe_kernels(&runner, &recipes, std::slice::from_ref(kver));
    if facts.kernel.ok().is_none_or(|k| k.installed(kver).is_none()) {
        bail!(
            "kernel {kver} is not installed: {} does not exist",
            runner.root().join("lib/modules").join(kver).display()
        );
    }
    let k = judge(&facts, &recipes, kver);
    // Written only when asked (the kernel hooks ask): a check is otherwise read-only.
    let rec = Record {
        api_version: "npu-setup/v1",
        kind: "KernelReadiness",
        tool_version: env!("CARGO_PKG_VERSION"),
        checked_at: crate::state::now(),
        readiness: &k,
    };
    let recorded = args.record.then(|| record(&runner, &rec));
    if args.hook {
        // Quiet success; a clear warning otherwise (kernel-install shows plugin stderr).
        if !ready(k.status) || k.status == Status::Warn || k.dkms_unneeded.is_some() || cli.verbose > 0 {
            let mut err: Box<dyn Write> = if super::unicode() {
                Box::new(std::io::stderr().lock())
            } else {
                Box::new(crate::report::ascii::AsciiWriter::new(std::io::stderr().lock()))
            };
            render_one(&mut err, &k, super::unicode())?;
            if !ready(k.status) {
                writeln!(
                    err,
                    "npu-setup: the NPU will not work when {kver} boots (this does not stop the kernel install)"
                )?;
            }
        }
    } else {
        let metrics = |w: &mut dyn Write| metrics(w, std::slice::from_ref(&k));
        emit(&mut out, cli.format, "check", &rec, |w| render_one(w, &k, super::unicode()), Some(&metrics))?;
    }
    match recorded {
        Some(Ok(path)) if !args.hook && !cli.quiet && matches!(cli.format, Format::Human) => {
            writeln!(out, "recorded: {path}")?
        }
        Some(Err(e)) => eprintln!("npu-setup: warning: result not recorded: {e:#}"),
        _ => {}
    }
    Ok(if ready(k.status) { exit::OK } else { exit::PROBLEMS })
}

/// Writes `kernels/<KVER>.json` under the state dir (atomic). Never on a fixture's
/// read-only probes: only the record is written.
fn record(runner: &crate::runner::Runner, rec: &Record) -> Result<String> {
    let k = rec.readiness;
    let rel = format!("{STATE_DIR}/kernels/{}.json", k.kernel);
    let data = serde_json::to_string_pretty(&rec)?;
    runner.root().write(&rel, data.as_bytes(), crate::root::Perms::Set { mode: 0o644, owner: None })?;
    Ok(crate::root::Root::display(&rel))
}

/// `--format prometheus`: per kernel, whether it is ready and the status of each aspect
/// (every status exported, 1 for the one that holds, so a change flips a series), in the
/// text exposition format doctor's metrics use.
fn metrics(w: &mut dyn Write, kernels: &[KernelReadiness]) -> Result<()> {
    use crate::report::prometheus::escape_label;
    const STATUSES: [Status; 5] = [Status::Pass, Status::Warn, Status::Fail, Status::Skip, Status::Error];
    writeln!(w, "# HELP npu_setup_kernel_ready 1 when the NPU will work with this kernel (pass or warn).")?;
    writeln!(w, "# TYPE npu_setup_kernel_ready gauge")?;
    for k in kernels {
        writeln!(
            w,
            "npu_setup_kernel_ready{{kernel=\"{}\",default=\"{}\",running=\"{}\"}} {}",
            escape_label(&k.kernel),
            k.default,
            k.running,
            u8::from(ready(k.status))
        )?;
    }
    writeln!(
        w,
        "# HELP npu_setup_kernel_aspect Status of one aspect of a kernel's readiness (module, firmware, kargs, signing)."
    )?;
    writeln!(w, "# TYPE npu_setup_kernel_aspect gauge")?;
    for k in kernels {
        for (name, a) in
            [("module", &k.module), ("firmware", &k.firmware), ("kargs", &k.kargs), ("signing", &k.signing)]
        {
            for s in STATUSES {
                writeln!(
                    w,
                    "npu_setup_kernel_aspect{{kernel=\"{}\",aspect=\"{name}\",status=\"{}\"}} {}",
                    escape_label(&k.kernel),
                    s.as_str(),
                    u8::from(a.status == s)
                )?;
            }
        }
    }
    Ok(())
}

fn render_one(out: &mut dyn Write, k: &KernelReadiness, unicode: bool) -> Result<()> {
    let role = match (k.default, k.running) {
        (true, true) => " (default, running)",
        (true, false) => " (boots next)",
        (false, true) => " (running)",
        _ => "",
    };
    writeln!(out, "kernel {}{role}: {}", k.kernel, verdict(k))?;
    for (name, a) in [("module", &k.module), ("firmware", &k.firmware), ("kargs", &k.kargs), ("signing", &k.signing)] {
        writeln!(out, "  {:<2} {name:<9} {}", crate::report::human::status_glyph(a.status, unicode), a.summary)?;
    }
    if let Some(n) = &k.dkms_unneeded {
        writeln!(out, "  note: {n}")?;
    }
    for r in &k.remedies {
        writeln!(out, "  fix: {r}")?;
    }
    Ok(())
}

fn render_matrix(out: &mut dyn Write, m: &Matrix, unicode: bool) -> Result<()> {
    let width = m.kernels.iter().map(|k| k.kernel.len()).max().unwrap_or(6).max(6);
    writeln!(
        out,
        "{:<width$}  {:<8} {:<7} {:<9} {:<6} {:<8} VERDICT",
        "KERNEL", "BOOT", "MODULE", "FIRMWARE", "KARGS", "SIGNING"
    )?;
    for k in m.kernels {
        let role = match (k.default, k.running) {
            (true, true) => "default*",
            (true, false) => "default",
            (false, true) => "running",
            _ => "",
        };
        writeln!(
            out,
            "{:<width$}  {:<8} {:<7} {:<9} {:<6} {:<8} {}",
            k.kernel,
            role,
            crate::report::human::status_glyph(k.module.status, unicode),
            crate::report::human::status_glyph(k.firmware.status, unicode),
            crate::report::human::status_glyph(k.kargs.status, unicode),
            crate::report::human::status_glyph(k.signing.status, unicode),
            verdict(k)
        )?;
    }
    writeln!(out, "(default* = boots next and is running)\n")?;
    for k in m.kernels.iter().filter(|k| k.status != Status::Pass && k.status != Status::Skip) {
        render_one(out, k, unicode)?;
    }
    for k in m.kernels.iter().filter(|k| k.dkms_unneeded.is_some() && k.status == Status::Pass) {
        writeln!(out, "note: {}", k.dkms_unneeded.as_deref().unwrap_or_default())?;
    }
    match m.default {
        Some(d) if m.ready => writeln!(out, "next boot ({d}): ready")?,
        Some(d) => writeln!(out, "next boot ({d}): NOT READY")?,
        None => writeln!(out, "next boot: unknown (no default boot entry found)")?,
    }
    Ok(())
}
