//! DKMS facts about the out-of-tree amdxdna flavours.

/// DKMS module names of the two out-of-tree flavours: `xrt-amdxdna` (xdna-driver
/// dkms_driver.sh PACKAGE_NAME) and `amdxdna` (superm1/amdxdna-dkms backport).
pub const DKMS_NAMES: &[&str] = &["xrt-amdxdna", "amdxdna"];
