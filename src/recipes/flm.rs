//! Typed form of the `flm:` section of `recipes/drivers.yaml`: FastFlowLM's releases, what
//! `flm validate` checks in each version range, its output formats, release assets, install
//! layout and the XRT libraries it needs. Every entry carries its upstream source and, where
//! that source does not confirm it, which parts are `unverified`.

use serde::{Deserialize, Serialize};

use super::Unverified;
use crate::parse::version::parse_dotted;

/// A version range `from <= v < below` (dotted compare; `below` absent = open-ended).
pub(crate) fn in_range(version: &str, from: &str, below: Option<&str>) -> bool {
    let Some(v) = parse_dotted(version) else { return false };
    let ge = |b: &str| parse_dotted(b).is_some_and(|b| v >= b);
    ge(from) && below.is_none_or(|b| !ge(b))
}

/// One FastFlowLM release.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlmRelease {
    /// Version as `flm version` prints it (`1.0.9`).
    pub version: String,
    /// Git tag (`v1.0.9`).
    pub tag: String,
    /// Release date (YYYY-MM-DD), when known.
    #[serde(default)]
    pub date: Option<String>,
    /// Full commit the tag points at, when read from the repository.
    #[serde(default)]
    pub commit: Option<String>,
    /// Which fields are not confirmed upstream (`commit`, `date`, or the whole entry).
    #[serde(default)]
    pub unverified: Unverified,
    /// Where the fact comes from.
    pub source: String,
}

/// What `flm validate` checks, for the FLM versions `from <= v < below`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlmValidateRule {
    /// First version the rule applies to.
    pub from: String,
    /// First version it no longer applies to.
    #[serde(default)]
    pub below: Option<String>,
    /// Kernel (major.minor) `uname` must report; absent = no kernel check.
    #[serde(default)]
    pub min_kernel: Option<String>,
    /// A failed kernel check returns at once: the device, firmware, column and memlock flags
    /// keep their initial `true` and `devices` stays empty (not findings).
    pub kernel_check_returns_early: bool,
    /// amdxdna's DRM version (DRM_IOCTL_VERSION) below this also makes `kernel_ok` false.
    pub min_drm: String,
    /// Firmware major.minor every device needs.
    pub min_firmware: String,
    /// AIE columns every device needs.
    pub min_columns: u32,
    /// Soft memlock below this (MiB) is raised to infinity in-process, or fails.
    pub memlock_min_mib: u64,
    /// A busy node is reported (`"busy": true`) instead of being skipped silently.
    pub reports_busy: bool,
    /// Known bug: flm holds the device before validate opens it a second time, so validate
    /// says "No NPU device found" on a healthy host.
    #[serde(default)]
    pub false_no_device: bool,
    /// Which fields are not confirmed upstream for this range.
    #[serde(default)]
    pub unverified: Unverified,
    /// Where the facts come from.
    pub source: String,
}

impl FlmValidateRule {
    /// The rule covers `version`.
    pub fn covers(&self, version: &str) -> bool {
        in_range(version, &self.from, self.below.as_deref())
    }

    /// The versions it covers, for messages (`1.0.8`, `>= 1.0.9`, `0.9.35 – 1.0.6`).
    pub fn range(&self) -> String {
        match &self.below {
            None => format!(">= {}", self.from),
            Some(b) => format!("{} up to (not incl.) {b}", self.from),
        }
    }
}

/// An output format of an `flm` subcommand, with a sample the parser must read.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlmFormat {
    /// The command line.
    pub command: String,
    /// What it prints.
    pub shape: String,
    /// A sample as upstream prints it.
    pub example: String,
    /// Where the fact comes from.
    pub source: String,
}

/// The output formats npu-setup reads.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlmFormats {
    /// `flm version --json`.
    pub version_json: FlmFormat,
    /// `flm list --json`.
    pub list_json: FlmFormat,
    /// `flm validate --json`.
    pub validate_json: FlmFormat,
}

/// Release assets (GitHub release of ROCm/FastFlowLM).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlmAssets {
    /// Debian package name; `{version}` (no `v`) and `{target}` (`ubuntu24.04`…).
    pub deb: String,
    /// The `{target}`s a release builds .debs for.
    pub deb_targets: Vec<String>,
    /// Portable tarball (bundles XRT and the xdna plugin).
    pub tarball: String,
    /// Download URL; `{tag}` and `{asset}`.
    pub url: String,
    /// Which fields are not confirmed upstream.
    #[serde(default)]
    pub unverified: Unverified,
    /// Where the facts come from.
    pub source: String,
}

impl FlmAssets {
    /// The .deb built for `target` (`ubuntu24.04`), if releases build one.
    pub fn deb_for(&self, version: &str, target: &str) -> Option<String> {
        self.deb_targets
            .iter()
            .any(|t| t == target)
            .then(|| self.deb.replace("{version}", version).replace("{target}", target))
    }
}

