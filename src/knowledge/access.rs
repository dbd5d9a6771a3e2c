//! Who can open the NPU's device node when its group comes from outside this system: a
//! container whose host passes `/dev/accel/accel0` in with the host's group id. The ids of
//! `render` differ between distros and releases (a Proxmox VE host's render 993 against an
//! Ubuntu 26.04 guest's 991: <https://github.com/Hal0ai/hal0/pull/2213>), so in the guest
//! the node's group is an id no group has, and adding the user to `render` by name cannot
//! help. In an unprivileged user namespace (rootless Docker/Podman, an unprivileged LXC
//! without an idmap for that id) the host's group is not mapped at all and shows as the
//! overflow id 65534 (`nogroup`), which no group membership inside grants
//! (<https://github.com/lemonade-sdk/lemonade/pull/2746>).

use serde::Serialize;

use crate::host::users::{NodeInfo, UserFacts};

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
