//! Typed form of `recipes/sources.yaml`: pinned upstream sources, build recipes, the DKMS
//! module they carry, and the parallel-jobs heuristic.

use serde::{Deserialize, Serialize};

/// A pinned git source.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Stable id (`xdna-driver`, `fastflowlm`).
    pub id: String,
    /// Clone URL (overridable with `--source-url ID=URL`).
    pub url: String,
    /// Tag (or branch) to clone.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// Full commit the ref must resolve to (verified after checkout).
    pub commit: String,
}

/// How one component is built from a source tree.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// Build id (`xrt`, `driver-dkms`, `driver-shim`, `flm`).
    pub id: String,
    /// Source id.
    pub source: String,
    /// Working directory, relative to the source tree.
    pub dir: String,
    /// Commands, run in order in `dir`; `{jobs}` is replaced.
    pub commands: Vec<Vec<String>>,
    /// Package files the build produces on rpm-based hosts (globs relative to the tree).
    #[serde(default)]
    pub artifacts: Vec<String>,
    /// Package names those files install.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Package files the build produces on dpkg-based hosts (CPack makes .deb there).
    #[serde(default)]
    pub deb_artifacts: Vec<String>,
    /// Package names the .deb files install.
    #[serde(default)]
    pub deb_packages: Vec<String>,
    /// Install command run in `dir` instead of packages (cmake --install).
    #[serde(default)]
    pub install: Option<Vec<String>>,
    /// Version the build produces.
    pub version: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DkmsModule {
    /// DKMS package name.
    pub name: String,
    /// DKMS package version.
    pub version: String,
    /// Where the plugin package puts dkms.conf and the source tarball (root-relative).
    pub payload_dir: String,
    /// Source tarball name in `payload_dir`.
    pub tarball: String,
}

/// `recipes/sources.yaml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourcesRecipe {
    /// Pinned sources.
    pub sources: Vec<Source>,
    /// Builds.
    pub builds: Vec<Build>,
    /// The DKMS module.
    pub dkms: DkmsModule,
    /// Memory per parallel job.
    pub mib_per_job: u64,
}

impl SourcesRecipe {
    /// A source by id.
    pub fn source(&self, id: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.id == id)
    }

    /// A build by id.
    pub fn build(&self, id: &str) -> Option<&Build> {
        self.builds.iter().find(|b| b.id == id)
    }

    /// Parallel jobs for `cpus` CPUs and `available_mib` of free memory (at least 1).
    pub fn jobs(&self, cpus: usize, available_mib: u64) -> usize {
        let by_mem = (available_mib / self.mib_per_job.max(1)) as usize;
        cpus.min(by_mem).max(1)
    }
}
