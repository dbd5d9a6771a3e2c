//! Which route each component of the stack (driver, firmware, XRT + plugin, FastFlowLM,
//! Lemonade) takes on this host: already present, the kernel's own driver, a package route of
//! `recipes/routes.yaml` (the distro's repositories, a vendor repository, the vendor's own
//! package file, a snap), Lemonade's release package, or the pinned source build — decided
//! from the distro and release, the next-boot kernel, what is installed, what the configured
//! repositories offer, the compatibility matrix (recipes/drivers.yaml) and `--from`.
//! The `repos`, `packages` and build steps, and the strategy, all ask [`choose`].

use serde::{Deserialize, Serialize};

use super::analysis::Analysis;
use super::{driver, firmware, stack, strategy};
use crate::host::Facts;
use crate::parse::version::{KernelRelease, parse_dotted, parse_kernel_release};
use crate::recipes::routes::{Component, ReleaseRoutes, RepoKind, Repository, Route, Via};
use crate::recipes::{FlavourId, Recipes, kernel_in_range};

/// `install --from`: where components may come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FromMode {
    /// Packages where a packaged route satisfies the compatibility matrix, source builds otherwise
    #[default]
    Auto,
    /// Packages only: a component without a packaged route stops the plan
    Packages,
    /// The pinned source builds (and Lemonade's release package)
    Source,
}

impl FromMode {
    /// The command-line spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FromMode::Auto => "auto",
            FromMode::Packages => "packages",
            FromMode::Source => "source",
        }
    }
}

/// What the caller knows beyond Facts.
#[derive(Debug, Clone, Default)]
pub struct Inputs<'a> {
    /// `install --from`.
    pub from: FromMode,
    /// `install --driver`: `in-tree`, `xdna-dkms` or `backport-dkms`.
    pub forced_driver: Option<&'a str>,
}

/// What happens to a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Take {
    /// Already on the host: nothing to do.
    Present,
    /// The kernel's own driver: nothing to install.
    Kernel,
    /// A package route: the `packages` step installs it.
    Packages,
    /// Lemonade's release package: the `lemonade` step installs it.
    Release,
    /// Built from the pinned sources (`sources`, `xrt`, `driver`, `flm` steps).
    Source,
    /// Firmware that comes with the driver (its package or its build).
    WithDriver,
    /// No way here (the reason says why; `--from packages` without a route stops the plan).
    Unavailable,
}

/// The route one component takes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The component.
    pub component: Component,
    /// What happens.
    pub take: Take,
    /// The chosen route (package routes, the kernel route, Lemonade's release route).
    pub route: Option<Route>,
    /// Its repository.
    pub repository: Option<Repository>,
    /// A download route's URL, placeholders filled in.
    pub url: Option<String>,
    /// Driver: the flavour it results in.
    pub flavour: Option<FlavourId>,
    /// Why, for the plan.
    pub why: String,
    /// Routes considered before the chosen one, and why each did not apply.
    pub passed_over: Vec<String>,
}

impl Decision {
    fn new(component: Component, take: Take, why: impl Into<String>) -> Self {
        Decision {
            component,
            take,
            route: None,
            repository: None,
            url: None,
            flavour: None,
            why: why.into(),
            passed_over: Vec::new(),
        }
    }

    /// The packages this decision installs (package routes only).
    pub fn packages(&self) -> &[String] {
        match (&self.route, self.take) {
            (Some(r), Take::Packages) => &r.packages,
            _ => &[],
        }
    }

