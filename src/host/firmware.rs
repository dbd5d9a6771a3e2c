//! NPU firmware on disk: which `amdnpu/<dev>_<rev>/` files exist along the kernel's
//! firmware search path, what they point to, and their versions.
//!
//! Search path, exactly as the kernel's direct loader walks it (`fw_path[]` in
//! <https://github.com/torvalds/linux/blob/v6.19/drivers/base/firmware_loader/main.c>, and
//! <https://docs.kernel.org/driver-api/firmware/fw_search_path.html>): the custom path
//! `firmware_class.path` first (the module parameter, readable and writable at
//! `/sys/module/firmware_class/parameters/path`; set on the command line or at runtime — NixOS
//! writes its firmware store path there at activation,
//! <https://github.com/NixOS/nixpkgs/blob/6aa846a05c8129917c239d6c093e6b92c3c14444/pkgs/by-name/ni/nixos-init/src/activate.rs>),
//! then `/lib/firmware/updates/<uname -r>`, `/lib/firmware/updates`, `/lib/firmware/<uname -r>`,
//! `/lib/firmware`. The loader tries the plain name in every directory, then `.zst`, then
//! `.xz` (`_request_firmware`: suffix "" first, compressed variants only on -ENOENT). So a
//! plain file anywhere shadows a compressed one in `updates/`. The kernel never looks in
//! `/usr/lib/firmware`: where `/lib` is not a link to `/usr/lib`, blobs there are recorded
//! as not searched.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::pci::PciFacts;
use crate::parse::version::{fw_version_from_blob, fw_version_from_file_name};
use crate::recipes::Recipes;
use crate::root::Root;

/// File names any driver flavour requests, in the staging driver's order (`npu_fw` in
/// <https://github.com/amd/xdna-driver/blob/856409cafc23cee55976ebcaa0a073ab4ec6dfe2/drivers/accel/amdxdna/aie2_pci.c>).
pub const FIRMWARE_NAMES: &[&str] = &["npu.dev.sbin", "npu_7.sbin", "npu.sbin"];
/// Compression suffixes in the loader's order.
pub const SUFFIXES: &[&str] = &["", ".zst", ".xz"];

/// One firmware file present on disk.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FirmwareFile {
    /// Requested name (`npu_7.sbin`).
    pub name: String,
    /// Host path of the file found (`/lib/firmware/amdnpu/17f0_11/npu_7.sbin.xz`).
    pub path: String,
    /// Resolved target file name when it is a symlink.
    pub target: Option<String>,
    /// The link does not resolve to a file.
    pub dangling: bool,
    /// Firmware version from the (target) file name or the blob's `Release` string.
    pub version: Option<String>,
    /// `file-name` or `blob`.
    pub version_source: Option<String>,
}

/// Firmware for one NPU.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NpuFirmware {
    /// BDF of the NPU.
    pub bdf: String,
    /// Directory under `amdnpu/` (from the device table).
    pub dir: String,
    /// For each requested name, the file the kernel would load (loader order).
    pub files: Vec<FirmwareFile>,
    /// Every entry in every searched `amdnpu/<dir>` (host paths).
    pub listing: Vec<String>,
    /// Entries of `/usr/lib/firmware/amdnpu/<dir>` when that is not a directory the kernel
    /// searches (`/lib` is not a link to `/usr/lib`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsearched: Vec<String>,
}

/// Firmware facts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FirmwareFacts {
    /// Per NPU in the device table.
    pub npus: Vec<NpuFirmware>,
    /// The directories the running kernel searches, in its order (host paths).
    #[serde(default)]
    pub search_path: Vec<String>,
    /// `firmware_class.path` and where it was read (`/sys/module/...` or `/proc/cmdline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_path: Option<(String, String)>,
}

/// Where the custom firmware path is readable at runtime.
pub const FIRMWARE_CLASS_PATH: &str = "sys/module/firmware_class/parameters/path";

/// The kernel's firmware search path (`fw_path[]`): the custom path when set, then
/// `updates/<kver>`, `updates`, `<kver>` and the base of `/lib/firmware` (root-relative).
pub fn kernel_search_path(custom: Option<&str>, kver: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(c) = custom.map(|c| c.trim_start_matches('/').trim_end_matches('/')).filter(|c| !c.is_empty()) {
        out.push(c.to_string());
    }
    if let Some(k) = kver {
        out.push(format!("lib/firmware/updates/{k}"));
    }
    out.push("lib/firmware/updates".into());
    if let Some(k) = kver {
        out.push(format!("lib/firmware/{k}"));
    }
    out.push("lib/firmware".into());
    out
}

/// `firmware_class.path` as the running kernel has it: the module parameter in sysfs (which
/// activation scripts may have rewritten), else the command line's `firmware_class.path=`.
pub fn custom_path(root: &Root) -> Result<Option<(String, String)>> {
    if let Some(v) = root.read_trimmed(FIRMWARE_CLASS_PATH)? {
        return Ok((!v.is_empty()).then(|| (v, Root::display(FIRMWARE_CLASS_PATH))));
    }
    let cmdline = root.read_trimmed("proc/cmdline")?.unwrap_or_default();
    let parsed = crate::parse::cmdline::parse_cmdline(&cmdline);
    Ok(parsed
        .last("firmware_class.path")
        .and_then(|a| a.value.clone())
        .filter(|v| !v.is_empty())
        .map(|v| (v, "/proc/cmdline".to_string())))
}

