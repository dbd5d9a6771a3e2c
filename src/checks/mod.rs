//! The check catalog (stable ids, ladder order — ARCHITECTURE.md §Checks) and the engine that runs the
//! checks as pure functions of `Facts` + `Recipes` and works out the first broken layer.

mod boot;
mod device;
mod firmware;
mod recipes;
mod services;
mod stack;
mod system;
#[cfg(test)]
mod tests;
mod user;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::host::{Facts, Probed};
use crate::knowledge::analysis::Analysis;
pub use crate::model::{CheckResult, Diagnosis, Remedy, Status};
use crate::model::{HostSummary, KernelSummary, NpuSummary, Report, Summary};
use crate::recipes::Recipes;

/// Builder for results.
#[derive(Debug, Clone)]
pub struct Outcome {
    status: Status,
    summary: String,
    evidence: BTreeMap<String, Value>,
    remedy: Option<Remedy>,
    suspects: Vec<&'static str>,
}

impl Outcome {
    fn new(status: Status, summary: impl Into<String>) -> Self {
        Outcome { status, summary: summary.into(), evidence: BTreeMap::new(), remedy: None, suspects: Vec::new() }
    }
    /// A pass.
    pub fn pass(s: impl Into<String>) -> Self {
        Self::new(Status::Pass, s)
    }
    /// A warning.
    pub fn warn(s: impl Into<String>) -> Self {
        Self::new(Status::Warn, s)
    }
    /// A failure.
    pub fn fail(s: impl Into<String>) -> Self {
        Self::new(Status::Fail, s)
    }
    /// Not applicable.
    pub fn skip(s: impl Into<String>) -> Self {
        Self::new(Status::Skip, s)
    }
    /// Could not run.
    pub fn error(s: impl Into<String>) -> Self {
        Self::new(Status::Error, s)
    }
    /// Adds evidence.
    pub fn ev(mut self, k: &str, v: impl Serialize) -> Self {
        self.evidence.insert(k.to_string(), serde_json::to_value(v).unwrap_or(Value::Null));
        self
    }
    /// Sets the remedy.
    pub fn remedy(mut self, r: Remedy) -> Self {
        self.remedy = Some(r);
        self
    }
    /// Names checks that could be the root cause of this failure.
    pub fn suspects(mut self, s: &[&'static str]) -> Self {
        self.suspects = s.to_vec();
        self
    }
    /// Current status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The verdict rests on recipe facts not confirmed upstream (`what`, one phrase each,
    /// with its source): a failure becomes a warning, a warning or failure says
    /// `UNVERIFIED: <what>` in its summary, and every status lists them in the evidence.
    pub fn unverified(mut self, what: &[String]) -> Self {
        if what.is_empty() {
            return self;
        }
        if self.status == Status::Fail {
            self.status = Status::Warn;
        }
        if self.status == Status::Warn {
            self.summary = format!("{} (UNVERIFIED: {})", self.summary, what.join("; "));
        }
        self.ev("unverified", what)
    }
}

/// Options that change what checks do.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// `--smoke` was given.
    pub smoke: bool,
    /// Today's date, to age the recipes by (`host.recipes`); `None` judges no age. Commands
    /// take it from the system clock, or a fixture's `today:`.
    pub today: Option<crate::recipes::meta::Date>,
}

/// Inputs of every check.
pub struct Ctx<'a> {
    /// Facts.
    pub f: &'a Facts,
    /// Recipes.
    pub r: &'a Recipes,
    /// Shared derivations.
    pub a: &'a Analysis<'a>,
    /// Options.
    pub opts: &'a CheckOptions,
}