    /// One line for the plan: the component, where it comes from and why.
    pub fn describe(&self) -> String {
        let what = match (self.take, &self.route) {
            (Take::Packages, Some(r)) => {
                let from = match r.via {
                    Via::Download => self.url.clone().unwrap_or_default(),
                    Via::Snap => "snap".to_string(),
                    _ => self.repository.as_ref().map(|x| x.name.clone()).unwrap_or_else(|| "the distro".into()),
                };
                format!(
                    "{} from {from}{}",
                    r.packages.join(" "),
                    r.version.as_ref().map(|v| format!(" ({v})")).unwrap_or_default()
                )
            }
            (Take::Packages, None) => "packages".into(),
            (Take::Present, _) if self.why.starts_with("not needed") => "nothing to install".into(),
            (Take::Present, _) => "already installed".into(),
            (Take::Kernel, _) => "the kernel's own driver".into(),
            (Take::Release, _) => "Lemonade's release package (lemonade step)".into(),
            (Take::Source, _) => "source build".into(),
            (Take::WithDriver, _) => "comes with the driver".into(),
            (Take::Unavailable, _) => "not available".into(),
        };
        let unverified =
            self.route.as_ref().is_some_and(|r| r.unverified) || self.repository.as_ref().is_some_and(|r| r.unverified);
        let mut s = format!("{}: {what} — {}", self.component, self.why);
        if unverified && self.take == Take::Packages {
            s.push_str(" (route details UNVERIFIED upstream)");
        }
        if !self.passed_over.is_empty() {
            s.push_str(&format!(" [not taken: {}]", self.passed_over.join("; ")));
        }
        s
    }
}

/// The routes of every component on this host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Routes {
    /// `--from`.
    pub from: FromMode,
    /// The distro recipe id.
    pub distro: Option<String>,
    /// The release the routes were chosen for (VERSION_ID, or the base release of a
    /// derivative).
    pub release: Option<String>,
    /// The release codename (`noble`).
    pub codename: Option<String>,
    /// One decision per component, in [`Component::ALL`] order.
    pub decisions: Vec<Decision>,
}

impl Routes {
    /// The decision for a component.
    pub fn get(&self, c: Component) -> &Decision {
        self.decisions.iter().find(|d| d.component == c).expect("one decision per component")
    }

    /// The component comes from a package route.
    pub fn packaged(&self, c: Component) -> bool {
        self.get(c).take == Take::Packages
    }

    /// The component came from a package route and its packages are installed.
    pub fn installed_by_packages(&self, c: Component) -> bool {
        let d = self.get(c);
        d.take == Take::Present && d.route.as_ref().is_some_and(|r| !r.packages.is_empty())
    }

    /// The component is built from source.
    pub fn from_source(&self, c: Component) -> bool {
        self.get(c).take == Take::Source
    }

    /// The vendor repositories the package routes need, each once, in component order.
    pub fn vendor_repositories(&self) -> Vec<&Repository> {
        let mut out: Vec<&Repository> = Vec::new();
        for d in self.decisions.iter().filter(|d| d.take == Take::Packages) {
            if let Some(r) = d.repository.as_ref().filter(|r| r.kind != RepoKind::Distro)
                && !out.iter().any(|o| o.id == r.id)
            {
                out.push(r);
            }
        }
        out
    }
}

/// The release the routes are chosen for, and its codename: an Ubuntu derivative's
/// `UBUNTU_CODENAME` names its base release (os-release(5)).
fn release_of(f: &Facts, codenames: &std::collections::BTreeMap<String, String>) -> (Option<String>, Option<String>) {
    let Some(os) = f.os.ok() else { return (None, None) };
    for c in [&os.ubuntu_codename, &os.version_codename].into_iter().flatten() {
        if let Some(rel) = codenames.get(c) {
            return (Some(rel.clone()), Some(c.clone()));
        }
    }
    let rel = os.version_id.clone();
    let code = os
        .version_codename
        .clone()
        .filter(|c| !c.is_empty())
        .or_else(|| rel.as_ref().and_then(|r| codenames.iter().find(|(_, v)| *v == r).map(|(k, _)| k.clone())));
    (rel, code)
}

