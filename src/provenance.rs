//! Provenance of what install built: component, source commit, build commands, target
//! kernel, package versions and hashes of the installed files, in
//! `var/lib/npu-setup/manifest.json`. Doctor's `stack.provenance` compares it with the host
//! (files changed, packages replaced since install).

use std::collections::BTreeMap;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::root::{Perms, Root};
use crate::state::STATE_DIR;

/// Manifest path, root-relative.
pub fn manifest_path() -> String {
    format!("{STATE_DIR}/manifest.json")
}

/// One installed component.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Component {
    /// Source id.
    pub source: String,
    /// Source commit.
    pub commit: String,
    /// Build commands.
    pub commands: Vec<Vec<String>>,
    /// Target kernel at install time.
    pub kernel: Option<String>,
    /// Package -> version-release at install time.
    pub packages: BTreeMap<String, String>,
    /// Host path -> SHA-256 of each installed file.
    pub files: BTreeMap<String, String>,
    /// Seconds since the epoch.
    pub installed_at: u64,
}

/// `manifest.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Manifest {
    /// Format version.
    pub version: u32,
    /// Component id -> record.
    pub components: BTreeMap<String, Component>,
}

/// Reads the manifest; `Ok(None)` when install never recorded one.
pub fn load(root: &Root) -> Result<Option<Manifest>> {
    let Some(text) = root.read_optional(manifest_path())? else { return Ok(None) };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{} is corrupt: {e}", Root::display(manifest_path())))
}

/// Writes the manifest atomically.
pub fn save(root: &Root, m: &Manifest) -> Result<()> {
    let data = serde_json::to_vec_pretty(m)?;
    root.write(manifest_path(), &data, Perms::Set { mode: 0o644, owner: None })
}

/// Hashes files under the root (host paths); unreadable or missing files are left out.
pub fn hash_files(root: &Root, paths: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for p in paths {
        let rel = p.trim_start_matches('/');
        if root.is_file(rel)
            && let Ok(Some(h)) = root.sha256(rel)
        {
            out.insert(Root::display(rel), h);
        }
    }
    out
}

/// What changed since install, per component.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Drift {
    /// Component id.
    pub component: String,
    /// Files whose content changed.
    pub changed: Vec<String>,
    /// Files that disappeared.
    pub missing: Vec<String>,
    /// `pkg: recorded -> now` for replaced packages.
    pub packages: Vec<String>,
}

/// Doctor facts: the manifest and the drift found.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ProvenanceFacts {
    /// Install recorded a manifest.
    pub present: bool,
    /// Components recorded.
    pub components: Vec<String>,
    /// Drift per component (empty when all match).
    pub drift: Vec<Drift>,
    /// Package -> version recorded at install (all components).
    pub packages: BTreeMap<String, String>,
}

/// Compares the manifest with the files on disk (package versions are compared by the
/// check, against the package facts).
pub fn probe(root: &Root) -> Result<ProvenanceFacts> {
    let Some(m) = load(root)? else { return Ok(ProvenanceFacts::default()) };
    let mut facts =
        ProvenanceFacts { present: true, components: m.components.keys().cloned().collect(), ..Default::default() };
    for (id, c) in &m.components {
        facts.packages.extend(c.packages.clone());
        let mut d = Drift { component: id.clone(), ..Default::default() };
        for (path, hash) in &c.files {
            let rel = path.trim_start_matches('/');
            // Hashed whole, as install did (the probes' read cap would change big libraries).
            match root.sha256(rel)? {
                Some(h) if &h != hash => d.changed.push(path.clone()),
                Some(_) => {}
                None => d.missing.push(path.clone()),
            }
        }
        if !d.changed.is_empty() || !d.missing.is_empty() {
            facts.drift.push(d);
        }
    }
    Ok(facts)
}
