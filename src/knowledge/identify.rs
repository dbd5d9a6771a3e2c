//! Which amdxdna a module file is, and which file the running kernel has loaded.
//!
//! Decided from the file — modinfo `intree: Y`, its `version:` stamp, `srcversion`, the
//! directory under `lib/modules/<kver>/` — and from the loaded module's sysfs attributes
//! (`version`, `srcversion`, `taint`), never from a DRM version alone: xdna-driver's staging
//! tree and mainline share the 0.x numbering (kernel 7.2's in-tree driver reports 0.10, inside
//! the staging range). A DRM version only tells the xdna-driver variants apart (the legacy
//! driver reports 1.x) and picks the matrix row of a backported in-tree driver. The rules
//! are data: recipes/drivers.yaml `module_identity` and `xdna_driver`.

use serde::Serialize;

use super::analysis::FlavourInfo;
use crate::host::Facts;
use crate::host::kernel::ModuleFile;
use crate::parse::modinfo::ModInfo;
use crate::parse::version::{parse_dotted, parse_kernel_release};
use crate::recipes::{FlavourId, Origin, Recipes, Variant};

/// The module the running kernel has loaded, matched against the module files on disk.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Loaded {
    /// Running kernel release.
    pub kernel: String,
    /// The file identified as the loaded module (classified with the DRM version it reports);
    /// None when no file on disk matches it.
    pub module: Option<FlavourInfo>,
    /// How it was identified.
    pub basis: String,
    /// `/sys/module/amdxdna/version`.
    pub version: Option<String>,
    /// `/sys/module/amdxdna/srcversion`.
    pub srcversion: Option<String>,
    /// `/sys/module/amdxdna/taint`.
    pub taint: Option<String>,
    /// DRM version the loaded driver reported (kernel log, else `flm validate`).
    pub drm: Option<String>,
    /// What the mainline driver of this kernel series reports, for comparison.
    pub mainline_drm: Option<String>,
    /// Every amdxdna file of the running kernel, classified.
    pub candidates: Vec<FlavourInfo>,
    /// The file modprobe would load, when it is not the loaded one (a DKMS module on disk
    /// while the in-tree driver runs, or the reverse).
    pub not_loaded: Option<FlavourInfo>,
    /// The loaded module is an older build of its file (its version or srcversion differs
    /// from the file's): rebuilt on disk, not reloaded.
    pub stale: Option<String>,
}

/// The modinfo of one module file: asked by path when the kernel has several files, else the
/// `modinfo -k` answer when it names this file (or the kernel has only this one).
fn modinfo_of<'a>(f: &'a Facts, release: &str, file: &ModuleFile, only: bool) -> Option<&'a ModInfo> {
    let m = f.modinfo.ok()?;
    if let Some(x) = m.files.get(&file.path) {
        return Some(x);
    }
    let k = m.kernels.get(release).and_then(|x| x.as_ref())?;
    let names_it = k.filename.as_deref().is_some_and(|p| same_file(p, &file.path));
    (names_it || (only && k.filename.is_none())).then_some(k)
}

/// Two spellings of one module path (modinfo's `filename:` may carry a `-b` root prefix).
fn same_file(a: &str, b: &str) -> bool {
    let tail = |s: &str| s.find("lib/modules/").map(|i| s[i..].to_string()).unwrap_or_else(|| s.to_string());
    tail(a) == tail(b)
}

/// The path of a module file relative to `lib/modules/<release>/`.
fn rel_to_kernel<'a>(path: &'a str, release: &str) -> &'a str {
    let marker = format!("lib/modules/{release}/");
    path.find(&marker).map(|i| &path[i + marker.len()..]).unwrap_or(path)
}