/// Whether a distro repository is enabled: `Some(false)` only when the host's configuration
/// of that format exists and lacks it (no configuration read = the distro's default).
pub fn distro_repo_enabled(f: &Facts, repo: &Repository) -> Option<bool> {
    let rf = f.repos.ok()?;
    if let Some(section) = &repo.pacman_section {
        return rf.pacman.then(|| rf.repos.iter().any(|r| r.entry.format == "pacman" && &r.entry.id == section));
    }
    if let Some(comp) = &repo.apt_component {
        return rf.apt.then(|| {
            rf.repos.iter().any(|r| r.entry.format == "apt" && r.entry.enabled && r.entry.components.contains(comp))
        });
    }
    None
}

/// The configured repository (file) that already provides a vendor repository: its URL as
/// we write it, or one of its `matches` fragments (added by hand or by `dnf copr` /
/// `add-apt-repository`).
pub fn configured_vendor_repo<'f>(f: &'f Facts, repo: &Repository) -> Option<&'f str> {
    let mut fragments = repo.matches.clone();
    fragments.extend(repo.url.iter().map(|u| u.trim_end_matches('/').to_string()));
    f.repos.ok()?.find_url(&fragments).map(|r| r.file.as_str())
}

fn min_version_ok(have: Option<&str>, min: &str) -> bool {
    have.and_then(parse_dotted).zip(parse_dotted(min)).is_none_or(|(h, m)| h >= m)
}

struct Ctx<'a> {
    f: &'a Facts,
    r: &'a Recipes,
    rel: Option<&'a ReleaseRoutes>,
    tk: Option<KernelRelease>,
    release: Option<String>,
    codename: Option<String>,
    from: FromMode,
}

impl Ctx<'_> {
    fn routes(&self, c: Component) -> &[Route] {
        self.rel.map(|r| r.of(c)).unwrap_or_default()
    }

    fn repo(&self, route: &Route) -> Option<&Repository> {
        route.repository.as_deref().and_then(|id| self.r.routes.repository(id))
    }

    /// Why a route does not apply (None: it applies), before component-specific checks.
    fn general(&self, route: &Route) -> Option<String> {
        if route.kernel_min.is_some() || route.kernel_max.is_some() {
            let Some(k) = &self.tk else { return Some("no next-boot kernel known".into()) };
            if !kernel_in_range(k, route.kernel_min.as_deref(), route.kernel_max.as_deref()) {
                return Some(format!(
                    "kernel {}.{} is outside {}-{}",
                    k.major,
                    k.minor,
                    route.kernel_min.as_deref().unwrap_or(""),
                    route.kernel_max.as_deref().unwrap_or("")
                ));
            }
        }
        if let Some(repo) = self.repo(route) {
            if !repo.suites.is_empty() && !self.codename.as_ref().is_some_and(|c| repo.suites.contains(c)) {
                return Some(format!(
                    "{} publishes {} only, not {}",
                    repo.name,
                    repo.suites.join("/"),
                    self.codename.as_deref().unwrap_or("this release")
                ));
            }
            if repo.kind == RepoKind::Distro && distro_repo_enabled(self.f, repo) == Some(false) {
                let what =
                    repo.pacman_section.as_ref().map(|s| format!("[{s}] in /etc/pacman.conf")).unwrap_or_else(|| {
                        format!("the {} component in apt's sources", repo.apt_component.as_deref().unwrap_or(""))
                    });
                return Some(format!("{} is not enabled ({what})", repo.name));
            }
        }
        None
    }

    fn label(&self, route: &Route) -> String {
        match route.via {
            Via::Download => format!("{} (download)", route.packages.join(" ")),
            Via::Snap => format!("snap {}", route.packages.join(" ")),
            Via::Kernel => "the kernel's driver".into(),
            Via::Release => "the release package".into(),
            _ => format!(
                "{} ({})",
                route.packages.join(" "),
                self.repo(route).map(|r| r.name.as_str()).unwrap_or("distro")
            ),
        }
    }

    fn expand(&self, route: &Route) -> Option<String> {
        route.url.as_ref().map(|u| {
            u.replace("{version}", route.version.as_deref().unwrap_or(""))
                .replace("{release}", self.release.as_deref().unwrap_or(""))
                .replace("{codename}", self.codename.as_deref().unwrap_or(""))
        })
    }

    fn chosen(&self, c: Component, take: Take, route: &Route, passed_over: Vec<String>) -> Decision {
        Decision {
            component: c,
            take,
            route: Some(route.clone()),
            repository: self.repo(route).cloned(),
            url: self.expand(route),
            flavour: route.flavour,
            why: route.why.clone(),
            passed_over,
        }
    }

    /// The first package route of `c` for which `extra` says nothing against it.
    fn first_packaged(&self, c: Component, extra: impl Fn(&Route) -> Option<String>) -> Result<Decision, Vec<String>> {
        let mut passed = Vec::new();
        for route in self.routes(c).iter().filter(|r| !matches!(r.via, Via::Kernel)) {
            match self.general(route).or_else(|| extra(route)) {
                None => {
                    let take = if route.via == Via::Release { Take::Release } else { Take::Packages };
                    return Ok(self.chosen(c, take, route, passed));
                }
                Some(why) => passed.push(format!("{}: {why}", self.label(route))),
            }
        }
        Err(passed)
    }

    /// No package route: the source build (auto), or a stop (`--from packages`).
    fn fallback(&self, c: Component, passed: Vec<String>, source_why: &str) -> Decision {
        let where_ = match (&self.rel, self.f.os.ok()) {
            (None, Some(os)) => {
                format!("recipes/routes.yaml has no routes for {} {}", os.id, self.release.as_deref().unwrap_or(""))
            }
            _ => format!("no package route for {c} applies here"),
        };
        let mut d = if self.from == FromMode::Packages {
            Decision::new(c, Take::Unavailable, format!("{where_}; --from packages builds nothing"))
        } else {
            Decision::new(c, Take::Source, format!("{where_}: {source_why}"))
        };
        d.passed_over = passed;
        d
    }
}