/// Where the official .deb (and the `linux-default` build) installs FLM.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlmLayout {
    /// Install prefix.
    pub prefix: String,
    /// The binary.
    pub binary: String,
    /// Symlinks to it the package creates.
    pub links: Vec<String>,
    /// The model list next to the kernels.
    pub model_list: String,
    /// The .deb's dependencies on XRT.
    pub deb_depends: Vec<String>,
    /// Where the facts come from.
    pub source: String,
}

/// The XRT libraries flm needs.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlmRuntime {
    /// Sonames the binary links (the loader must find them or flm does not start).
    pub linked: Vec<String>,
    /// Sonames XRT loads at run time to see the NPU (without them every model fails with
    /// "No such device with index '0'").
    pub loaded: Vec<String>,
    /// Where the facts come from.
    pub source: String,
}

/// The `flm:` section of `recipes/drivers.yaml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlmRecipe {
    /// Kernel the newest validate rule requires (kept for checks that do not know the FLM
    /// version; must equal the newest rule's).
    pub min_kernel: String,
    /// Minimum DRM version (newest rule).
    pub min_drm: String,
    /// Minimum firmware version (newest rule).
    pub min_firmware: String,
    /// Minimum AIE columns (newest rule).
    pub min_columns: u32,
    /// Minimum FLM version Lemonade accepts.
    pub lemonade_min_version: String,
    /// Releases, oldest first.
    pub releases: Vec<FlmRelease>,
    /// `flm validate` semantics per version range, oldest first.
    pub validate: Vec<FlmValidateRule>,
    /// Output formats.
    pub formats: FlmFormats,
    /// Release assets.
    pub assets: FlmAssets,
    /// Install layout.
    pub layout: FlmLayout,
    /// XRT libraries.
    pub runtime: FlmRuntime,
}

impl FlmRecipe {
    /// The validate rule for `version` (None: older than every rule).
    pub fn rule(&self, version: &str) -> Option<&FlmValidateRule> {
        self.validate.iter().find(|r| r.covers(version))
    }

    /// The newest rule (for an FLM newer than every release the recipes know).
    pub fn newest_rule(&self) -> Option<&FlmValidateRule> {
        self.validate.last()
    }

    /// A release by version.
    pub fn release(&self, version: &str) -> Option<&FlmRelease> {
        self.releases.iter().find(|r| r.version == version)
    }

    /// The newest release the recipes know.
    pub fn newest_release(&self) -> Option<&FlmRelease> {
        self.releases.iter().max_by_key(|r| parse_dotted(&r.version))
    }

    /// The release remedies point at: the newest whose release page was read (its date is
    /// confirmed) and whose `flm validate` has no known false verdict.
    pub fn recommended_release(&self) -> Option<&FlmRelease> {
        self.releases
            .iter()
            .filter(|r| r.date.is_some() && !r.unverified.covers("date"))
            .filter(|r| self.rule(&r.version).is_some_and(|x| !x.false_no_device))
            .max_by_key(|r| parse_dotted(&r.version))
    }

    /// The recommended release's .deb for `target` (`ubuntu24.04`) and its download URL.
    pub fn recommended_deb(&self, target: &str) -> Option<(String, String)> {
        let rel = self.recommended_release()?;
        let name = self.assets.deb_for(&rel.version, target)?;
        let url = self.assets.url.replace("{tag}", &rel.tag).replace("{asset}", &name);
        Some((name, url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_half_open() {
        assert!(in_range("1.0.8", "1.0.8", Some("1.0.9")));
        assert!(!in_range("1.0.9", "1.0.8", Some("1.0.9")));
        assert!(in_range("1.0.10", "1.0.9", None));
        assert!(!in_range("0.9.34", "0.9.35", None));
        assert!(!in_range("garbage", "0.9.35", None));
    }

    #[test]
    fn the_format_samples_are_what_the_parsers_read() {
        // flm.formats cites upstream samples; the parsers in parse::flm must read them.
        use crate::parse::flm::{parse_flm_validate, parse_flm_version};
        let r = crate::recipes::Recipes::embedded().unwrap();
        let f = &r.drivers.flm.formats;
        assert_eq!(parse_flm_version(&f.version_json.example).as_deref(), Some("1.0.5"));
        let v = parse_flm_validate(&f.validate_json.example).unwrap();
        assert_eq!((v.ready, v.drm_version.as_deref(), v.devices.len()), (Some(true), Some("0.10"), 1));
        assert_eq!(v.devices[0].fw_version.as_deref(), Some("1.1.2.65"));
        let list: serde_json::Value = serde_json::from_str(&f.list_json.example).unwrap();
        assert!(list["models"][0]["name"].as_str().unwrap().contains(':'));
    }
}
