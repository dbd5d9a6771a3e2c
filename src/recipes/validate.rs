//! Cross-reference checks run when the recipes load: every check id, step id, flavour, source,
//! build and distro a recipe names must exist. A dangling reference is a load error naming
//! the file and line, like a syntax error — never a silently ignored entry.

use super::{DataError, Recipes};
use crate::model::{CHECK_IDS, STEP_IDS};
use crate::parse::version::parse_dotted;

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
    for c in &r.crashes {
        if let Some(ch) = &c.check
            && !CHECK_IDS.contains(&ch.as_str())
        {
            errors.push(t.error(
                "recipes/kernel-log.yaml",
                Some(&format!("id: {}", c.id)),
                &format!("check: {ch}"),
                format!("crash signature {:?} names check {ch:?}, which does not exist", c.id),
            ));
        }
        if let Some(st) = &c.step
            && !STEP_IDS.contains(&st.as_str())
        {
            errors.push(t.error(
                "recipes/kernel-log.yaml",
                Some(&format!("id: {}", c.id)),
                &format!("step: {st}"),
                format!("crash signature {:?} names step {st:?}, which does not exist", c.id),
            ));
        }
    }
    for (anchor, needle, message) in super::known::problems(&r.known_issues, CHECK_IDS, STEP_IDS) {
        errors.push(t.error("recipes/known-issues.yaml", Some(&anchor), &needle, message));
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
    validate_distros(r, t, &mut errors);
    validate_flm(r, t, &mut errors);
    validate_routes(r, t, &mut errors);
    errors
}

/// `recipes/routes.yaml`: distros, repositories and flavours exist; each route has what its
/// `via` needs; repository definitions are complete and write only under `etc/`.
fn validate_routes(r: &Recipes, t: &Texts, errors: &mut Vec<DataError>) {
    use super::routes::{Component, RepoKind, Via};
    const FILE: &str = "recipes/routes.yaml";
    let safe = |p: &str| p.starts_with("etc/") && !p.split('/').any(|s| s == ".." || s.is_empty());
    for repo in &r.routes.repositories {
        let anchor = format!("id: {}", repo.id);
        let mut bad = |needle: &str, msg: String| errors.push(t.error(FILE, Some(&anchor), needle, msg));
        let missing = |what: &str| format!("repository {:?} ({:?}) needs `{what}`", repo.id, repo.kind);
        match repo.kind {
            RepoKind::RpmMd | RepoKind::Deb822 => {
                if repo.file.as_deref().is_none_or(|f| !safe(f)) {
                    bad("id:", format!("repository {:?} needs a `file` under etc/", repo.id));
                }
                if repo.url.is_none() {
                    bad("id:", missing("url"));
                }
                if repo.kind == RepoKind::RpmMd && repo.section.is_none() {
                    bad("id:", missing("section"));
                }
                if repo.kind == RepoKind::Deb822 {
                    if repo.suites.is_empty() || repo.components.is_empty() {
                        bad("id:", missing("suites and components"));
                    }
                    if repo.key.is_none() {
                        bad("id:", missing("key (Signed-By)"));
                    }
                }
            }
            RepoKind::Distro => {
                if repo.file.is_some() || repo.key.is_some() {
                    bad("id:", format!("repository {:?} is the distro's own: it has no file or key of ours", repo.id));
                }
            }
        }
        if let Some(k) = &repo.key {
            if k.fingerprint.as_deref().is_some_and(|f| f.len() != 40 || !f.chars().all(|c| c.is_ascii_hexdigit())) {
                bad("fingerprint:", format!("repository {:?}: a fingerprint is 40 hex digits", repo.id));
            }
            if !safe(&k.path) {
                bad("path:", format!("repository {:?}: the key path must lie under etc/", repo.id));
            }
        }
    }
    let flavour_known = |f: super::FlavourId| r.drivers.flavours.iter().any(|x| x.id == f);
    for d in &r.routes.distros {
        let anchor = format!("distro: {}", d.distro);
        let Some(recipe) = r.distros.iter().find(|x| x.id == d.distro) else {
            errors.push(t.error(
                FILE,
                None,
                &anchor,
                format!("routes for distro {:?}, which recipes/distros.yaml does not define", d.distro),
            ));
            continue;
        };
        for rel in &d.releases {
            for v in rel.min.iter().chain(&rel.max).chain(d.codenames.values()) {
                if parse_dotted(v).is_none() {
                    errors.push(t.error(FILE, Some(&anchor), v, format!("release {v:?} is not a dotted version")));
                }
            }
            for c in Component::ALL {
                for route in rel.of(c) {
                    let mut bad = |needle: &str, msg: String| {
                        errors.push(t.error(FILE, Some(&anchor), needle, format!("{} {c} route: {msg}", d.distro)))
                    };
                    let via = route.via.as_str();
                    match (route.via, c) {
                        (Via::Kernel, Component::Driver) | (Via::Release, Component::Lemonade) => {}
                        (Via::Kernel, _) | (Via::Release, _) => {
                            bad(&format!("via: {via}"), format!("`via: {via}` is not a {c} route"))
                        }
                        _ => {}
                    }
                    let packaged = matches!(route.via, Via::Distro | Via::Vendor | Via::Download | Via::Snap);
                    if packaged && route.packages.is_empty() {
                        bad(&format!("via: {via}"), "names no packages".into());
                    }
                    if route.via == Via::Download && route.url.is_none() {
                        bad("via: download", "a download needs a `url`".into());
                    }
                    match (&route.repository, route.via) {
                        (None, Via::Vendor) => bad("via: vendor", "a vendor route names its `repository`".into()),
                        (Some(id), how) => match r.routes.repository(id) {
                            None => bad(&format!("repository: {id}"), format!("repository {id:?} is not defined")),
                            Some(repo) => {
                                let ok = match how {
                                    Via::Vendor => repo.kind != RepoKind::Distro,
                                    Via::Distro => repo.kind == RepoKind::Distro,
                                    _ => false,
                                };
                                if !ok {
                                    bad(
                                        &format!("repository: {id}"),
                                        format!("`via: {via}` cannot use repository {id:?} ({:?})", repo.kind),
                                    );
                                }
                                if repo.manager != recipe.package_manager {
                                    bad(
                                        &format!("repository: {id}"),
                                        format!(
                                            "repository {id:?} is for {}, {} uses {}",
                                            repo.manager.as_str(),
                                            d.distro,
                                            recipe.package_manager.as_str()
                                        ),
                                    );
                                }
                            }
                        },
                        _ => {}
                    }
                    if c == Component::Driver && route.flavour.is_none() {
                        bad(&format!("via: {via}"), "a driver route names the `flavour` it provides".into());
                    }
                    for f in route.flavour.iter().chain(&route.drivers) {
                        if !flavour_known(*f) {
                            bad(f.as_str(), format!("flavour {f} has no row in recipes/drivers.yaml"));
                        }
                    }
                    for v in route.version.iter().chain(&route.kernel_min).chain(&route.kernel_max) {
                        if parse_dotted(v).is_none() {
                            bad(v, format!("{v:?} is not a dotted version"));
                        }
                    }
                }
            }
        }
    }
}

