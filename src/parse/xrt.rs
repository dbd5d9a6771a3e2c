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
}
