//! What an earlier `npu-setup install` left for the next boot: the reboot it owes, read from
//! `/var/lib/npu-setup/state.json` through the root. It was recorded with the boot id; once
//! the boot id changed the host has rebooted and nothing is owed.

use serde::{Deserialize, Serialize};

use crate::root::Root;

/// The install state doctor judges.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct InstallState {
    /// Why a reboot is owed (`step: reason`, as install recorded it), when owed in this boot.
    pub reboot_owed: Vec<String>,
    /// The install run that recorded it.
    pub run: Option<String>,
}

impl InstallState {
    /// The reasons recorded by install step `step`.
    pub fn owed_by(&self, step: &str) -> Vec<&str> {
        let prefix = format!("{step}: ");
        self.reboot_owed.iter().filter_map(|r| r.strip_prefix(prefix.as_str())).collect()
    }
}

/// Reads the owed reboot (absent or unreadable state counts as none).
pub fn probe_install_state(root: &Root) -> InstallState {
    match crate::state::pending_reboot(root) {
        Some(r) => InstallState { reboot_owed: r.reasons, run: Some(r.run) },
        None => InstallState::default(),
    }
}
