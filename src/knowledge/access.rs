//! Containers: which layers belong to the host, and who can open the NPU's device node when
//! its group comes from outside this system.
//!
//! In a container (LXC/Incus/Proxmox, Docker, Podman) the kernel, its amdxdna module and the
//! firmware it loaded are the host's: the guest's `/lib/modules` and `/lib/firmware` do not
//! hold them, its boot configuration and DKMS do not apply, and judging them there names a
//! broken driver on a guest whose NPU is bound and working (a Proxmox LXC guest:
//! <https://github.com/Hal0ai/hal0/pull/2213>; Incus: <https://github.com/lemonade-sdk/lemonade/issues/1771>).
//!
//! A node's group from outside this system: a
//! container whose host passes `/dev/accel/accel0` in with the host's group id. The ids of
//! `render` differ between distros and releases (a Proxmox VE host's render 993 against an
//! Ubuntu 26.04 guest's 991: <https://github.com/Hal0ai/hal0/pull/2213>), so in the guest
//! the node's group is an id no group has, and adding the user to `render` by name cannot
//! help. In an unprivileged user namespace (rootless Docker/Podman, an unprivileged LXC
//! without an idmap for that id) the host's group is not mapped at all and shows as the
//! overflow id 65534 (`nogroup`), which no group membership inside grants
//! (<https://github.com/lemonade-sdk/lemonade/pull/2746>).

use serde::Serialize;

use crate::host::Facts;
use crate::host::users::{NodeInfo, UserFacts};

/// The checks that judge the host's kernel, driver files, firmware files and boot: in a
/// container they are the host's business.
pub const HOST_CHECKS: &[&str] =
    &["boot.next", "driver.module", "firmware.files", "firmware.compat", "dkms.state", "secureboot.signing"];

/// Why check `id` is not judged here: it judges the host's kernel, driver, firmware or boot,
/// and this system is a container. None on a host, and for every other check.
pub fn judged_on_the_host(f: &Facts, id: &str) -> Option<String> {
    let kind = f.container.as_deref()?;
    HOST_CHECKS.contains(&id).then(|| {
        format!(
            "not judged in a container ({kind}): the kernel, its amdxdna module, the firmware and the boot configuration are the host's; run npu-setup doctor on the host"
        )
    })
}

/// The overflow group id: what a user namespace shows for an id it does not map.
pub const OVERFLOW_GID: u32 = 65534;

/// A device node whose group comes from outside this system.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum ForeignGroup {
    /// The node's group id is one no group of this system has: the host's id for its
    /// render group, passed in unchanged.
    Unnamed {
        /// The node's group id.
        gid: u32,
        /// This system's `render` (else `video`) group and its id, the id to pass the
        /// device in with.
        local: Option<(String, u32)>,
    },
    /// The node shows the overflow id: its group is not mapped into this user namespace.
    Unmapped,
}

/// Whether `node`'s group comes from outside this system (see [`ForeignGroup`]); None when
/// the node does not exist, has no group access bits, or its group is one of this system's.
pub fn foreign_group(user: &UserFacts, node: &NodeInfo) -> Option<ForeignGroup> {
    let st = node.stat.as_ref()?;
    let mode = u32::from_str_radix(&st.mode, 8).unwrap_or(0);
    if mode & 0o060 == 0 {
        return None;
    }
    if st.gid == OVERFLOW_GID {
        return Some(ForeignGroup::Unmapped);
    }
    if user.all_groups.iter().any(|(_, g)| *g == st.gid) {
        return None;
    }
    let local = ["render", "video"].iter().find_map(|want| user.all_groups.iter().find(|(n, _)| n == want)).cloned();
    Some(ForeignGroup::Unnamed { gid: st.gid, local })
}