/// True when every package of some route of `c` is installed (a component present through
/// its packages, so packages that depend on it resolve).
fn present_by_packages(cx: &Ctx, c: Component) -> bool {
    installed_route(cx, c).is_some()
}

/// The package route of `c` whose packages are all installed.
fn installed_route<'a>(cx: &Ctx<'a>, c: Component) -> Option<&'a Route> {
    let pk = cx.f.packages.ok()?;
    cx.rel
        .map(|x| x.of(c))
        .unwrap_or_default()
        .iter()
        .filter(|r| matches!(r.via, Via::Distro | Via::Vendor | Via::Download))
        .find(|r| !r.packages.is_empty() && r.packages.iter().all(|p| pk.version(p).is_some()))
}

/// The FastFlowLM version the plan leaves on the host: the one installed, the package
/// route's, or the pinned source build's.
fn flm_version_after(d: &Decision, f: &Facts, r: &Recipes) -> Option<String> {
    match d.take {
        Take::Present => match stack::flm_install(f, r) {
            stack::FlmInstall::Installed { version, .. } => Some(version),
            _ => None,
        },
        Take::Packages => d.route.as_ref().and_then(|x| x.version.clone()),
        Take::Source => r.sources.builds.iter().find(|b| b.id == "flm").map(|b| b.version.clone()),
        _ => None,
    }
}

/// Is the installed Lemonade the pinned version or newer (or installed by other means,
/// which the lemonade step leaves alone)?
fn lemonade_present(f: &Facts, r: &Recipes) -> Option<String> {
    let names: Vec<&str> = std::iter::once(r.lemonade.package.as_str())
        .chain(
            stack::distro(f, r)
                .map(|d| d.packages.lemonade.iter().map(String::as_str).collect::<Vec<_>>())
                .unwrap_or_default(),
        )
        .collect();
    let pk = f.packages.ok();
    if let Some((n, v)) = names.iter().find_map(|n| pk.and_then(|p| p.version(n)).map(|v| (*n, v))) {
        return min_version_ok(Some(v), &r.lemonade.version).then(|| format!("{n} {v}"));
    }
    f.lemonade.ok().filter(|l| !l.binaries.is_empty()).map(|l| format!("Lemonade at {}", l.binaries.join(", ")))
}

