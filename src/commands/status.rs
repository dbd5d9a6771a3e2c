//! `status [--wait]`: the verdict the boot-time check (`npu-setup-boot.service`, which runs
//! `doctor --write-status`) recorded in /run/npu-setup/status.json — for provisioning
//! pipelines, like `cloud-init status --wait`. A missing, stale (another boot) or corrupt
//! file reads as "unknown", never as a crash.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::cli::{Cli, StatusArgs};
use crate::report::{Report, exit};
use crate::root::Root;

/// Where the boot check records its verdict (tmpfs: one boot's worth).
pub const STATUS_FILE: &str = "run/npu-setup/status.json";

/// The recorded verdict.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Status {
    /// `npu-setup/v1` (earlier records said `schema: npu-setup/status/v1`: still read).
    #[serde(rename = "apiVersion", alias = "schema")]
    pub api_version: String,
    /// `Status`.
    #[serde(default = "status_kind")]
    pub kind: String,
    /// `ready`, `degraded`, `broken`, `no-npu`, `inconclusive`; `unknown` when there is no
    /// usable record.
    pub state: String,
    /// First failing check, when broken.
    #[serde(default)]
    pub first_failure: Option<String>,
    /// One line for people.
    #[serde(default)]
    pub message: String,
    /// Failing check ids.
    #[serde(default)]
    pub failing: Vec<String>,
    /// Checks with warnings.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// doctor's exit code.
    #[serde(default)]
    pub exit_code: i32,
    /// Boot the record belongs to (`/proc/sys/kernel/random/boot_id`).
    #[serde(default)]
    pub boot_id: Option<String>,
    /// Seconds since the epoch.
    #[serde(default)]
    pub checked_at: u64,
    /// npu-setup version that wrote it.
    #[serde(default)]
    pub tool_version: String,
}