impl Ctx<'_> {
    /// True when the PCI scan ran and found no NPU.
    pub fn no_npu(&self) -> bool {
        self.f.pci.ok().is_some_and(|p| p.npus.is_empty())
    }

    /// The distro recipe (a derivative's is its base's).
    pub fn distro(&self) -> Option<&crate::recipes::Distro> {
        self.host_distro().map(|h| h.recipe)
    }

    /// The host's distro and its release in the recipe's numbering (`knowledge::distro`).
    pub fn host_distro(&self) -> Option<crate::knowledge::distro::HostDistro<'_>> {
        crate::knowledge::distro::host(self.f, self.r)
    }

    /// A command or advice from the distro recipe's `remedies` (those of the host's release,
    /// or the generic wording when the host has no recipe), its placeholders filled from
    /// `vars` and from the host: `{version_id}` and `{codename}` are the recipe distro's
    /// release (Ubuntu 24.04 / noble on Linux Mint 22), never a derivative's own number;
    /// `{flm_deb}`/`{flm_deb_url}` the FastFlowLM release .deb built for that release.
    pub fn remedy_text(
        &self,
        pick: impl Fn(&crate::recipes::DistroRemedies) -> &String,
        vars: &[(&str, &str)],
    ) -> String {
        let h = self.host_distro();
        let mut text = match &h {
            Some(h) => pick(&h.remedies()).clone(),
            None => pick(&self.r.generic).clone(),
        };
        let version = h.as_ref().and_then(|h| h.version.clone());
        let codename = h.as_ref().and_then(|h| h.codename.clone());
        // The FastFlowLM .deb built for this release (`ubuntu24.04`, `debian13`), if any.
        let target = h.as_ref().zip(version.as_ref()).map(|(h, v)| format!("{}{v}", h.recipe.id));
        let deb = target.as_deref().and_then(|t| self.r.drivers.flm.recommended_deb(t));
        let host: [(&str, Option<&str>); 4] = [
            ("version_id", version.as_deref()),
            ("codename", codename.as_deref()),
            ("flm_deb", deb.as_ref().map(|d| d.0.as_str())),
            ("flm_deb_url", deb.as_ref().map(|d| d.1.as_str())),
        ];
        for (k, v) in vars.iter().map(|(k, v)| (*k, Some(*v))).chain(host) {
            let fallback = format!("<{}>", k.replace('_', " "));
            text = text.replace(&format!("{{{k}}}"), v.unwrap_or(&fallback));
        }
        text
    }
}

/// A catalog entry.
pub struct CheckDef {
    /// Stable id.
    pub id: &'static str,
    /// Layer.
    pub layer: &'static str,
    /// What it proves.
    pub description: &'static str,
    /// Skip it when the PCI scan found no NPU.
    pub needs_npu: bool,
    /// The check.
    pub run: fn(&Ctx) -> Outcome,
}

macro_rules! check {
    ($id:literal, $layer:literal, $npu:literal, $f:path, $d:literal) => {
        CheckDef { id: $id, layer: $layer, description: $d, needs_npu: $npu, run: $f }
    };
}