/// Why XRT is not needed on this host, if it is not: the system flm runs on HRX (no XRT:
/// stack::flm_runtime) and no Lemonade here runs an FLM of its own (its download is taken to
/// be the XRT build: which runtime Lemonade's copy links is not established). `xrt.install`,
/// `xrt.loader` and the XRT route all ask this.
pub fn xrt_not_needed(f: &Facts, r: &Recipes) -> Option<String> {
    use super::lemonade::{ChosenKind, LemonadeFlm, flm};
    let (runtime, because) = stack::flm_runtime(f);
    if runtime != stack::FlmRuntime::Hrx {
        return None;
    }
    if let LemonadeFlm::Judged(j) = flm(f, r)
        && j.choice.as_ref().is_some_and(|ch| ch.kind == ChosenKind::OwnCopy)
    {
        return None;
    }
    Some(format!(
        "FastFlowLM here runs on HRX ({}), which opens the NPU without XRT",
        because.unwrap_or_else(|| "flm-hrx".into())
    ))
}

/// Decides the route of every component.
pub fn choose(f: &Facts, r: &Recipes, inputs: &Inputs) -> Routes {
    let distro = stack::distro(f, r);
    let dr = distro.and_then(|d| r.routes.distro(&d.id));
    let empty = Default::default();
    let (release, codename) = release_of(f, dr.map(|d| &d.codenames).unwrap_or(&empty));
    let rel = dr.and_then(|d| d.releases.iter().find(|x| x.holds(release.as_deref())));
    let target = f.kernel.ok().and_then(|k| k.target.clone().or_else(|| k.running.clone()));
    let tk = target.as_deref().and_then(parse_kernel_release);
    let cx = Ctx { f, r, rel, tk, release: release.clone(), codename: codename.clone(), from: inputs.from };
    let a = Analysis::new(f, r);
    let path = strategy::matrix_path(f, r).map(|p| p.id.as_str()).unwrap_or("unsupported");
    let path = match inputs.forced_driver {
        Some("in-tree") => "in-tree",
        Some(_) => "xdna-dkms",
        None => path,
    };

    // Driver.
    let driver = if path == "unsupported" {
        Decision::new(
            Component::Driver,
            Take::Unavailable,
            "no supported amdxdna for this kernel (recipes/drivers.yaml paths)",
        )
    } else if path == "in-tree" {
        let route = cx.routes(Component::Driver).iter().find(|x| x.via == Via::Kernel);
        let mut d = match route {
            Some(x) => cx.chosen(Component::Driver, Take::Kernel, x, Vec::new()),
            None => Decision::new(Component::Driver, Take::Kernel, "kernel >= 7.0 with npu_7.sbin: the in-tree driver"),
        };
        d.flavour = Some(FlavourId::InTree);
        d
    } else {
        let target_flavour = a.target_flavour(f);
        let oot = target_flavour.filter(|fl| fl.id != FlavourId::InTree);
        if let Some(fl) = oot.filter(|_| !driver::layer_broken(f, r, &a)) {
            let mut d =
                Decision::new(Component::Driver, Take::Present, format!("{} module for the next-boot kernel", fl.id));
            d.flavour = Some(fl.id);
            d
        } else if let Some(installed) = installed_route(&cx, Component::Driver)
            .filter(|_| inputs.from != FromMode::Source && inputs.forced_driver.is_none())
        {
            // The driver package is in; its DKMS build runs in the package's own scripts and
            // dkms.state judges it: installing the package again would change nothing.
            let mut d = Decision::new(
                Component::Driver,
                Take::Present,
                "installed from packages (its DKMS build: see dkms.state; upgrade it with the package manager)",
            );
            d.flavour = Some(FlavourId::XdnaDkms);
            d.route = Some(installed.clone());
            d
        } else if inputs.from == FromMode::Source || inputs.forced_driver == Some("xdna-dkms") {
            let mut d = Decision::new(Component::Driver, Take::Source, "--from source: the xdna-driver DKMS build");
            if inputs.forced_driver == Some("xdna-dkms") {
                d.why = "--driver xdna-dkms: the xdna-driver DKMS build".into();
            }
            d.flavour = Some(FlavourId::XdnaDkms);
            d
        } else {
            let row = |x: &Route| {
                let fl = x.flavour?;
                let has = cx.tk.as_ref().is_some_and(|k| r.flavour(fl, None, k, None).is_some());
                (!has).then(|| format!("recipes/drivers.yaml has no {fl} row for this kernel"))
            };
            match cx.first_packaged(Component::Driver, row) {
                Ok(d) => d,
                Err(passed) => {
                    let mut d = cx.fallback(Component::Driver, passed, "the xdna-driver DKMS build");
                    d.flavour = Some(FlavourId::XdnaDkms);
                    d
                }
            }
        }
    };

    // Firmware.
    let firmware = {
        let c = Component::Firmware;
        let ships = driver.route.as_ref().is_some_and(|x| x.ships_firmware) && driver.take == Take::Packages;
        if ships {
            Decision::new(c, Take::WithDriver, format!("{} carries its firmware", driver.packages().join(" ")))
        } else if driver.take == Take::Source {
            Decision::new(c, Take::WithDriver, "the xdna-driver build installs its firmware")
        } else if !firmware::files(&a).fails() {
            Decision::new(c, Take::Present, "the NPU's firmware files are on disk")
        } else if inputs.from == FromMode::Source {
            Decision::new(c, Take::Unavailable, "firmware files missing; --from source installs no firmware package")
        } else {
            let installed = |x: &Route| {
                let pk = f.packages.ok()?;
                x.packages
                    .iter()
                    .all(|p| pk.version(p).is_some())
                    .then(|| "installed, yet the files are missing".into())
            };
            match cx.first_packaged(c, installed) {
                Ok(d) => d,
                Err(passed) => {
                    let mut d = Decision::new(
                        c,
                        Take::Unavailable,
                        "firmware files missing and no firmware package route applies",
                    );
                    d.passed_over = passed;
                    d
                }
            }
        }
    };

    // XRT + plugin.
    let driver_flavour = driver.flavour;
    let xrt = {
        let c = Component::Xrt;
        let x = stack::xrt_install(f, r);
        if x.base && x.plugin {
            let what = x.base_packages.iter().chain(&x.plugin_packages).cloned().collect::<Vec<_>>();
            Decision::new(
                c,
                Take::Present,
                if what.is_empty() { "XRT libraries present".into() } else { what.join(", ") },
            )
        } else if let Some(why) = xrt_not_needed(f, r) {
            Decision::new(c, Take::Present, format!("not needed: {why}"))
        } else if inputs.from == FromMode::Source {
            Decision::new(c, Take::Source, "--from source: XRT and the plugin from the pinned xdna-driver tree")
        } else if driver.take == Take::Source {
            Decision::new(c, Take::Source, "the xdna-driver DKMS build carries its own plugin: XRT from the same tree")
        } else {
            let abi = |x: &Route| {
                let fl = driver_flavour?;
                (!x.drivers.is_empty() && !x.drivers.contains(&fl)).then(|| {
                    format!(
                        "built for {} drivers, this host's is {fl}",
                        x.drivers.iter().map(|d| d.as_str()).collect::<Vec<_>>().join("/")
                    )
                })
            };
            cx.first_packaged(c, abi)
                .unwrap_or_else(|passed| cx.fallback(c, passed, "XRT and the plugin from the pinned xdna-driver tree"))
        }
    };

    // FastFlowLM.
    let packaged_or_present =
        |d: &Decision| d.take == Take::Packages || (d.take == Take::Present && present_by_packages(&cx, d.component));
    let flm = {
        let c = Component::Flm;
        match stack::flm_install(f, r) {
            stack::FlmInstall::Installed { binary, version } => {
                Decision::new(c, Take::Present, format!("flm {version} at {binary}"))
            }
            // Not judged (an offline root does not run it): left alone, as a build would be.
            stack::FlmInstall::VersionUnknown { binary, .. } => {
                Decision::new(c, Take::Present, format!("flm at {binary} (version not known here)"))
            }
            // A route's packages are in and flm with them (older than wanted, say): the package
            // manager has nothing newer to give. A package without its binary is not "in".
            stack::FlmInstall::TooOld { .. } if inputs.from != FromMode::Source && present_by_packages(&cx, c) => {
                Decision::new(c, Take::Present, "installed from packages (upgrade it with the package manager)")
            }
            _ if inputs.from == FromMode::Source => {
                Decision::new(c, Take::Source, "--from source: the pinned FastFlowLM build")
            }
            _ => {
                let min = &r.drivers.flm.lemonade_min_version;
                let ok = |x: &Route| {
                    if !min_version_ok(x.version.as_deref(), min) {
                        return Some(format!(
                            "{} < {min}, the minimum Lemonade accepts",
                            x.version.as_deref().unwrap_or("?")
                        ));
                    }
                    x.requires_packaged
                        .iter()
                        .find(|rc| **rc == Component::Xrt && !packaged_or_present(&xrt))
                        .map(|rc| format!("needs {rc} from packages, and {rc} is {}", xrt_take_word(&xrt)))
                };
                cx.first_packaged(c, ok).unwrap_or_else(|passed| cx.fallback(c, passed, "the pinned FastFlowLM build"))
            }
        }
    };

    // Lemonade.
    let lemonade = {
        let c = Component::Lemonade;
        if let Some(what) = lemonade_present(f, r) {
            Decision::new(c, Take::Present, what)
        } else if inputs.from != FromMode::Source && present_by_packages(&cx, c) {
            Decision::new(c, Take::Present, "installed from packages (upgrade it with the package manager)")
        } else if inputs.from == FromMode::Source {
            Decision::new(c, Take::Release, "--from source: Lemonade's release package (recipes/lemonade.yaml)")
        } else {
            // A packaged Lemonade is taken when that release serves the FastFlowLM this plan
            // leaves on the host (install then points it at that flm, by the release's own
            // mechanism); an older release than the pin is fine, one that refuses that flm
            // (10.2.0's exact pin, say) or that the recipes know nothing of is not.
            let flm_after = flm_version_after(&flm, f, r);
            let ok = |x: &Route| {
                if x.via == Via::Release {
                    return None;
                }
                let v = x.version.as_deref()?;
                match flm_after.as_deref() {
                    Some(fv) => super::lemonade::accepts_system_flm(r, v, fv).err(),
                    None => super::lemonade::known_release(r, v).err(),
                }
            };
            cx.first_packaged(c, ok).unwrap_or_else(|passed| {
                let mut d = Decision::new(
                    c,
                    Take::Release,
                    "no package route applies: Lemonade's release package (recipes/lemonade.yaml)",
                );
                d.passed_over = passed;
                d
            })
        }
    };

    Routes {
        from: inputs.from,
        distro: distro.map(|d| d.id.clone()),
        release,
        codename,
        decisions: vec![driver, firmware, xrt, flm, lemonade],
    }
}

fn xrt_take_word(d: &Decision) -> &'static str {
    match d.take {
        Take::Source => "built from source",
        Take::Present => "installed from elsewhere",
        Take::Unavailable => "not available",
        _ => "not packaged",
    }
}