/// Derivatives name an existing base; package `sources:`/`unverified:` name known roles.
fn validate_distros(r: &Recipes, t: &Texts, errors: &mut Vec<DataError>) {
    const FILE: &str = "recipes/distros.yaml";
    for d in &r.derivatives {
        if !r.distros.iter().any(|x| x.id == d.base) {
            errors.push(t.error(
                FILE,
                Some(&format!("id: {}", d.id)),
                &format!("base: {}", d.base),
                format!("derivative {:?} names base {:?}, which `distros:` does not define", d.id, d.base),
            ));
        }
        if r.distros.iter().any(|x| x.id == d.id || x.like.contains(&d.id)) {
            errors.push(t.error(
                FILE,
                Some("derivatives:"),
                &format!("id: {}", d.id),
                format!("{:?} is both a distro (or a `like` of one) and a derivative", d.id),
            ));
        }
    }
    for d in &r.distros {
        let roles = d
            .packages
            .sources
            .keys()
            .map(String::as_str)
            .chain(d.packages.unverified.fields().iter().map(String::as_str));
        for role in roles {
            if !super::PackageNames::ROLES.contains(&role) {
                errors.push(t.error(
                    FILE,
                    Some(&format!("id: {}", d.id)),
                    role,
                    format!(
                        "distro {:?}: package role {role:?} does not exist (known: {})",
                        d.id,
                        super::PackageNames::ROLES.join(", ")
                    ),
                ));
            }
        }
    }
}