/// The catalog, in ladder order (ARCHITECTURE.md §Checks; ids are an output contract).
pub static CATALOG: &[CheckDef] = &[
    check!(
        "host.os",
        "host",
        false,
        system::host_os,
        "distro and version (etc/os-release), a derivative as the base release it is built on; supported by a recipe"
    ),
    check!(
        "host.recipes",
        "host",
        false,
        recipes::host_recipes,
        "the recipes in use (built-in, stored bundle or --data-dir) and their age; warns past 120 days"
    ),
    check!(
        "host.kernel",
        "host",
        false,
        system::host_kernel,
        "running and target kernel versions vs the driver paths and the installed FLM's kernel check"
    ),
    check!(
        "npu.device",
        "npu",
        false,
        device::npu_device,
        "PCI 1022:17f0 / 1022:1502 present; revision -> generation and product"
    ),
    check!(
        "boot.iommu",
        "boot",
        true,
        boot::boot_iommu,
        "IOMMU usable by the NPU: no amd_iommu=off, IOMMU present, NPU in an IOMMU group"
    ),
    check!(
        "boot.next",
        "boot",
        true,
        boot::boot_next,
        "next-boot kernel args (BLS, /etc/default/grub, /etc/kernel/cmdline) agree with the policy"
    ),
    check!(
        "driver.module",
        "driver",
        true,
        device::driver_module,
        "an amdxdna module exists for the running and target kernels; flavour and version"
    ),
    check!(
        "driver.bound",
        "driver",
        true,
        device::driver_bound,
        "the NPU is bound to amdxdna and has an accel node in sysfs"
    ),
    check!(
        "firmware.files",
        "firmware",
        true,
        firmware::firmware_files,
        "firmware files for the device dir and their versions"
    ),
    check!(
        "firmware.compat",
        "firmware",
        true,
        firmware::firmware_compat,
        "the driver flavour loads a file whose protocol it accepts; loaded firmware >= 1.1 for FLM"
    ),
    check!(
        "kernel.log",
        "kernel",
        true,
        firmware::kernel_log,
        "amdxdna kernel-log lines matched against the signature catalog"
    ),
    check!("accel.node", "accel", true, user::accel_node, "/dev/accel/accelN exists and the target user can open it"),
    check!(
        "limits.memlock",
        "limits",
        true,
        user::limits_memlock,
        "memlock for login sessions, user@.service and the Lemonade service"
    ),
    check!(
        "dkms.state",
        "dkms",
        true,
        stack::dkms_state,
        "DKMS flavour: built and installed for the running and installed kernels; headers present"
    ),
    check!(
        "secureboot.signing",
        "secureboot",
        true,
        stack::secureboot_signing,
        "Secure Boot on + out-of-tree module: signed with an enrolled key"
    ),
    check!("xrt.install", "xrt", true, stack::xrt_install, "XRT base + NPU + xdna plugin installed"),
    check!(
        "xrt.loader",
        "xrt",
        true,
        stack::xrt_loader,
        "libxrt_coreutil.so.2 and libxrt_driver_xdna.so.2 resolvable by the loader"
    ),
    check!(
        "flm.install",
        "flm",
        true,
        stack::flm_install,
        "flm found (/opt/fastflowlm/bin, /usr/bin, PATH) and its version"
    ),
    check!("flm.validate", "flm", true, stack::flm_validate, "flm validate --json reports ready"),
    check!(
        "stack.provenance",
        "stack",
        false,
        stack::stack_provenance,
        "what install built is still what is installed (file hashes, package versions)"
    ),
    check!(
        "lemonade.install",
        "lemonade",
        true,
        services::lemonade_install,
        "Lemonade server binary, version and unit file"
    ),
    check!(
        "lemonade.service",
        "lemonade",
        true,
        services::lemonade_service,
        "unit enabled and active; its environment finds the XRT libs; bind and API key"
    ),
    check!(
        "lemonade.flm",
        "lemonade",
        true,
        services::lemonade_flm,
        "the flm this Lemonade release runs (npu_bin, prefer_system + PATH, its own copy, or PATH) and whether it accepts it"
    ),
    check!(
        "lemonade.api",
        "lemonade",
        true,
        services::lemonade_api,
        "/live or /api/v1/health answers; FLM backend state from /api/v1/system-info"
    ),
    check!("gpu.device", "gpu", false, services::gpu_device, "AMD GPU render node and amdgpu driver"),
    check!(
        "gpu.api",
        "gpu",
        false,
        services::gpu_api,
        "the GPU endpoint (llama-swap by default) answers its health route"
    ),
    check!(
        "smoke.npu",
        "smoke",
        true,
        services::smoke_npu,
        "a real completion through Lemonade on an NPU model (with --smoke)"
    ),
    check!(
        "smoke.gpu",
        "smoke",
        false,
        services::smoke_gpu,
        "a real completion through the GPU endpoint (with --smoke)"
    ),
    check!(
        "smoke.whisper",
        "smoke",
        true,
        services::smoke_whisper,
        "a short WAV transcribed through Lemonade's Whisper model (with --smoke and a Whisper model)"
    ),
];

/// Looks up a catalog entry.
pub fn find(id: &str) -> Option<&'static CheckDef> {
    CATALOG.iter().find(|c| c.id == id)
}