impl Status {
    /// The record for a doctor report.
    pub fn from_report(report: &Report, exit_code: i32, boot_id: Option<String>) -> Self {
        let ids = |s: crate::checks::Status| {
            report.checks.iter().filter(|c| c.status == s).map(|c| c.id.clone()).collect::<Vec<_>>()
        };
        Status {
            api_version: "npu-setup/v1".into(),
            kind: status_kind(),
            state: report.diagnosis.state.clone(),
            first_failure: report.diagnosis.first_failure.clone(),
            message: report.diagnosis.message.clone(),
            failing: ids(crate::checks::Status::Fail),
            warnings: ids(crate::checks::Status::Warn),
            exit_code,
            boot_id,
            checked_at: crate::state::now(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    fn unknown(message: impl Into<String>) -> Self {
        Status {
            api_version: "npu-setup/v1".into(),
            kind: status_kind(),
            state: "unknown".into(),
            first_failure: None,
            message: message.into(),
            failing: Vec::new(),
            warnings: Vec::new(),
            exit_code: exit::CANNOT_RUN,
            boot_id: None,
            checked_at: 0,
            tool_version: String::new(),
        }
    }
}

fn status_kind() -> String {
    "Status".into()
}

/// Writes the record atomically under the root.
pub fn write(root: &Root, status: &Status) -> Result<()> {
    let data = serde_json::to_string_pretty(status)?;
    root.write(STATUS_FILE, data.as_bytes(), crate::root::Perms::Set { mode: 0o644, owner: None })
}

/// Reads the record: `Ok(None)` while there is none for this boot; `Err` (as text) when it
/// is unreadable.
fn read(root: &Root) -> Result<Option<Status>, String> {
    let text = match root.read_optional(STATUS_FILE) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(None),
        Err(e) => return Err(format!("{e:#}")),
    };
    let mut s: Status =
        serde_json::from_str(&text).map_err(|e| format!("{} is corrupt: {e}", Root::display(STATUS_FILE)))?;
    // An earlier record (`schema: npu-setup/status/v1`) is shown in today's form.
    (s.api_version, s.kind) = ("npu-setup/v1".into(), status_kind());
    let boot = crate::state::boot_id(root);
    if s.boot_id.is_some() && boot.is_some() && s.boot_id != boot {
        return Ok(None); // written in another boot: not this boot's verdict
    }
    Ok(Some(s))
}

/// Unit directories systemd reads, most specific first.
const UNIT_DIRS: &[&str] =
    &["etc/systemd/system", "run/systemd/system", "usr/lib/systemd/system", "lib/systemd/system"];

/// Why the boot check will never record a verdict in this boot, read from the unit files
/// under the root (the same on a live host, a fixture or an image): its unit is absent,
/// masked, or enabled by no target. `None` when it is installed and enabled, so waiting
/// makes sense.
fn boot_unit_problem(root: &Root) -> Option<String> {
    let name = crate::steps::lifecycle::BOOT_UNIT_NAME;
    let link = |rel: String| root.read_link_optional(rel).ok().flatten();
    let masked =
        UNIT_DIRS[..2].iter().any(|d| link(format!("{d}/{name}")).is_some_and(|t| t == Path::new("/dev/null")));
    if masked {
        return Some(format!(
            "{name} is masked: the boot check will not run (systemctl unmask {name}; or run npu-setup doctor)"
        ));
    }
    if !UNIT_DIRS.iter().any(|d| root.is_file(format!("{d}/{name}"))) {
        return Some(format!(
            "{name} is not installed (no unit file in /{}): nothing records a verdict at boot; install it with `sudo npu-setup install --only lifecycle`, or run npu-setup doctor",
            UNIT_DIRS.join(", /")
        ));
    }
    let enabled = UNIT_DIRS.iter().any(|d| {
        root.list_dir(d).unwrap_or_default().iter().filter(|e| e.ends_with(".wants") || e.ends_with(".requires")).any(
            |sub| {
                let rel = format!("{d}/{sub}/{name}");
                link(rel.clone()).is_some() || root.exists(&rel)
            },
        )
    });
    (!enabled).then(|| {
        format!(
            "{name} is installed but not enabled: it will not run at boot (sudo systemctl enable {name}; or run npu-setup doctor)"
        )
    })
}

/// Runs `status`.
pub fn run(cli: &Cli, args: &StatusArgs) -> Result<i32> {
    if !(args.max_wait.is_finite() && args.max_wait >= 0.0) {
        bail!("--max-wait must be a number of seconds >= 0, not {}", args.max_wait);
    }
    let root = Root::open(&cli.root)?;
    let started = Instant::now();
    let deadline = Duration::from_secs_f64(args.max_wait);
    let status = loop {
        match read(&root) {
            Ok(Some(s)) => break s,
            // Waiting for a unit that will not run would only end at --max-wait: say why now.
            Ok(None)
                if args.wait
                    && let Some(why) = boot_unit_problem(&root) =>
            {
                break Status::unknown(format!("no verdict in this boot, and none will come: {why}"));
            }
            Ok(None) if args.wait && started.elapsed() < deadline => {}
            Ok(None) if args.wait => {
                break Status::unknown(format!(
                    "no verdict after waiting {:.0} s: is {} enabled and running? (systemctl status {})",
                    args.max_wait,
                    crate::steps::lifecycle::BOOT_UNIT_NAME,
                    crate::steps::lifecycle::BOOT_UNIT_NAME
                ));
            }
            Ok(None) => {
                break Status::unknown(format!(
                    "the boot check has not finished in this boot (enabled? systemctl status {}; or run npu-setup doctor)",
                    crate::steps::lifecycle::BOOT_UNIT_NAME
                ));
            }
            // A corrupt record will not heal by waiting.
            Err(e) => break Status::unknown(e),
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let mut out = super::stdout(cli.format);
    let human = |out: &mut dyn Write| -> Result<()> {
        writeln!(out, "status: {}", status.state)?;
        if !status.message.is_empty() {
            writeln!(out, "{}", status.message)?;
        }
        if let Some(f) = &status.first_failure {
            writeln!(out, "first failure: {f} (details: npu-setup doctor)")?;
        }
        if status.checked_at > 0 && !cli.quiet {
            writeln!(
                out,
                "checked: {} s ago by npu-setup {}",
                crate::state::now().saturating_sub(status.checked_at),
                status.tool_version
            )?;
        }
        Ok(())
    };
    crate::report::emit(&mut out, cli.format, "status", &status, human, None)?;
    Ok(match status.state.as_str() {
        "ready" | "degraded" => exit::OK,
        "unknown" => exit::CANNOT_RUN,
        _ => exit::PROBLEMS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_is_exit_2_and_says_why() {
        let s = Status::unknown("x");
        assert_eq!((s.state.as_str(), s.exit_code), ("unknown", exit::CANNOT_RUN));
        let back: Status = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    /// Every document says `apiVersion: npu-setup/v1` and its `kind`; a record written with
    /// the old `schema: npu-setup/status/v1` key is still read, and shown in today's form.
    #[test]
    fn old_records_are_read_and_shown_in_the_one_style() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).unwrap();
        let v = serde_json::to_value(Status::unknown("x")).unwrap();
        assert_eq!((v["apiVersion"].as_str(), v["kind"].as_str()), (Some("npu-setup/v1"), Some("Status")));
        assert!(v.get("schema").is_none());
        let old = r#"{"schema": "npu-setup/status/v1", "state": "ready", "exit_code": 0}"#;
        std::fs::create_dir_all(dir.path().join("run/npu-setup")).unwrap();
        std::fs::write(dir.path().join(STATUS_FILE), old).unwrap();
        let s = read(&root).unwrap().unwrap();
        assert_eq!((s.api_version.as_str(), s.kind.as_str(), s.state.as_str()), ("npu-setup/v1", "Status", "ready"));
    }
}