/// The FLM validate rules tile the versions they cover; the top-level minimums are the newest
/// rule's; the pinned FastFlowLM source is a release whose commit was read upstream.
fn validate_flm(r: &Recipes, t: &Texts, errors: &mut Vec<DataError>) {
    const FILE: &str = "recipes/drivers.yaml";
    let flm = &r.drivers.flm;
    let mut err = |needle: &str, message: String| errors.push(t.error(FILE, Some("flm:"), needle, message));
    const RULE_FIELDS: [&str; 9] = [
        "min_kernel",
        "kernel_check_returns_early",
        "min_drm",
        "min_firmware",
        "min_columns",
        "memlock_min_mib",
        "reports_busy",
        "false_no_device",
        "below",
    ];
    for (i, rule) in flm.validate.iter().enumerate() {
        let next = flm.validate.get(i + 1);
        match (&rule.below, next) {
            (Some(b), Some(n)) if *b != n.from => err(
                &format!("from: \"{}\"", n.from),
                format!("flm.validate: the rule from {} ends below {b}, but the next starts at {}", rule.from, n.from),
            ),
            (None, Some(n)) => err(
                &format!("from: \"{}\"", n.from),
                format!("flm.validate: the rule from {} is open-ended but another follows it", rule.from),
            ),
            (Some(b), None) => err(
                &format!("below: \"{b}\""),
                format!("flm.validate: the newest rule (from {}) must be open-ended", rule.from),
            ),
            _ => {}
        }
        for f in rule.unverified.fields() {
            if !RULE_FIELDS.contains(&f.as_str()) {
                err(&format!("from: \"{}\"", rule.from), format!("flm.validate: unknown unverified field {f:?}"));
            }
        }
    }
    if let Some(n) = flm.newest_rule() {
        let same = n.min_kernel.as_deref() == Some(flm.min_kernel.as_str())
            && n.min_drm == flm.min_drm
            && flm.min_firmware.starts_with(&format!("{}.", n.min_firmware))
            && n.min_columns == flm.min_columns;
        if !same {
            err(
                "min_kernel:",
                "flm: min_kernel/min_drm/min_firmware/min_columns must equal the newest validate rule's".into(),
            );
        }
    }
    for rel in &flm.releases {
        for f in rel.unverified.fields() {
            if !["commit", "date"].contains(&f.as_str()) {
                err(
                    &format!("tag: {}", rel.tag),
                    format!("flm.releases {}: unknown unverified field {f:?}", rel.version),
                );
            }
        }
    }
    // Only the upstream repository's tags are in flm.releases; a mirror or a local stand-in
    // (tests, `--data-dir` of an air-gapped site) pins its own commits.
    let Some(src) = r.sources.source("fastflowlm").filter(|s| s.url.contains("github.com/ROCm/FastFlowLM")) else {
        return;
    };
    let pinned = flm.releases.iter().find(|rel| rel.tag == src.git_ref);
    let ok = pinned
        .is_some_and(|rel| rel.commit.as_deref() == Some(src.commit.as_str()) && !rel.unverified.covers("commit"));
    if !ok {
        errors.push(t.error(
            "recipes/sources.yaml",
            Some("id: fastflowlm"),
            "commit:",
            format!(
                "the fastflowlm pin {} -> {} is not a release in recipes/drivers.yaml flm.releases with that verified commit",
                src.git_ref, src.commit
            ),
        ));
    }
    if let (Some(rel), Some(b)) = (pinned, r.sources.build("flm"))
        && b.version != rel.version
    {
        errors.push(t.error(
            "recipes/sources.yaml",
            Some("id: flm"),
            "version:",
            format!("build flm says version {} but its source pins release {}", b.version, rel.version),
        ));
    }
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
    fn a_known_issue_naming_a_missing_check_or_with_a_bad_field_is_refused_with_file_and_line() {
        let rel = "recipes/known-issues.yaml";
        let text = EMBEDDED.iter().find(|(r, _)| *r == rel).unwrap().1;
        let line_of = |err: &str| -> usize {
            err.split("known-issues.yaml:").nth(1).unwrap().split(':').next().unwrap().parse().unwrap()
        };
        let err = with(rel, |t| t.replacen("check: flm.validate", "check: flm.validated", 1));
        assert!(err.contains("names check \"flm.validated\", which does not exist"), "{err}");
        assert!(text.lines().nth(line_of(&err) - 1).unwrap().contains("check: flm.validate"), "{err}");
        // Unknown fields are refused by the parser, with their line.
        let err = with(rel, |t| t.replacen("    title:", "    titel:", 1));
        assert!(err.contains("recipes/known-issues.yaml:") && err.contains("titel"), "{err}");
        let err = with(rel, |t| t.replacen("      flm: [{from: \"0.9.45\"}]", "      flm: [{form: \"0.9.45\"}]", 1));
        assert!(err.contains("form"), "{err}");
        // Bounds that are not versions, bad patterns, sources that are not URLs.
        let err = with(rel, |t| t.replacen("{from: \"0.9.45\"}", "{from: \"latest\"}", 1));
        assert!(err.contains("flm bound \"latest\" is not a version"), "{err}");
        let err = with(rel, |t| t.replacen("log: 'SVA bind device failed, ret -95'", "log: 'SVA (bind'", 1));
        assert!(err.contains("bad log pattern"), "{err}");
        let err = with(rel, |t| t.replacen("- https://github.com/ROCm/FastFlowLM/issues/655", "- FastFlowLM#655", 1));
        assert!(err.contains("every source is an https:// URL"), "{err}");
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
    fn a_derivative_of_a_missing_distro_is_refused() {
        let err = with("recipes/distros.yaml", |t| t.replacen("base: ubuntu", "base: ubunto", 1));
        assert!(err.contains("derivative \"linuxmint\" names base \"ubunto\""), "{err}");
        let err = with("recipes/distros.yaml", |t| t.replacen("unverified: [dkms]", "unverified: [drivers]", 1));
        assert!(err.contains("package role \"drivers\" does not exist"), "{err}");
    }

    #[test]
    fn flm_rules_tile_the_versions_and_pin_a_verified_release() {
        let err = with("recipes/drivers.yaml", |t| t.replacen("below: \"1.0.8\"", "below: \"1.0.9\"", 1));
        assert!(err.contains("ends below 1.0.9, but the next starts at 1.0.8"), "{err}");
        let err = with("recipes/drivers.yaml", |t| t.replacen("min_kernel: \"6.17\"", "min_kernel: \"6.18\"", 1));
        assert!(err.contains("must equal the newest validate rule's"), "{err}");
        // Pinning a release whose commit no snapshot confirmed is refused.
        let err = with("recipes/sources.yaml", |t| t.replacen("ref: v0.9.45", "ref: v1.0.9", 1));
        assert!(err.contains("the fastflowlm pin v1.0.9"), "{err}");
    }

    #[test]
    fn routes_name_known_distros_repositories_and_flavours() {
        let err =
            with("recipes/routes.yaml", |t| t.replacen("repository: copr-abn-amd-npu", "repository: copr-abn", 1));
        assert!(
            err.contains("recipes/routes.yaml:") && err.contains("repository \"copr-abn\" is not defined"),
            "{err}"
        );
        let err = with("recipes/routes.yaml", |t| t.replacen("- distro: arch", "- distro: gentoo", 1));
        assert!(err.contains("routes for distro \"gentoo\", which recipes/distros.yaml does not define"), "{err}");
        let err = with("recipes/routes.yaml", |t| t.replacen("flavour: backport-dkms", "flavour: backports-dkms", 1));
        assert!(err.contains("recipes/routes.yaml:") && err.contains("backports-dkms"), "{err}");
        let err =
            with("recipes/routes.yaml", |t| t.replacen("repository: arch-extra", "repository: ubuntu-universe", 1));
        assert!(err.contains("repository \"ubuntu-universe\" is for dpkg, arch uses pacman"), "{err}");
    }

    #[test]
    fn repository_definitions_are_complete_and_stay_under_etc() {
        let err = with("recipes/routes.yaml", |t| {
            t.replacen("fingerprint: \"881CF4B40B0BFA288D6776E83BF36CFA0BD50AEC\"", "fingerprint: \"881C\"", 1)
        });
        assert!(err.contains("a fingerprint is 40 hex digits"), "{err}");
        let err = with("recipes/routes.yaml", |t| {
            t.replacen("path: \"etc/apt/keyrings/lemonade-team-stable.asc\"", "path: \"etc/../root/key\"", 1)
        });
        assert!(err.contains("the key path must lie under etc/"), "{err}");
        let err = with("recipes/routes.yaml", |t| t.replacen("url: \"https://github.com/ROCm", "sha256: \"x", 1));
        assert!(err.contains("a download needs a `url`"), "{err}");
        let err = with("recipes/routes.yaml", |t| t.replacen("- via: kernel", "- via: release", 1));
        assert!(err.contains("`via: release` is not a driver route"), "{err}");
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