/// Runs the selected checks (all when `only` is empty) in ladder order.
pub fn run_checks(f: &Facts, r: &Recipes, opts: &CheckOptions, only: &[String], skip: &[String]) -> Vec<CheckResult> {
    let a = Analysis::new(f, r);
    let ctx = Ctx { f, r, a: &a, opts };
    let mut results: Vec<CheckResult> = Vec::new();
    for def in CATALOG {
        let selected = (only.is_empty() || only.iter().any(|o| o == def.id)) && !skip.iter().any(|s| s == def.id);
        let out = if !selected {
            Outcome::skip("not selected (--only/--skip)")
        } else if def.needs_npu && ctx.no_npu() {
            Outcome::skip("no NPU on this machine")
        } else if let Some(why) = crate::knowledge::access::judged_on_the_host(f, def.id) {
            Outcome::skip(why)
        } else {
            // A panicking check is a bug; isolate it so one bug cannot hide every other
            // finding (flutter doctor's "crash" status).
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (def.run)(&ctx))) {
                Ok(o) => o,
                Err(p) => {
                    let msg =
                        p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                    Outcome::error(format!("internal error in this check: {}", msg.unwrap_or_default()))
                }
            }
        };
        // install refuses a distro without a recipe (its preflight): not offered there.
        let mut remedy = match out.remedy {
            Some(r) if ctx.distro().is_none() => Some(without_install(r)),
            r => r,
        };
        let mut summary = out.summary;
        if out.status == Status::Fail
            && let Some(why) = remedy.as_ref().and_then(|r| staged_fix(&ctx, def.id, r))
        {
            summary = format!("{summary} — fixed for the next boot: reboot");
            remedy = Some(Remedy {
                text: format!("Fixed for the next boot: reboot ({why})."),
                commands: vec!["sudo systemctl reboot".into()],
                step: None,
                reboot: true,
                docs: None,
            });
        }
        results.push(CheckResult {
            id: def.id.to_string(),
            layer: def.layer.to_string(),
            status: out.status,
            summary,
            evidence: out.evidence,
            remedy,
            cause: None,
            suspects: out.suspects,
        });
    }
    known_issues(&ctx, &mut results);
    attribute_causes(&mut results);
    results
}

/// Why the fix a failing check's remedy would install is already in place for the next boot
/// (a staged fix: the remedy is a reboot, not another install): the kernel arguments of a
/// `boot.*` check ([`crate::knowledge::kargs::staged`]), or the driver and firmware of the next
/// boot for a driver remedy ([`crate::knowledge::kernels::driver_staged`]).
fn staged_fix(c: &Ctx, id: &str, r: &Remedy) -> Option<String> {
    match r.step.as_deref() {
        Some("kargs") if id.starts_with("boot.") => crate::knowledge::kargs::staged(c.f, &c.r.kargs),
        Some("driver") => crate::knowledge::kernels::driver_staged(c.f, c.r),
        _ => None,
    }
}

/// A remedy without `npu-setup install` (for hosts install refuses).
fn without_install(mut r: Remedy) -> Remedy {
    let before = r.commands.len();
    r.commands.retain(|c| !c.starts_with(&install_cmd("")));
    if r.commands.len() != before {
        r.step = None;
    }
    r
}