/// Classifies one module file of `release`. `drm` is the DRM version the module reports when
/// it is the loaded one.
pub fn classify(
    f: &Facts,
    r: &Recipes,
    release: &str,
    path: &str,
    modinfo: Option<&ModInfo>,
    drm: Option<&str>,
) -> FlavourInfo {
    let rules = &r.drivers.module_identity;
    let (origin, origin_basis) = match modinfo {
        _ if path == "built-in" => (Origin::InTree, "built into the kernel (modules.builtin)".to_string()),
        Some(m) if m.intree => (Origin::InTree, "modinfo intree: Y (built with the kernel)".to_string()),
        Some(_) => (Origin::OutOfTree, "modinfo has no intree: Y (an external build)".to_string()),
        None => match rules.origin_of(rel_to_kernel(path, release)) {
            Some(l) => (l.origin, format!("installed under {} (no modinfo for the file)", l.dir)),
            None => (Origin::OutOfTree, "not under kernel/ (no modinfo for the file)".to_string()),
        },
    };
    let version = modinfo.and_then(|m| m.version.clone());
    let mut info = FlavourInfo {
        kernel: release.into(),
        id: FlavourId::InTree,
        variant: None,
        variant_basis: None,
        path: path.into(),
        version: None,
        origin,
        origin_basis,
        srcversion: modinfo.and_then(|m| m.srcversion.clone()),
        drm: drm.map(str::to_string),
    };
    if origin == Origin::InTree {
        return info;
    }
    info.version = version.clone();
    let drm_major = drm.and_then(parse_dotted).and_then(|d| d.0.first().copied());
    let stamp = version.as_deref().and_then(|v| rules.stamp_of(v));
    match stamp {
        Some((s, groups)) if s.flavour == FlavourId::XdnaDkms => {
            let (variant, basis) = xdna_variant(r, drm, drm_major, groups.get("plugin"), groups.get("date"));
            info.id = FlavourId::XdnaDkms;
            info.variant = Some(variant);
            info.variant_basis = Some(basis);
        }
        Some((s, _)) => info.id = s.flavour,
        None => {
            // No MODULE_VERSION: the mainline driver built out of tree (the backport DKMS) on
            // the kernels it targets or when DKMS registers it; else an old xdna-driver build.
            let backport = super::dkms::backport_registered(f, r) || {
                let (lo, hi) = r.flavour_kernels(FlavourId::BackportDkms);
                parse_kernel_release(release).is_some_and(|k| crate::recipes::kernel_in_range(&k, lo, hi))
            };
            if backport && drm_major != Some(1) {
                info.id = FlavourId::BackportDkms;
            } else {
                info.id = FlavourId::XdnaDkms;
                let (variant, basis) = match drm_major {
                    Some(1) => (Variant::Legacy, format!("the loaded module reports DRM {}", drm.unwrap_or_default())),
                    _ => (
                        Variant::Legacy,
                        "out-of-tree module without xdna-driver's version stamp (assumed legacy)".to_string(),
                    ),
                };
                info.variant = Some(variant);
                info.variant_basis = Some(basis);
            }
        }
    }
    info
}

/// Legacy or staging: the DRM major of the loaded module (1 = legacy), else the release the
/// plugin version belongs to, else the build date against main's switch.
fn xdna_variant(
    r: &Recipes,
    drm: Option<&str>,
    drm_major: Option<u32>,
    plugin: Option<&String>,
    date: Option<&String>,
) -> (Variant, String) {
    let x = &r.drivers.xdna_driver;
    match drm_major {
        Some(1) => {
            return (
                Variant::Legacy,
                format!("the loaded module reports DRM {} (the legacy driver)", drm.unwrap_or("")),
            );
        }
        Some(0) => {
            return (
                Variant::Staging,
                format!(
                    "the loaded module reports DRM {} (the staging driver; the legacy one reports 1.x)",
                    drm.unwrap_or("")
                ),
            );
        }
        _ => {}
    }
    if let Some(rel) = plugin.and_then(|p| x.release_of_plugin(p)) {
        return (
            rel.driver,
            format!(
                "version {} is xdna-driver {}'s, whose package carries the {} driver",
                plugin.map(String::as_str).unwrap_or(""),
                rel.branch,
                rel.driver
            ),
        );
    }
    match date {
        Some(d) if d.as_str() < x.main_staging_since.as_str() => (
            Variant::Legacy,
            format!(
                "built {d} from main, before its package switched to the staging driver ({})",
                x.main_staging_since
            ),
        ),
        Some(d) => (
            Variant::Staging,
            format!("built {d} from main, after its package switched to the staging driver ({})", x.main_staging_since),
        ),
        None => (Variant::Legacy, "no build date in the version stamp (assumed legacy)".to_string()),
    }
}

/// Every amdxdna file of `release`, classified, in modprobe's preference order (the file
/// `modinfo -k` names first, then `updates/`, `extra/`, `kernel/`, `weak-updates/`).
pub fn candidates<'f>(f: &'f Facts, r: &Recipes, release: &str) -> Vec<(FlavourInfo, Option<&'f ModInfo>)> {
    let Some(k) = f.kernel.ok() else { return Vec::new() };
    let inst = k.installed(release);
    let files: &[ModuleFile] = inst.map(|i| i.amdxdna.as_slice()).unwrap_or_default();
    let only = files.len() == 1;
    let mut out: Vec<(FlavourInfo, Option<&ModInfo>)> = files
        .iter()
        .map(|file| {
            let m = modinfo_of(f, release, file, only);
            (classify(f, r, release, &file.path, m, None), m)
        })
        .collect();
    let chosen =
        f.modinfo.ok().and_then(|m| m.kernels.get(release)).and_then(|m| m.as_ref()).and_then(|m| m.filename.clone());
    if let Some(c) = &chosen
        && let Some(i) = out.iter().position(|(x, _)| same_file(&x.path, c))
    {
        let first = out.remove(i);
        out.insert(0, first);
    }
    if out.is_empty() {
        if inst.is_some_and(|i| i.builtin) {
            out.push((classify(f, r, release, "built-in", None, None), None));
        } else if let Some(m) = f.modinfo.ok().and_then(|m| m.kernels.get(release)).and_then(|m| m.as_ref())
            && let Some(p) = m.filename.clone()
        {
            // modinfo found a file the directory scan did not (another directory).
            let p = if p == "(builtin)" { "built-in".to_string() } else { p };
            out.push((classify(f, r, release, &p, Some(m), None), Some(m)));
        }
    }
    out
}

