//! Cross-reference checks run when the recipes load: every check id, step id, flavour, source,
//! build and distro a recipe names must exist. A dangling reference is a load error naming
//! the file and line, like a syntax error — never a silently ignored entry.

use super::{DataError, Recipes};
use crate::model::{CHECK_IDS, STEP_IDS};

/// The text of each data file as loaded (display name, text), to point errors at lines.
pub(super) struct Texts<'a> {
    pub(super) files: Vec<(&'a str, String, String)>,
}

impl Texts<'_> {
    /// `(display name, line)` of the first line containing `needle` after the first line
    /// containing `anchor` (when given) in the file loaded as `rel`.
    fn locate(&self, rel: &str, anchor: Option<&str>, needle: &str) -> (String, usize) {
        let Some((_, name, text)) = self.files.iter().find(|(r, _, _)| *r == rel) else {
            return (rel.to_string(), 0);
        };
        let lines: Vec<&str> = text.lines().collect();
        let start = anchor.and_then(|a| lines.iter().position(|l| l.contains(a))).unwrap_or(0);
        let line = lines.iter().skip(start).position(|l| l.contains(needle)).map(|i| start + i + 1).unwrap_or(0);
        (name.clone(), line)
    }

    fn error(&self, rel: &str, anchor: Option<&str>, needle: &str, message: String) -> DataError {
        let (file, line) = self.locate(rel, anchor, needle);
        DataError { file, line, column: 1, message }
    }
}