/// Reports each known upstream issue the host matches in the check it names: a pass there
/// becomes the entry's severity (a warning when the entry rests on unverified facts); a
/// check that already warns or fails names the issue too. A skipped check (not selected,
/// not applicable) stays skipped.
fn known_issues(ctx: &Ctx, results: &mut [CheckResult]) {
    for m in crate::knowledge::known_issues::matching(ctx.f, ctx.r, ctx.a) {
        let k = &m.issue;
        let Some(res) = results.iter_mut().find(|c| c.id == k.check) else { continue };
        if res.status == Status::Skip {
            continue;
        }
        let unverified: Vec<String> = if k.unverified.any() {
            let what = if k.unverified.fields().is_empty() {
                "the whole entry".to_string()
            } else {
                k.unverified.fields().join(", ")
            };
            vec![format!("{what} of known issue {} (its sources are in known_issues)", k.id)]
        } else {
            Vec::new()
        };
        let text = format!("known issue {}: {}", k.id, k.title);
        let mut status = match k.severity {
            crate::recipes::Severity::Fail => Status::Fail,
            _ => Status::Warn,
        };
        if status == Status::Fail && !unverified.is_empty() {
            status = Status::Warn;
        }
        let worse = |a: Status, b: Status| {
            let rank = |s: Status| match s {
                Status::Pass | Status::Skip => 0,
                Status::Warn => 1,
                Status::Error => 2,
                Status::Fail => 3,
            };
            if rank(b) > rank(a) { b } else { a }
        };
        if res.status == Status::Pass {
            res.summary = text;
        } else {
            res.summary = format!("{} (known issue {})", res.summary, k.id);
        }
        res.status = worse(res.status, status);
        if !unverified.is_empty() && res.status == Status::Warn {
            res.summary = format!("{} (UNVERIFIED: {})", res.summary, unverified.join("; "));
        }
        let fixed = k.fixed_in.as_ref().map(|f| format!(" Fixed in: {f}.")).unwrap_or_default();
        let advice = format!("{}: {}. {}{fixed}", k.id, k.cause, k.workaround);
        match &mut res.remedy {
            Some(r) => {
                r.text = format!("{}\nKnown issue {advice}", r.text);
                if r.step.is_none()
                    && let Some(st) = &k.step
                {
                    r.commands.push(install_cmd(st));
                    r.step = Some(st.clone());
                }
                r.reboot |= k.reboot;
                if r.docs.is_none() {
                    r.docs = k.sources.first().cloned();
                }
            }
            None => {
                res.remedy = Some(Remedy {
                    text: format!("Known issue {advice}"),
                    commands: k.step.iter().map(|s| install_cmd(s)).collect(),
                    step: k.step.clone(),
                    reboot: k.reboot,
                    docs: k.sources.first().cloned(),
                })
            }
        }
        let entry = serde_json::json!({
            "id": k.id,
            "title": k.title,
            "matched": m.matched,
            "line": m.line,
            "fixed_in": k.fixed_in,
            "sources": k.sources,
        });
        match res.evidence.get_mut("known_issues").and_then(Value::as_array_mut) {
            Some(list) => list.push(entry),
            None => {
                res.evidence.insert("known_issues".into(), Value::Array(vec![entry]));
            }
        }
        if !unverified.is_empty() {
            let list = res.evidence.entry("unverified".to_string()).or_insert_with(|| Value::Array(Vec::new()));
            if let Some(list) = list.as_array_mut() {
                list.extend(unverified.into_iter().map(Value::String));
            }
        }
    }
}

/// Links each failure to the first failing suspect, so the verdict names the root cause
/// (e.g. driver.bound fails *because* firmware.compat fails).
fn attribute_causes(results: &mut [CheckResult]) {
    let failing: Vec<String> = results.iter().filter(|r| r.status == Status::Fail).map(|r| r.id.clone()).collect();
    for r in results.iter_mut() {
        if r.status != Status::Fail {
            continue;
        }
        r.cause = r.suspects.iter().find(|s| **s != r.id && failing.iter().any(|f| f == *s)).map(|s| s.to_string());
    }
}

/// The root cause of a failure: follow `cause` links (cycle-safe).
pub fn root_cause<'a>(results: &'a [CheckResult], id: &'a str) -> &'a str {
    let mut cur = id;
    for _ in 0..results.len() {
        match results.iter().find(|r| r.id == cur).and_then(|r| r.cause.as_deref()) {
            Some(next) if next != cur => cur = next,
            _ => break,
        }
    }
    cur
}

