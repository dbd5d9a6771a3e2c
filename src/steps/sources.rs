//! `sources`: clone the pinned upstream trees the needed builds use, with submodules, and
//! verify the checkout is exactly the pinned commit.
//!
//! A partial clone (interrupted run) is removed and cloned again; a tree at another commit
//! is moved to the pin when the tag still resolves to it, and refused when the tag moved. A
//! branch pin (xdna-driver publishes from release branches such as `1.9`) may have moved on
//! since: the pinned commit is checked out when it is still on the branch.
//! `--source-url ID=URL` points at a mirror; `--source-dir DIR` at pre-cloned trees
//! (air-gapped sites).

use std::path::PathBuf;

use anyhow::Result;

use super::{Action, Plan, Step, StepCtx};
use crate::recipes::sources::Source;
use crate::runner::Runner;

/// Default directory for source trees (root-relative).
pub const SRC_DIR: &str = "var/cache/npu-setup/src";

/// The sources step.
pub struct Sources;

/// Where a source tree lives: `--source-dir DIR/<id>` (a host path the user names) or the
/// cache under the root, resolved inside it (git and the build tools get this path).
pub fn tree(cx: &StepCtx, id: &str) -> Result<PathBuf> {
    match &cx.args.source_dir {
        Some(d) => Ok(d.join(id)),
        None => cx.root.host_path(format!("{SRC_DIR}/{id}")),
    }
}

/// The URL for a source: a `--source-url ID=URL` override, else the recipe's.
pub fn url(cx: &StepCtx, s: &Source) -> String {
    cx.args
        .source_url
        .iter()
        .find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == s.id).map(|(_, v)| v.to_string()))
        .unwrap_or_else(|| s.url.clone())
}

/// `git` with file:// submodules allowed for local mirrors (git >= 2.38 refuses them by
/// default, CVE-2022-39253).
pub fn git(url: &str) -> Vec<String> {
    let mut v = vec!["git".to_string()];
    if url.starts_with("file://") || url.starts_with('/') {
        v.extend(["-c".to_string(), "protocol.file.allow=always".to_string()]);
    }
    v
}

/// The sources of the builds this run does: all the strategy needs (also for `--only
/// sources`), or — when sources comes in as a prerequisite, or with `--skip` — those of the
/// build steps selected (`--only driver` clones no FastFlowLM).
fn needed(cx: &StepCtx, s: &crate::knowledge::strategy::Strategy) -> Vec<String> {
    let selected = if cx.args.only.is_empty() || cx.args.only.iter().any(|o| o == "sources") {
        super::ids()
    } else {
        super::with_prerequisites(&cx.args.only).0
    };
    let runs = |build: &str| {
        let step = if build.starts_with("driver-") { "driver" } else { build };
        selected.contains(&step) && !cx.args.skip.iter().any(|k| k == step)
    };
    let mut out: Vec<String> = Vec::new();
    for b in s.builds.iter().filter(|b| runs(b)) {
        if let Some(src) = cx.recipes.sources.build(b).map(|b| b.source.clone())
            && !out.contains(&src)
        {
            out.push(src);
        }
    }
    out
}

/// The clone of a pinned source (with its submodules) at its ref into `dest`.
fn clone(src: &Source, url: &str, dest: &str) -> Action {
    let mut argv = git(url);
    argv.extend([
        "clone".into(),
        "--recurse-submodules".into(),
        "--branch".into(),
        src.git_ref.clone(),
        url.to_string(),
        dest.to_string(),
    ]);
    Action::Run { argv, why: format!("{} {} ({})", src.id, src.git_ref, &src.commit[..12.min(src.commit.len())]) }
}

/// Reads a git value (trimmed stdout) from a tree; None when git fails.
fn git_read(runner: &Runner, tree: &std::path::Path, args: &[&str]) -> Option<String> {
    let dir = tree.display().to_string();
    let mut a = vec!["-C", dir.as_str()];
    a.extend_from_slice(args);
    match runner.run("git", &a) {
        Ok(o) if o.success() => Some(o.stdout.trim().to_string()),
        _ => None,
    }
}

