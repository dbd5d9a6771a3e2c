//! The knowledge layer's verdicts, variant by variant, from a healthy test host with one fact
//! changed (`host::testkit`).

mod analysis;
mod distro;
mod dkms;
mod driver;
mod firmware;
mod freshness;
mod kargs;
mod kernels;
mod lemonade;
mod secureboot;
mod stack;
mod strategy;

pub(super) use crate::host::testkit::{Host, recipes};

/// The Strix Point host's kernels.
pub(super) const POINT_RUNNING: &str = "6.19.3-cachyos3.fc43.x86_64";
pub(super) const POINT_FALLBACK: &str = "6.18.13-200.fc43.x86_64";
/// The Strix Halo host's kernels.
pub(super) const HALO_RUNNING: &str = "7.1.4-200.fc44.x86_64";
pub(super) const HALO_OLDER: &str = "7.1.2-200.fc44.x86_64";
/// The subject key id of the Strix Point host's DKMS signing key.
pub(super) const DKMS_KEY: &str = "81:04:C7:56:B4:21:23:48:84:AC:B0:EB:E8:22:0B:F0:D6:40:99:8D";