/// Works out the verdict from the results.
pub fn diagnose(results: &[CheckResult], f: &Facts) -> Diagnosis {
    let no_npu = f.pci.ok().is_some_and(|p| p.npus.is_empty());
    let fails: Vec<&CheckResult> = results.iter().filter(|r| r.status == Status::Fail).collect();
    // First failure in ladder order that is not explained by another failure.
    let first =
        fails.iter().find(|r| r.cause.is_none()).or(fails.first()).map(|r| root_cause(results, &r.id).to_string());
    let (state, message) = if no_npu {
        ("no-npu", "No AMD XDNA NPU on this machine: nothing to set up for the NPU.".to_string())
    } else if let Some(id) = &first {
        let r = results.iter().find(|r| &r.id == id);
        ("broken", format!("First broken layer: {} ({}).", id, r.map(|r| r.summary.as_str()).unwrap_or("")))
    } else if results.iter().all(|r| r.status == Status::Skip) {
        // `--only` checks that did not apply, or layers below that were not run: nothing was
        // judged, which is not "ready".
        (
            "inconclusive",
            "No check ran: every check was skipped (not requested, not applicable here, or its layer was not run); nothing was judged.".to_string(),
        )
    } else if results.iter().any(|r| matches!(r.status, Status::Warn | Status::Error)) {
        ("degraded", "The NPU stack works; some checks warn or could not run.".to_string())
    } else {
        ("ready", "The NPU stack is ready, from PCI to inference.".to_string())
    };
    Diagnosis { state: state.to_string(), first_failure: first, message }
}

/// Turns a probe that did not run into an `error` (or `skip`) outcome.
pub(crate) fn probe_problem<T>(p: &Probed<T>, what: &str) -> Option<Outcome> {
    match p {
        Probed::Ok(_) => None,
        Probed::Error(e) => Some(Outcome::error(format!("could not read {what}: {e}"))),
        Probed::Skipped(s) => Some(Outcome::skip(s.clone())),
    }
}

/// `npu-setup install --only <step>` as a command line.
pub(crate) fn install_cmd(step: &str) -> String {
    format!("sudo npu-setup install --only {step}")
}

/// Assembles the doctor report from facts and check results.
pub fn report(f: &Facts, recipes: &Recipes, checks: Vec<CheckResult>) -> Report {
    let diagnosis = diagnose(&checks, f);
    let mut summary = Summary::default();
    for c in &checks {
        match c.status {
            Status::Pass => summary.pass += 1,
            Status::Warn => summary.warn += 1,
            Status::Fail => summary.fail += 1,
            Status::Skip => summary.skip += 1,
            Status::Error => summary.error += 1,
        }
    }
    let npu = f.pci.ok().and_then(|p| p.npus.first()).map(|n| {
        let e = recipes.device(&n.vendor, &n.device, &n.revision);
        NpuSummary {
            bdf: n.bdf.clone(),
            pci_id: format!("{}:{}", n.vendor, n.device),
            revision: format!("0x{}", n.revision),
            generation: e.map(|e| e.generation.clone()),
            product: e.map(|e| e.product.clone()),
            family: e.map(|e| e.family.to_string()),
            driver: n.driver.clone(),
            firmware: n.fw_version.clone(),
        }
    });
    let root_mode = serde_json::to_value(f.mode).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    Report {
        api_version: "npu-setup/v1".into(),
        kind: "DoctorReport".into(),
        host: HostSummary {
            os: f.os.ok().map(|o| o.pretty_name.clone()),
            kernel: KernelSummary {
                running: f.kernel.ok().and_then(|k| k.running.clone()),
                target: f.kernel.ok().and_then(|k| k.target.clone()),
            },
            npu,
            cpu: f.resources.ok().and_then(|r| r.cpu.clone()),
            root_mode,
        },
        checks,
        diagnosis,
        summary,
    }
}

#[cfg(test)]
mod catalog_tests {
    #[test]
    fn the_catalog_is_the_contract() {
        let ids: Vec<&str> = super::CATALOG.iter().map(|c| c.id).collect();
        assert_eq!(ids, crate::model::CHECK_IDS);
        for c in super::CATALOG {
            assert_eq!(Some(c.layer), c.id.split('.').next(), "{}: layer is the id's prefix", c.id);
        }
    }
}
