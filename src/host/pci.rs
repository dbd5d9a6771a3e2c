//! PCI scan through sysfs: NPUs (by the recipe's device table), AMD GPUs, IOMMU units.
//!
//! Reads `sys/bus/pci/devices/<BDF>/{vendor,device,revision,class}` like Lemonade's
//! `identify_npu_arch_linux` (lemonade-sdk/lemonade src/cpp/server/system_info.cpp@v10.0.0),
//! plus `driver` and `iommu_group` links, `fw_version` and `vbnv` (in-tree since 6.14,
//! torvalds/linux drivers/accel/amdxdna/amdxdna_sysfs.c). Names come from pci-ids.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::recipes::Recipes;
use crate::root::Root;

/// One PCI function.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct PciDevice {
    /// Bus/device/function, e.g. `0000:c6:00.1`.
    pub bdf: String,
    /// Vendor id, hex without `0x`.
    pub vendor: String,
    /// Device id, hex without `0x`.
    pub device: String,
    /// Revision, two hex digits.
    pub revision: String,
    /// Class, six hex digits.
    pub class: String,
    /// Bound driver (basename of the `driver` link).
    pub driver: Option<String>,
    /// IOMMU group number.
    pub iommu_group: Option<String>,
    /// IOMMU default-domain type (`DMA-FQ`, `DMA`, `identity`).
    pub iommu_group_type: Option<String>,
    /// Loaded firmware version (amdxdna sysfs).
    pub fw_version: Option<String>,
    /// Driver-reported device name (amdxdna sysfs).
    pub vbnv: Option<String>,
    /// accel nodes whose device is this function (`accel0`).
    pub accel: Vec<String>,
    /// DRM render nodes of this function (`renderD128`).
    pub render: Vec<String>,
    /// Vendor/device name from the pci.ids database.
    pub name: Option<String>,
}

/// PCI facts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct PciFacts {
    /// NPUs (AMD signal-processing controllers in the device table, or class 0x1180xx).
    pub npus: Vec<PciDevice>,
    /// AMD display controllers.
    pub gpus: Vec<PciDevice>,
    /// Entries under `sys/class/iommu`.
    pub iommu_units: Vec<String>,
    /// Functions scanned.
    pub scanned: usize,
}

/// Scans PCI functions under the root.
pub fn probe_pci(root: &Root, recipes: &Recipes) -> Result<PciFacts> {
    let mut facts = PciFacts { iommu_units: root.list_dir("sys/class/iommu")?, ..Default::default() };
    let accel = class_links(root, "sys/class/accel")?;
    let drm = class_links(root, "sys/class/drm")?;
    for bdf in root.list_dir("sys/bus/pci/devices")? {
        facts.scanned += 1;
        let base = format!("sys/bus/pci/devices/{bdf}");
        let attr = |n: &str| -> Result<String> {
            Ok(root.read_trimmed(format!("{base}/{n}"))?.unwrap_or_default().trim_start_matches("0x").to_lowercase())
        };
        // Vendor first: only AMD's functions (NPU 1022, GPU 1002) are read further, so a host
        // with hundreds of functions costs one read each.
        let vendor = attr("vendor")?;
        if vendor != "1022" && vendor != "1002" {
            continue;
        }
        let device = attr("device")?;
        let class = attr("class")?;
        let is_npu = vendor == "1022" && (recipes.is_npu_id(&vendor, &device) || class.starts_with("1180"));
        let is_gpu = vendor == "1002" && class.starts_with("03");
        if !is_npu && !is_gpu {
            continue;
        }
        let mut revision = attr("revision")?;
        if revision.len() == 1 {
            revision.insert(0, '0');
        }
        let iommu_group = root.link_basename(format!("{base}/iommu_group"))?;
        let iommu_group_type = match &iommu_group {
            Some(_) => root.read_trimmed(format!("{base}/iommu_group/type"))?,
            None => None,
        };
        let name = pci_name(&vendor, &device);
        let dev = PciDevice {
            driver: root.link_basename(format!("{base}/driver"))?,
            iommu_group,
            iommu_group_type,
            fw_version: root.read_trimmed(format!("{base}/fw_version"))?.filter(|s| !s.is_empty()),
            vbnv: root.read_trimmed(format!("{base}/vbnv"))?.filter(|s| !s.is_empty()),
            accel: accel.iter().filter(|(_, b)| b == &bdf).map(|(n, _)| n.clone()).collect(),
            render: drm.iter().filter(|(n, b)| b == &bdf && n.starts_with("renderD")).map(|(n, _)| n.clone()).collect(),
            name,
            bdf,
            vendor,
            device,
            revision,
            class,
        };
        if is_npu { facts.npus.push(dev) } else { facts.gpus.push(dev) }
    }
    Ok(facts)
}

/// (node name, BDF its `device` link points to) for every entry of a sysfs class.
fn class_links(root: &Root, class_dir: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for name in root.list_dir(class_dir)? {
        if let Some(bdf) = root.link_basename(format!("{class_dir}/{name}/device"))? {
            out.push((name, bdf));
        }
    }
    Ok(out)
}

/// "Vendor Device" from the pci.ids database compiled into the pci-ids crate.
fn pci_name(vendor: &str, device: &str) -> Option<String> {
    let vid = u16::from_str_radix(vendor, 16).ok()?;
    let pid = u16::from_str_radix(device, 16).ok()?;
    let d = pci_ids::Device::from_vid_pid(vid, pid)?;
    Some(format!("{} {}", d.vendor().name(), d.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_amd_functions_are_read_past_their_vendor() {
        let dir = tempfile::tempdir().unwrap();
        let w = |rel: &str, text: &str| crate::host::testkit::write_file(dir.path(), rel, text);
        let npu = "sys/bus/pci/devices/0000:c6:00.1";
        w(&format!("{npu}/vendor"), "0x1022\n");
        w(&format!("{npu}/device"), "0x17f0\n");
        w(&format!("{npu}/class"), "0x118000\n");
        w(&format!("{npu}/revision"), "0x11\n");
        // Another vendor's function whose other attributes cannot be read (a directory where
        // a file belongs is an error): never read, so never an error.
        w("sys/bus/pci/devices/0000:01:00.0/vendor", "0x8086\n");
        for attr in ["device", "class", "revision"] {
            std::fs::create_dir_all(dir.path().join(format!("sys/bus/pci/devices/0000:01:00.0/{attr}"))).unwrap();
        }
        let root = Root::open(dir.path()).unwrap();
        let facts = probe_pci(&root, crate::host::testkit::recipes()).unwrap();
        assert_eq!(facts.scanned, 2);
        assert_eq!(
            facts.npus.iter().map(|n| (n.bdf.as_str(), n.revision.as_str())).collect::<Vec<_>>(),
            [("0000:c6:00.1", "11")]
        );
    }
}