impl NpuFirmware {
    /// The file the kernel would load for a requested name.
    pub fn file(&self, name: &str) -> Option<&FirmwareFile> {
        self.files.iter().find(|f| f.name == name && !f.dangling)
    }
}

/// Probes firmware for every NPU the PCI scan found.
pub fn probe_firmware(
    root: &Root,
    recipes: &Recipes,
    pci: Option<&PciFacts>,
    running: Option<&str>,
) -> Result<FirmwareFacts> {
    let mut facts = FirmwareFacts::default();
    let Some(pci) = pci else { return Ok(facts) };
    facts.custom_path = custom_path(root)?;
    let bases = kernel_search_path(facts.custom_path.as_ref().map(|(p, _)| p.as_str()), running);
    facts.search_path = bases.iter().map(Root::display).collect();
    // A directory reached twice (a custom path that is /lib/firmware) is listed once.
    let mut seen = std::collections::HashSet::new();
    let bases: Vec<String> =
        bases.into_iter().filter(|b| seen.insert(root.resolve(b).unwrap_or_else(|_| b.into()))).collect();
    let usr_apart =
        root.is_dir("usr/lib/firmware") && root.resolve("usr/lib/firmware").ok() != root.resolve("lib/firmware").ok();
    for npu in &pci.npus {
        let Some(entry) = recipes.device(&npu.vendor, &npu.device, &npu.revision) else { continue };
        let dir = entry.firmware_dir.clone();
        let mut files = Vec::new();
        let mut listing = Vec::new();
        for base in &bases {
            for name in root.list_dir(format!("{base}/amdnpu/{dir}"))? {
                listing.push(Root::display(format!("{base}/amdnpu/{dir}/{name}")));
            }
        }
        for name in FIRMWARE_NAMES {
            'found: for suffix in SUFFIXES {
                for base in &bases {
                    let rel = format!("{base}/amdnpu/{dir}/{name}{suffix}");
                    let is_link = root.read_link_optional(&rel)?.is_some();
                    if !is_link && !root.exists(&rel) {
                        continue;
                    }
                    files.push(describe(root, name, &rel)?);
                    break 'found;
                }
            }
        }
        let unsearched = if usr_apart {
            root.list_dir(format!("usr/lib/firmware/amdnpu/{dir}"))?
                .into_iter()
                .map(|n| Root::display(format!("usr/lib/firmware/amdnpu/{dir}/{n}")))
                .collect()
        } else {
            Vec::new()
        };
        facts.npus.push(NpuFirmware { bdf: npu.bdf.clone(), dir, files, listing, unsearched });
    }
    Ok(facts)
}

fn describe(root: &Root, name: &str, rel: &str) -> Result<FirmwareFile> {
    let resolved = root.resolve(rel).ok();
    let target_name = resolved.as_ref().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
    let dangling = !root.exists(rel);
    let is_link = root.read_link_optional(rel)?.is_some();
    let mut version = None;
    let mut version_source = None;
    if let Some(v) = target_name.as_deref().and_then(fw_version_from_file_name) {
        version = Some(v.to_string());
        version_source = Some("file-name".to_string());
    } else if !dangling && !rel.ends_with(".xz") && !rel.ends_with(".zst") {
        // Uncompressed blobs carry "Release x.y.z.w" near offset 0x1d0 (amd/xdna-driver#1250).
        if let Some(bytes) = root.read_prefix_optional(rel, 4096)?
            && let Some(v) = fw_version_from_blob(&bytes)
        {
            version = Some(v.to_string());
            version_source = Some("blob".to_string());
        }
    }
    Ok(FirmwareFile {
        name: name.to_string(),
        path: Root::display(rel),
        target: if is_link { target_name } else { None },
        dangling,
        version,
        version_source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_custom_path_comes_first_then_the_kernels_defaults() {
        assert_eq!(
            kernel_search_path(Some("/nix/store/h-firmware/lib/firmware/"), Some("7.1.0")),
            [
                "nix/store/h-firmware/lib/firmware",
                "lib/firmware/updates/7.1.0",
                "lib/firmware/updates",
                "lib/firmware/7.1.0",
                "lib/firmware"
            ]
        );
        assert_eq!(kernel_search_path(Some(""), None), ["lib/firmware/updates", "lib/firmware"]);
    }

    #[test]
    fn sysfs_wins_over_the_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let w = |rel: &str, text: &str| crate::host::testkit::write_file(dir.path(), rel, text);
        w("proc/cmdline", "quiet firmware_class.path=/boot/fw\n");
        let root = Root::open(dir.path()).unwrap();
        assert_eq!(custom_path(&root).unwrap(), Some(("/boot/fw".into(), "/proc/cmdline".into())));
        w(FIRMWARE_CLASS_PATH, "/nix/store/h-firmware/lib/firmware\n");
        let root = Root::open(dir.path()).unwrap();
        assert_eq!(
            custom_path(&root).unwrap(),
            Some(("/nix/store/h-firmware/lib/firmware".into(), "/sys/module/firmware_class/parameters/path".into()))
        );
        // An empty parameter: no custom path, whatever the command line said at boot.
        w(FIRMWARE_CLASS_PATH, "\n");
        let root = Root::open(dir.path()).unwrap();
        assert_eq!(custom_path(&root).unwrap(), None);
    }
}
