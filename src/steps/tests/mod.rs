//! Plan-only step tests, in-process: a step plans over a scratch root (a temporary directory)
//! and a test host's facts (`host::testkit`); the test reads the planned actions — paths,
//! contents, argv — and nothing is applied.

mod access;
mod build_deps;
mod driver;
mod kargs;
mod lemonade_service;
mod lifecycle;
mod limits;
mod loader;
mod models;
mod packages;
mod preflight;
mod repos;
mod sources;

use std::path::Path;
use std::time::Duration;

use super::options::InstallArgs;
use super::{Action, Plan, Step, StepCtx};
use crate::host::testkit::{Host, recipes};
use crate::root::Root;
use crate::runner::Runner;

/// A scratch root: a temporary directory seen as a running system (fixture replay: its tools
/// are found only inside it) or as an installed tree that is not running.
pub(super) struct Scratch {
    _dir: tempfile::TempDir,
    root: Root,
    runner: Runner,
}

impl Scratch {
    fn new(running: bool, files: &[(&str, &str)]) -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root");
        std::fs::create_dir(&path).unwrap();
        if running {
            std::fs::write(path.join(crate::root::FIXTURE_FILE), "{}\n").unwrap();
        }
        for (rel, content) in files {
            write(&path.join(rel), content);
        }
        let root = Root::open(&path).unwrap();
        let runner = Runner::new(root.clone(), Duration::from_secs(5));
        Scratch { _dir: dir, root, runner }
    }

    /// A running system holding these files.
    pub(super) fn running(files: &[(&str, &str)]) -> Scratch {
        Scratch::new(true, files)
    }

    /// An installed tree that is not running (kickstart %post, an image) holding these files.
    pub(super) fn offline(files: &[(&str, &str)]) -> Scratch {
        Scratch::new(false, files)
    }

    /// The root's host path.
    pub(super) fn path(&self) -> &Path {
        self.root.path()
    }

    /// Writes a file (tests that converge a plan by hand).
    pub(super) fn write(&self, rel: &str, content: &str) {
        write(&self.root.join(rel), content);
    }

    /// An executable placeholder, so the runner finds the tool.
    pub(super) fn tool(&self, rel: &str) {
        use std::os::unix::fs::PermissionsExt;
        self.write(rel, "#!/bin/sh\nexit 0\n");
        std::fs::set_permissions(self.root.join(rel), std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A symlink (systemd's `enable`).
    pub(super) fn link(&self, rel: &str, target: &str) {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
    }

    /// The plan `step` makes here for host `h` with `args`.
    pub(super) fn plan_with(&self, step: &dyn Step, h: &Host, args: &InstallArgs) -> Plan {
        let cx = StepCtx::new(&self.root, &self.runner, h, recipes(), args);
        step.plan(&cx).unwrap_or_else(|e| panic!("{} failed to plan: {e:#}", step.id()))
    }

    /// The plan `step` makes here for host `h` with default options.
    pub(super) fn plan(&self, step: &dyn Step, h: &Host) -> Plan {
        self.plan_with(step, h, &InstallArgs::default())
    }

    /// Writes every file the plan would write (what applying it does to those files), so a
    /// test can plan again and expect nothing.
    pub(super) fn write_planned(&self, p: &Plan) {
        for (path, content) in writes(p) {
            self.write(path, content);
        }
    }
}

fn write(p: &Path, content: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// (path, content) of every file the plan writes.
pub(super) fn writes(p: &Plan) -> Vec<(&str, &str)> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::WriteFile { path, content, .. } => Some((path.as_str(), content.as_str())),
            _ => None,
        })
        .collect()
}

/// The content the plan writes to `path`.
#[track_caller]
pub(super) fn content<'a>(p: &'a Plan, path: &str) -> &'a str {
    writes(p)
        .into_iter()
        .find(|(w, _)| *w == path)
        .map(|(_, c)| c)
        .unwrap_or_else(|| panic!("no write of {path}: {p:#?}"))
}

/// Every command the plan runs, as one line each.
pub(super) fn runs(p: &Plan) -> Vec<String> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::Run { argv, .. } => Some(argv.join(" ")),
            _ => None,
        })
        .collect()
}

/// One line per action: `write PATH`, `edit PATH`, `mkdir PATH`, `run ARGV`.
pub(super) fn summary(p: &Plan) -> Vec<String> {
    p.actions
        .iter()
        .map(|a| match a {
            Action::WriteFile { path, .. } => format!("write {path}"),
            Action::EditFile { path, .. } | Action::EditJson { path, .. } => format!("edit {path}"),
            Action::MakeDir { path, .. } => format!("mkdir {path}"),
            Action::Run { argv, .. } => format!("run {}", argv.join(" ")),
            other => format!("{other:?}"),
        })
        .collect()
}

/// True when a note contains `needle`.
pub(super) fn noted(p: &Plan, needle: &str) -> bool {
    p.notes.iter().any(|n| n.contains(needle))
}

#[test]
fn the_steps_are_the_contract() {
    assert_eq!(super::ids(), crate::model::STEP_IDS);
}

#[test]
fn only_brings_in_what_a_step_needs_in_install_order() {
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (all, added) = super::with_prerequisites(&ids(&["driver"]));
    assert_eq!(all, ["preflight", "build-deps", "sources", "xrt", "driver"]);
    assert_eq!(added, ["preflight", "build-deps", "sources", "xrt"]);
    let (all, added) = super::with_prerequisites(&ids(&["models", "kargs"]));
    assert_eq!(all, ["preflight", "kargs", "build-deps", "sources", "xrt", "flm", "models"]);
    assert!(!added.contains(&"kargs") && !added.contains(&"models"));
    assert_eq!(super::with_prerequisites(&ids(&["verify"])).0, ["verify"]);
    // Every prerequisite is a step that comes earlier.
    let order = super::ids();
    for id in &order {
        for p in super::prerequisites(id) {
            let (i, j) = (order.iter().position(|x| x == p).unwrap(), order.iter().position(|x| x == id).unwrap());
            assert!(i < j, "{p} must come before {id}");
        }
    }
}
