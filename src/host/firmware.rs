//! NPU firmware on disk: which `amdnpu/<dev>_<rev>/` files exist along the kernel's
//! firmware search path, what they point to, and their versions.
//!
//! Search path (kernel docs driver-api/firmware/fw_search_path): `updates/<uname -r>`,
//! `updates`, `<uname -r>`, then the base dir. The loader tries the plain name in every
//! directory, then `.zst`, then `.xz` (drivers/base/firmware_loader/main.c
//! `_request_firmware`: suffix "" first, compressed variants only on -ENOENT). So a plain
//! file anywhere shadows a compressed one in `updates/`.

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
}

/// Firmware facts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FirmwareFacts {
    /// Per NPU in the device table.
    pub npus: Vec<NpuFirmware>,
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
    let mut bases = Vec::new();
    if let Some(k) = running {
        bases.push(format!("lib/firmware/updates/{k}"));
    }
    bases.push("lib/firmware/updates".into());
    if let Some(k) = running {
        bases.push(format!("lib/firmware/{k}"));
    }
    bases.push("lib/firmware".into());
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
        facts.npus.push(NpuFirmware { bdf: npu.bdf.clone(), dir, files, listing });
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