/// Every reference problem, in file order.
pub(super) fn validate(r: &Recipes, t: &Texts) -> Vec<DataError> {
    let mut errors = Vec::new();
    for s in &r.signatures {
        let anchor = format!("id: {}", s.id);
        if let Some(c) = &s.check
            && !CHECK_IDS.contains(&c.as_str())
        {
            errors.push(t.error(
                "recipes/kernel-log.yaml",
                Some(&anchor),
                &format!("check: {c}"),
                format!(
                    "signature {:?} names check {c:?}, which does not exist (known: {})",
                    s.id,
                    CHECK_IDS.join(", ")
                ),
            ));
        }
        if let Some(st) = &s.step
            && !STEP_IDS.contains(&st.as_str())
        {
            errors.push(t.error(
                "recipes/kernel-log.yaml",
                Some(&anchor),
                &format!("step: {st}"),
                format!(
                    "signature {:?} names step {st:?}, which does not exist (known: {})",
                    s.id,
                    STEP_IDS.join(", ")
                ),
            ));
        }
    }
    // Install paths are flavours, or `unsupported`.
    for p in &r.drivers.paths {
        let known = p.id == "unsupported" || r.drivers.flavours.iter().any(|f| f.id.as_str() == p.id);
        if !known {
            errors.push(t.error(
                "recipes/drivers.yaml",
                Some("paths:"),
                &format!("id: {}", p.id),
                format!("install path {:?} is neither a flavour of `flavours:` nor `unsupported`", p.id),
            ));
        }
    }
    for b in &r.sources.builds {
        if r.sources.source(&b.source).is_none() {
            errors.push(t.error(
                "recipes/sources.yaml",
                Some(&format!("id: {}", b.id)),
                &format!("source: {}", b.source),
                format!("build {:?} names source {:?}, which `sources:` does not define", b.id, b.source),
            ));
        }
    }
    let distros: Vec<&str> = r.distros.iter().map(|d| d.id.as_str()).collect();
    for (needle, message) in super::lemonade::problems(&r.lemonade, &distros) {
        errors.push(t.error("recipes/lemonade.yaml", None, &needle, message));
    }
    for d in &r.devices {
        if !r.drivers.flavours.iter().any(|f| f.accepts.iter().any(|a| a.family == d.family)) {
            errors.push(t.error(
                "recipes/devices.yaml",
                Some(&format!("device: \"{}\"", d.device)),
                &format!("family: {}", d.family),
                format!(
                    "device {}:{} rev {} is {}, which no driver flavour accepts",
                    d.vendor, d.device, d.revision, d.family
                ),
            ));
        }
    }
    for v in &r.drivers.module_identity.versions {
        if let Err(e) = regex::Regex::new(&v.pattern) {
            errors.push(t.error(
                "recipes/drivers.yaml",
                Some("module_identity:"),
                &format!("id: {}", v.id),
                format!("version stamp {:?} has a bad pattern: {e}", v.id),
            ));
        }
    }
    for d in r.devices.iter().filter(|d| !d.removed) {
        if r.firmware_blobs(&d.firmware_dir).is_empty() {
            errors.push(t.error(
                "recipes/devices.yaml",
                Some(&format!("device: \"{}\"", d.device)),
                &format!("firmware_dir: \"{}\"", d.firmware_dir),
                format!("firmware directory {:?} has no entry in `firmware_dirs:`", d.firmware_dir),
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use crate::recipes::{EMBEDDED, Recipes};

    fn with(rel: &str, edit: impl Fn(&str) -> String) -> String {
        let dir = tempfile::tempdir().unwrap();
        for (r, text) in EMBEDDED {
            let p = dir.path().join(r);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, if *r == rel { edit(text) } else { text.to_string() }).unwrap();
        }
        format!("{:#}", Recipes::from_dir(dir.path()).unwrap_err())
    }

    #[test]
    fn a_signature_naming_a_missing_check_or_step_is_refused_with_file_and_line() {
        let err =
            with("recipes/kernel-log.yaml", |t| t.replacen("check: firmware.compat", "check: firmware.compot", 1));
        assert!(err.contains("recipes/kernel-log.yaml:"), "{err}");
        assert!(err.contains("names check \"firmware.compot\", which does not exist"), "{err}");
        let line: usize = err.split("kernel-log.yaml:").nth(1).unwrap().split(':').next().unwrap().parse().unwrap();
        let text = EMBEDDED.iter().find(|(r, _)| *r == "recipes/kernel-log.yaml").unwrap().1;
        assert!(text.lines().nth(line - 1).unwrap().contains("check: firmware.compat"), "line {line}");
        let err = with("recipes/kernel-log.yaml", |t| t.replacen("step: driver", "step: drivers", 1));
        assert!(err.contains("names step \"drivers\""), "{err}");
    }

    #[test]
    fn an_unknown_flavour_is_a_load_error() {
        let err = with("recipes/drivers.yaml", |t| t.replacen("- id: backport-dkms", "- id: backports-dkms", 1));
        assert!(err.contains("recipes/drivers.yaml:"), "{err}");
        assert!(err.contains("backports-dkms"), "{err}");
    }

    #[test]
    fn a_bad_version_stamp_or_a_device_without_firmware_blobs_is_refused() {
        let err = with("recipes/drivers.yaml", |t| t.replacen("pattern: '^0\\.1$'", "pattern: '(0'", 1));
        assert!(err.contains("version stamp \"xdna-driver-source\" has a bad pattern"), "{err}");
        let err = with("recipes/devices.yaml", |t| t.replacen("- dir: \"17f0_11\"", "- dir: \"17f0_99\"", 1));
        assert!(err.contains("firmware directory \"17f0_11\" has no entry"), "{err}");
    }

    #[test]
    fn a_build_naming_a_missing_source_is_refused() {
        let err = with("recipes/sources.yaml", |t| t.replacen("source: fastflowlm", "source: fastflow", 1));
        assert!(err.contains("names source \"fastflow\""), "{err}");
    }

    #[test]
    fn a_lemonade_url_naming_an_unpublished_asset_is_refused() {
        let err = with("recipes/lemonade.yaml", |t| t.replacen("-fc{version_id}.x86_64.rpm", "-fc{version_id}.rpm", 1));
        assert!(err.contains("recipes/lemonade.yaml:"), "{err}");
        assert!(
            err.contains(
                r#"source "fedora" expands to "lemonade-server-11.7.0-fc43.rpm", which Lemonade 11.7.0 did not publish"#
            ),
            "{err}"
        );
        let err = with("recipes/lemonade.yaml", |t| t.replacen(r#"version: "11.7.0""#, r#"version: "11.8.0""#, 1));
        assert!(err.contains(r#"published_assets has no entry for the pinned version "11.8.0""#), "{err}");
    }

    #[test]
    fn overlapping_lemonade_ranges_and_unknown_variables_are_refused() {
        let err = with("recipes/lemonade.yaml", |t| {
            t.replacen(
                "below: \"10.3.0\"\n      value: lemonade-server.service",
                "below: \"10.4.0\"\n      value: lemonade-server.service",
                1,
            )
        });
        assert!(err.contains(r#"releases.unit: "10.3.0" overlaps the range before it"#), "{err}");
        let err = with("recipes/lemonade.yaml", |t| {
            t.replacen("\"$HOME/.cache/lemonade\"]", "\"$HOMEDIR/.cache/lemonade\"]", 1)
        });
        assert!(err.contains(r#"directory template "$HOMEDIR/.cache/lemonade""#), "{err}");
    }
}