impl Step for Sources {
    fn id(&self) -> &'static str {
        "sources"
    }
    fn summary(&self) -> &'static str {
        "clone the pinned xdna-driver (with XRT) and FastFlowLM sources"
    }
    fn plan(&self, cx: &StepCtx) -> Result<Plan> {
        let mut p = Plan::default();
        let s = cx.strategy();
        if let Some(w) = &s.warning {
            p.notes.push(w.clone());
        }
        // Without git nothing here can be judged (a tree would look like a broken clone):
        // in the printed plan, git that build-deps installs first is as good as present.
        let wanted = needed(cx, &s);
        let git_later = cx.runner.locate("git").is_none() && !wanted.is_empty();
        if git_later && !(cx.preview && cx.planned.iter().any(|p| p == "git")) {
            p.blocked = Some(format!(
                "git is not installed and nothing in this plan installs it (the build-deps step does, unless skipped): install git, or run install without --skip build-deps; needed to clone {}",
                wanted.join(", ")
            ));
            return Ok(p);
        }
        for id in &wanted {
            let Some(src) = cx.recipes.sources.source(id) else {
                p.blocked = Some(format!("recipes/sources.yaml has no source {id:?}"));
                return Ok(p);
            };
            let dest = tree(cx, id)?;
            let u = url(cx, src);
            let dest_s = dest.display().to_string();
            if git_later {
                // Reachability and the tree are checked once git is there (the step plans
                // again before it runs).
                p.actions.push(clone(src, &u, &dest_s));
                p.notes.push(format!(
                    "git comes with build-deps: {u} is checked for {} before cloning{}",
                    src.git_ref,
                    if dest.exists() { format!("; the tree at {dest_s} is judged then") } else { String::new() }
                ));
                continue;
            }
            let is_repo = dest.join(".git").exists();
            let head = if is_repo { git_read(cx.runner, &dest, &["rev-parse", "HEAD"]) } else { None };
            if dest.exists() && head.is_none() {
                // Interrupted clone: start over cleanly.
                if cx.args.source_dir.is_some() {
                    p.blocked =
                        Some(format!("{dest_s} is not a usable git tree (--source-dir trees are never deleted)"));
                    return Ok(p);
                }
                p.actions.push(Action::RemoveTree { path: dest_s.clone() });
            }
            match head {
                None => {
                    if cx.args.source_dir.is_some() {
                        p.blocked = Some(format!(
                            "--source-dir has no {id} tree at {dest_s}; clone {u} there at {} ({})",
                            src.git_ref, src.commit
                        ));
                        return Ok(p);
                    }
                    // Reachability is checked before anything changes (read-only).
                    let mut probe: Vec<String> = git(&u);
                    probe.extend(["ls-remote".into(), u.clone(), src.git_ref.clone()]);
                    let args: Vec<&str> = probe[1..].iter().map(String::as_str).collect();
                    match cx.runner.run("git", &args) {
                        Ok(o) if o.success() && !o.stdout.trim().is_empty() => {}
                        Ok(o) if o.success() => {
                            p.blocked =
                                Some(format!("{u} has no ref {} (pinned in recipes/sources.yaml)", src.git_ref));
                            return Ok(p);
                        }
                        Ok(o) => {
                            p.blocked = Some(format!(
                                "cannot reach {u} ({}); for mirrors or air-gapped sites use --source-url {id}=URL or --source-dir DIR with a pre-cloned tree",
                                o.tail()
                            ));
                            return Ok(p);
                        }
                        Err(e) => {
                            p.blocked = Some(format!("cannot run git to reach {u}: {e}"));
                            return Ok(p);
                        }
                    }
                    p.actions.push(clone(src, &u, &dest_s));
                }
                Some(h) if h != src.commit => {
                    // Where does the pinned ref point in this tree?
                    let tag = git_read(cx.runner, &dest, &["rev-parse", &format!("{}^{{commit}}", src.git_ref)]);
                    // A branch that moved on past the pin is fine while the pin is on it.
                    let branch = git_read(
                        cx.runner,
                        &dest,
                        &["rev-parse", "--verify", "--quiet", &format!("refs/heads/{}", src.git_ref)],
                    )
                    .is_some();
                    let pin_on_branch = branch
                        && git_read(cx.runner, &dest, &["merge-base", "--is-ancestor", &src.commit, &src.git_ref])
                            .is_some();
                    match tag {
                        Some(t) if t != src.commit && !pin_on_branch => {
                            p.blocked = Some(if branch {
                                format!(
                                    "{id}: branch {} is at {t} and does not contain {}, the commit recipes/sources.yaml pins: refusing (the branch was rewritten, or the mirror is not the real upstream)",
                                    src.git_ref, src.commit
                                )
                            } else {
                                format!(
                                    "{id}: {} resolves to {t}, but recipes/sources.yaml pins {}: refusing (the upstream tag moved, or the mirror is not the real upstream)",
                                    src.git_ref, src.commit
                                )
                            });
                            return Ok(p);
                        }
                        _ => {
                            let mut argv = git(&u);
                            argv.extend([
                                "-C".into(),
                                dest_s.clone(),
                                "checkout".into(),
                                "--force".into(),
                                src.commit.clone(),
                            ]);
                            p.actions.push(Action::Run { argv, why: format!("move {id} to the pinned commit") });
                        }
                    }
                }
                Some(_) => {
                    // At the pin: submodules must be initialised at their recorded commits.
                    let status =
                        git_read(cx.runner, &dest, &["submodule", "status", "--recursive"]).unwrap_or_default();
                    if status.lines().any(|l| l.starts_with('-') || l.starts_with('+') || l.starts_with('U')) {
                        let mut argv = git(&u);
                        argv.extend([
                            "-C".into(),
                            dest_s.clone(),
                            "submodule".into(),
                            "update".into(),
                            "--init".into(),
                            "--recursive".into(),
                            "--force".into(),
                        ]);
                        p.actions.push(Action::Run { argv, why: format!("{id} submodules at their recorded commits") });
                    }
                }
            }
        }
        if !wanted.is_empty() && p.actions.is_empty() {
            p.notes.push(format!("{} at the pinned commits", wanted.join(", ")));
        }
        Ok(p)
    }
}
