//! Firmware, judged once: is there a loadable blob for the NPU on disk, and will the driver
//! flavour of the running (else next-boot) kernel load a file whose protocol it accepts, with
//! a version FastFlowLM accepts. `firmware.files`, `firmware.compat`, the install strategy and
//! per-kernel readiness all ask these functions.

use super::analysis::{Analysis, FirmwareVerdict, FlavourInfo, LogMatch};
use crate::host::Facts;
use crate::host::firmware::FirmwareFile;
use crate::parse::version::parse_fw_version;
use crate::recipes::Recipes;

/// What is on disk for the NPU's firmware directory.
#[derive(Debug, Clone, PartialEq)]
pub enum Files {
    /// Not judged (reason): device unknown, no firmware facts.
    Unknown(&'static str),
    /// Every candidate name is missing or a dangling link.
    None {
        /// A kernel-log line showing the failed load, if any.
        log: Option<LogMatch>,
        /// Blobs in `/usr/lib/firmware`, a directory the kernel does not search here.
        unsearched: Vec<String>,
    },
    /// This candidate is a dangling link.
    Dangling {
        /// Its path.
        path: String,
    },
    /// Files exist, but the kernel log shows a failed load.
    LoadFailed(LogMatch),
    /// Files exist.
    Present,
}

impl Files {
    /// The `firmware.files` check fails on this.
    pub fn fails(&self) -> bool {
        matches!(self, Files::None { .. } | Files::Dangling { .. })
    }
}

/// Judges the firmware files of the NPU.
pub fn files(a: &Analysis) -> Files {
    if a.entry.is_none() {
        return Files::Unknown("device not in the table: firmware directory unknown");
    }
    let Some(fw) = a.firmware else { return Files::Unknown("no firmware facts for this NPU") };
    let log = a.log_for("firmware.files", &["fail"]).first().map(|m| (*m).clone());
    if fw.files.iter().all(|f| f.dangling) {
        return Files::None { log, unsearched: fw.unsearched.clone() };
    }
    if let Some(d) = fw.files.iter().find(|f| f.dangling) {
        return Files::Dangling { path: d.path.clone() };
    }
    match log {
        Some(m) => Files::LoadFailed(m),
        None => Files::Present,
    }
}

/// The directories the running kernel searches for firmware, in its order, each with
/// `amdnpu/<dir>` appended (for messages naming where nothing was found).
pub fn search_dirs(f: &Facts, a: &Analysis) -> Vec<String> {
    let (Some(e), Some(fw)) = (a.entry, f.firmware.ok()) else { return Vec::new() };
    fw.search_path.iter().map(|d| format!("{}/amdnpu/{}", d.trim_end_matches('/'), e.firmware_dir)).collect()
}

/// Whether the driver will accept the firmware, and whether FLM accepts what is loaded.
#[derive(Debug, Clone, PartialEq)]
pub enum Compat {
    /// Not judged: the device is not in the table.
    UnknownDevice,
    /// Not judged: no amdxdna module for the running or next-boot kernel.
    NoModule,
    /// Not judged: the firmware on disk is unknown (the firmware probe did not run).
    NoFirmwareFacts,
    /// No matrix row for this flavour and kernel (a recipe gap).
    NoRule(FlavourInfo),
    /// None of the names the flavour loads is on disk.
    NoFile(FlavourInfo, FirmwareVerdict),
    /// The flavour rejects the protocol of the file it will load.
    Rejected(FlavourInfo, FirmwareVerdict),
    /// The kernel log shows the protocol check (or another firmware failure) failing.
    LogFailure(FlavourInfo, FirmwareVerdict, LogMatch),
    /// The driver accepts it, but the loaded firmware is below FastFlowLM's minimum.
    BelowFlmMinimum {
        /// Flavour.
        flavour: FlavourInfo,
        /// Verdict for the file on disk.
        verdict: FirmwareVerdict,
        /// Loaded version.
        loaded: String,
        /// FLM's minimum.
        min: String,
        /// `npu_7.sbin` on disk, if any.
        npu7: Option<FirmwareFile>,
    },
    /// Accepted now; the next boot's flavour rejects it.
    NextBootRejects {
        /// Running flavour.
        flavour: FlavourInfo,
        /// Running verdict.
        verdict: FirmwareVerdict,
        /// Next-boot flavour.
        next: FlavourInfo,
        /// Next-boot verdict.
        next_verdict: FirmwareVerdict,
    },
    /// Accepted.
    Accepted {
        /// Flavour.
        flavour: FlavourInfo,
        /// Verdict.
        verdict: FirmwareVerdict,
    },
}

impl Compat {
    /// The `firmware.compat` check fails on this.
    pub fn fails(&self) -> bool {
        matches!(
            self,
            Compat::NoFile(..) | Compat::Rejected(..) | Compat::LogFailure(..) | Compat::BelowFlmMinimum { .. }
        )
    }