/// The module `release` loads from disk (modprobe's choice).
pub fn on_disk(f: &Facts, r: &Recipes, release: &str) -> Option<FlavourInfo> {
    candidates(f, r, release).into_iter().next().map(|(fl, _)| fl)
}

/// Matches the loaded module of the running kernel to its file; None when amdxdna is not
/// loaded (or the kernel facts are missing).
pub fn loaded(f: &Facts, r: &Recipes, drm: Option<&str>) -> Option<Loaded> {
    let k = f.kernel.ok()?;
    let release = k.running.clone()?;
    if !k.loaded {
        return None;
    }
    let cands = candidates(f, r, &release);
    let mainline_drm = parse_kernel_release(&release).and_then(|kr| r.mainline_drm(&kr)).map(|m| m.drm.clone());
    let mut l = Loaded {
        kernel: release.clone(),
        module: None,
        basis: String::new(),
        version: k.loaded_version.clone(),
        srcversion: k.loaded_srcversion.clone(),
        taint: k.loaded_taint.clone(),
        drm: drm.map(str::to_string),
        mainline_drm,
        candidates: cands.iter().map(|(c, _)| c.clone()).collect(),
        not_loaded: None,
        stale: None,
    };
    let (index, basis) = match identify(r, &l, &cands) {
        Some(x) => x,
        None => {
            l.basis = "no amdxdna file of this kernel matches the loaded module".into();
            return Some(l);
        }
    };
    l.basis = basis;
    let (file, m) = &cands[index];
    let mut module = classify(f, r, &release, &file.path, *m, drm);
    // The loaded copy is an older build of this file when its stamp differs.
    let differs = |loaded: &Option<String>, disk: &Option<String>| {
        loaded.as_ref().zip(disk.as_ref()).is_some_and(|(a, b)| a != b)
    };
    if differs(&l.version, &file.version) || differs(&l.srcversion, &file.srcversion) {
        l.stale = Some(format!(
            "{} on disk is {}, but the loaded module is {}: it was rebuilt or replaced after it was loaded",
            file.path,
            file.version.clone().or(file.srcversion.clone()).unwrap_or_default(),
            l.version.clone().or(l.srcversion.clone()).unwrap_or_default()
        ));
        module.version = l.version.clone().or(module.version);
    }
    if index != 0 {
        l.not_loaded = Some(cands[0].0.clone());
    }
    l.module = Some(module);
    Some(l)
}

/// Which candidate is the loaded module, and why.
fn identify(r: &Recipes, l: &Loaded, cands: &[(FlavourInfo, Option<&ModInfo>)]) -> Option<(usize, String)> {
    if cands.is_empty() {
        return None;
    }
    let only = |pred: &dyn Fn(&FlavourInfo) -> bool| -> Vec<usize> {
        cands.iter().enumerate().filter(|(_, (c, _))| pred(c)).map(|(i, _)| i).collect()
    };
    // The first of several matches: they are in modprobe's order.
    let pick = |v: Vec<usize>, why: String| v.first().map(|i| (*i, why));
    if let Some(s) = &l.srcversion
        && let Some(x) =
            pick(only(&|c| c.srcversion.as_deref() == Some(s)), format!("its srcversion {s} is the loaded module's"))
    {
        return Some(x);
    }
    if let Some(v) = &l.version
        && let Some(x) = pick(
            only(&|c| c.version.as_deref() == Some(v)),
            format!("its version {v} is the loaded module's (/sys/module/amdxdna/version)"),
        )
    {
        return Some(x);
    }
    let oot = &r.drivers.module_identity.taint_out_of_tree;
    if let Some(t) = &l.taint {
        let out_of_tree = t.contains(oot.as_str());
        let want = if out_of_tree { Origin::OutOfTree } else { Origin::InTree };
        let why = if out_of_tree {
            format!("the loaded module carries taint '{t}' (out-of-tree)")
        } else {
            format!("the loaded module carries no out-of-tree taint ('{t}')")
        };
        if let Some(x) = pick(only(&|c| c.origin == want), why) {
            return Some(x);
        }
    }
    if l.version.is_none()
        && l.taint.is_none()
        && let Some(x) = pick(
            only(&|c| c.version.is_none() && c.origin == Origin::InTree),
            "the loaded module has no version (no MODULE_VERSION: the kernel's own driver)".into(),
        )
    {
        return Some(x);
    }
    if l.drm.as_deref().and_then(parse_dotted).and_then(|d| d.0.first().copied()) == Some(1)
        && let Some(x) = pick(
            only(&|c| c.origin == Origin::OutOfTree),
            format!(
                "the loaded module reports DRM {} (xdna-driver's legacy driver)",
                l.drm.clone().unwrap_or_default()
            ),
        )
    {
        return Some(x);
    }
    Some((0, "assumed: the file modprobe picks (no version, srcversion or taint to compare)".into()))
}
