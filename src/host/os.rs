//! Distro identification from `etc/os-release` (fallback `usr/lib/os-release`, os-release(5)).

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::parse::shellvars::parse_env_lenient;
use crate::root::Root;

/// The distro as os-release describes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct OsFacts {
    /// `ID` (lowercase).
    pub id: String,
    /// `ID_LIKE` members.
    pub id_like: Vec<String>,
    /// `VERSION_ID`.
    pub version_id: Option<String>,
    /// `VERSION_CODENAME` (`noble`, `trixie`).
    pub version_codename: Option<String>,
    /// `UBUNTU_CODENAME`: the Ubuntu release a derivative (Linux Mint, Pop!_OS) is built on.
    pub ubuntu_codename: Option<String>,
    /// `PRETTY_NAME` (or `NAME VERSION_ID`).
    pub pretty_name: String,
    /// Which file was read.
    pub file: String,
}

/// Reads os-release under the root.
pub fn probe_os(root: &Root) -> Result<OsFacts> {
    for rel in ["etc/os-release", "usr/lib/os-release"] {
        if let Some(text) = root.read_optional(rel)? {
            let vars = parse_env_lenient(&text);
            let get = |k: &str| vars.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let id = get("ID").unwrap_or_else(|| "linux".into()).to_lowercase();
            let version_id = get("VERSION_ID");
            let pretty_name = get("PRETTY_NAME").unwrap_or_else(|| {
                format!("{} {}", get("NAME").unwrap_or_else(|| id.clone()), version_id.clone().unwrap_or_default())
                    .trim()
                    .to_string()
            });
            let id_like =
                get("ID_LIKE").map(|s| s.split_whitespace().map(str::to_lowercase).collect()).unwrap_or_default();
            return Ok(OsFacts {
                id,
                id_like,
                version_id,
                version_codename: get("VERSION_CODENAME"),
                ubuntu_codename: get("UBUNTU_CODENAME"),
                pretty_name,
                file: Root::display(rel),
            });
        }
    }
    bail!("neither /etc/os-release nor /usr/lib/os-release exists")
}
