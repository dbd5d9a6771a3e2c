//! `xrt-smi examine`: the devices XRT enumerates. XRT lists them under `Device(s) Present`
//! as a table of `|[BDF]  |Name  |…` rows
//! (<https://github.com/noamsto/nix-amd-ai/issues/148>, <https://github.com/amd/xdna-driver/issues/1250>);
//! with none it prints `0 devices found`
//! (<https://github.com/Xilinx/mlir-aie/issues/1618>). XRT's "No such device with index '0'"
//! (<https://github.com/amd/xdna-driver/issues/50>) also means it enumerated nothing.

use serde::{Deserialize, Serialize};

/// One device row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XrtDevice {
    /// PCI address (`0000:c2:00.1`).
    pub bdf: String,
    /// XRT's name for it (`NPU Krackan 1`, `RyzenAI-npu4`).
    pub name: String,
}

/// The devices `xrt-smi examine` lists; None when the output has no device section (an
/// error, another format): not a finding either way.
pub fn parse_xrt_examine(s: &str) -> Option<Vec<XrtDevice>> {
    if s.contains("No such device with index") {
        return Some(Vec::new());
    }
    let mut lines = s.lines().skip_while(|l| {
        let l = l.trim().to_ascii_lowercase();
        !(l.starts_with("device(s) present") || l.starts_with("devices present"))
    });
    lines.next()?;
    let mut out = Vec::new();
    for l in lines {
        let t = l.trim();
        if t.contains("0 devices found") {
            return Some(Vec::new());
        }
        let Some(row) = t.strip_prefix("|[") else {
            if t.is_empty() || t.starts_with('|') {
                continue;
            }
            break;
        };
        let Some((bdf, rest)) = row.split_once(']') else { continue };
        let name = rest.trim_start_matches([' ', '|']).split('|').next().unwrap_or("").trim();
        out.push(XrtDevice { bdf: bdf.trim().to_string(), name: name.to_string() });
    }
    Some(out)
}

/// The XRT release `xrt-smi examine` reports: the `Version` line of its `XRT` section
/// (`XRT\n  Version              : 2.26.0`,
/// <https://github.com/noamsto/nix-amd-ai/issues/148>). It names the XRT that xrt-smi
/// loaded, which is how a host without XRT packages (NixOS, a source build) tells its version.
pub fn parse_xrt_version(s: &str) -> Option<String> {
    let mut in_xrt = false;
    for l in s.lines() {
        let t = l.trim();
        if !l.starts_with(' ') && !t.is_empty() {
            in_xrt = t == "XRT";
            continue;
        }
        if in_xrt
            && let Some((k, v)) = t.split_once(':')
            && k.trim() == "Version"
        {
            let v = v.trim();
            return (!v.is_empty() && v.chars().next().is_some_and(|c| c.is_ascii_digit())).then(|| v.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_rows_zero_devices_and_other_output() {
        // nix-amd-ai#148 (XRT 2.26.0 on NixOS 26.05, Krackan).
        let a2 = "XRT\n  Version              : 2.26.0\n  amdxdna Version      : 7.2.4\n\nDevice(s) Present\n\
            |BDF             |Name           |Architecture  |Topology  |\n\
            |----------------|---------------|--------------|----------|\n\
            |[0000:c2:00.1]  |NPU Krackan 1  |aie2p         |6x8       |\n";
        assert_eq!(
            parse_xrt_examine(a2),
            Some(vec![XrtDevice { bdf: "0000:c2:00.1".into(), name: "NPU Krackan 1".into() }])
        );
        assert_eq!(parse_xrt_examine("XRT\n  Version : 2.18.0\n\nDevices present\n  0 devices found\n"), Some(vec![]));
        assert_eq!(parse_xrt_examine("Error:  No such device with index '0'\n"), Some(vec![]));
        assert_eq!(parse_xrt_examine("xrt-smi: no capture for: examine\n"), None);
    }

    #[test]
    fn the_xrt_version_is_the_version_line_of_the_xrt_section() {
        // nix-amd-ai#148: the `Version` of `System Configuration` is absent, XRT's is 2.26.0.
        let a2 = "System Configuration\n  OS Name              : Linux\n  Release              : 7.2.4\n\n\
            XRT\n  Version              : 2.26.0\n  amdxdna Version      : 7.2.4\n\nDevice(s) Present\n";
        assert_eq!(parse_xrt_version(a2).as_deref(), Some("2.26.0"));
        // An older layout (mlir-aie#1618): Version, Branch, Hash under XRT.
        let old = "System Configuration\n  Version              : #2 SMP PREEMPT_DYNAMIC\n\nXRT\n  Version              : 2.18.0\n  Branch               : HEAD\n";
        assert_eq!(parse_xrt_version(old).as_deref(), Some("2.18.0"));
        assert_eq!(parse_xrt_version("Error:  No such device with index '0'\n"), None);
    }
}