    /// The unverified recipe facts this verdict rests on: the protocol of the firmware a
    /// flavour was judged to accept or reject (`firmware_protocols` entries marked
    /// `unverified`). A verdict the kernel log shows is an observation and rests on none.
    pub fn unverified(&self, r: &Recipes) -> Vec<String> {
        let fact = |v: &FirmwareVerdict| -> Option<String> {
            if !v.protocol_unverified {
                return None;
            }
            let version = v.chosen.as_ref()?.version.clone()?;
            let p = r.firmware_protocol(&version)?;
            Some(format!("firmware {version} speaks protocol {} ({})", p.major, p.source))
        };
        match self {
            Compat::Rejected(_, v) | Compat::Accepted { verdict: v, .. } => fact(v).into_iter().collect(),
            Compat::NextBootRejects { verdict, next_verdict, .. } => {
                fact(verdict).into_iter().chain(fact(next_verdict)).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// A versioned blob of this NPU's own firmware directory whose version speaks `protocol`
/// (for remedies that name one): a file on disk first, else linux-firmware's blob from the
/// device table, else xdna-driver's. Never another directory's blob (a 17f0_11 name is wrong
/// for a 17f0_10 device).
pub fn example_blob(r: &Recipes, a: &Analysis, protocol: u32) -> Option<String> {
    let e = a.entry?;
    let speaks = |version: &str| r.firmware_protocol(version).is_some_and(|p| p.major == protocol);
    let on_disk = a.firmware.into_iter().flat_map(|fw| fw.listing.iter()).find_map(|path| {
        let name = path.rsplit('/').next()?;
        let v = crate::parse::version::fw_version_from_file_name(name)?.to_string();
        speaks(&v).then(|| [".xz", ".zst"].iter().find_map(|x| name.strip_suffix(x)).unwrap_or(name).to_string())
    });
    on_disk.or_else(|| {
        let blobs = r.firmware_blobs(&e.firmware_dir);
        let pick = |from: &str| blobs.iter().find(|b| b.from == from && speaks(&b.version)).map(|b| b.name.clone());
        pick("linux-firmware").or_else(|| pick("xdna-driver"))
    })
}

/// The firmware version the NPU runs: sysfs `fw_version`, else what `flm validate` reported.
pub fn loaded_version(f: &Facts, a: &Analysis) -> Option<String> {
    a.npu.and_then(|n| n.fw_version.clone()).or_else(|| {
        f.flm.ok().and_then(|x| x.validate.as_ref()).and_then(|v| v.devices.first()).and_then(|d| d.fw_version.clone())
    })
}

/// Judges the firmware against the flavour driving the NPU now (the loaded module, else the
/// running kernel's module on disk, else the next boot's).
pub fn compat(f: &Facts, r: &Recipes, a: &Analysis) -> Compat {
    let Some(e) = a.entry else { return Compat::UnknownDevice };
    let running = a.loaded_flavour(f);
    let Some(fl) = running.or_else(|| a.target_flavour(f)).cloned() else { return Compat::NoModule };
    if a.firmware.is_none() {
        return Compat::NoFirmwareFacts;
    }
    let Some(v) = a.firmware_verdict(r, &fl) else { return Compat::NoRule(fl) };
    match (&v.chosen, v.accepted) {
        (None, _) => return Compat::NoFile(fl, v),
        (Some(_), Some(false)) => return Compat::Rejected(fl, v),
        _ => {}
    }
    if let Some(m) = a.log_for("firmware.compat", &["fail"]).first() {
        return Compat::LogFailure(fl, v, (*m).clone());
    }
    // FLM's own minimum on the loaded firmware (XDNA2 only; XDNA1 is unsupported by FLM anyway).
    let min = &r.drivers.flm.min_firmware;
    if e.family == crate::recipes::Family::XDNA2
        && let Some(l) = loaded_version(f, a)
        && let (Some(lv), Some(mv)) = (parse_fw_version(&l), parse_fw_version(min))
        && lv < mv
    {
        let npu7 = a.firmware.and_then(|f| f.file("npu_7.sbin")).cloned();
        return Compat::BelowFlmMinimum { flavour: fl, verdict: v, loaded: l, min: min.clone(), npu7 };
    }
    if let (Some(run), Some(t)) = (running, a.target_flavour(f))
        && run.kernel != t.kernel
        && let Some(tv) = a.firmware_verdict(r, t)
        && tv.accepted == Some(false)
    {
        return Compat::NextBootRejects { flavour: fl, verdict: v, next: t.clone(), next_verdict: tv };
    }
    Compat::Accepted { flavour: fl, verdict: v }
}
