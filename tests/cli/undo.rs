//! `undo` after real installs on scratch roots copied from fixtures (real ldconfig, usermod
//! and `systemctl --root` enabling units; the grubby fake of install.rs): the tree comes back
//! to its digest before the install, byte for byte and mode for mode, except npu-setup's own
//! state, logs and cache (the journal and backups undo reads). Refusals: no journal, a
//! damaged journal, a file changed since, a run undone already, the lock held.

use std::collections::BTreeMap;
use std::path::Path;

use crate::install::{broken_fedora, install, tooling};
use crate::{RECORD, bin, calls, copy_fixture, doctor_json, tree_digest, write_shim};

/// The tree's digest without npu-setup's own state, logs and cache.
fn digest(root: &Path) -> BTreeMap<String, String> {
    let own = ["var/lib/npu-setup", "var/log/npu-setup", "var/cache/npu-setup"];
    tree_digest(root)
        .into_iter()
        .filter(|(k, _)| !own.iter().any(|o| k == o || k.starts_with(&format!("{o}/"))))
        .collect()
}

fn undo(root: &Path, args: &[&str]) -> (i32, String, String) {
    let out = bin().arg("--root").arg(root).arg("undo").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Differences between two digests, for messages.
fn delta(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => out.push(format!("gone: {k}")),
            Some(w) if w != v => out.push(format!("differs: {k}")),
            _ => {}
        }
    }
    out.extend(b.keys().filter(|k| !a.contains_key(*k)).map(|k| format!("new: {k}")));
    out
}

fn prepared(fixture: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, root) = broken_fedora(fixture);
    for d in ["var/lib", "var/log", "var/cache"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    (tmp, root)
}

#[test]
fn undo_after_a_full_install_restores_the_digest() {
    let (_tmp, root) = prepared("fedora44-71-intree-healthy");
    let before = digest(&root);
    let (code, out, err) = install(&root, &["--yes", "--user", "alice"]);
    assert_eq!(code, 3, "{out}\n{err}");
    let installed = digest(&root);
    assert!(!delta(&before, &installed).is_empty(), "install changed nothing");
    // A second install changes nothing: undo still takes the run that did.
    let (code, out, _) = install(&root, &["--yes", "--user", "alice"]);
    assert_eq!(code, 3, "{out}");

    // Dry run: the plan, nothing changed.
    let (code, out, err) = undo(&root, &["--dry-run"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("restore /etc/default/grub from /var/lib/npu-setup/backups/"), "{out}");
    assert!(out.contains("remove /etc/systemd/system/npu-setup-boot.service (created by the run)"), "{out}");
    assert!(out.contains("dry run: nothing changed"), "{out}");
    assert_eq!(digest(&root), installed, "the dry run wrote nothing");
    let (code, json, _) = {
        let o = bin().arg("--root").arg(&root).args(["--format", "json", "undo", "--dry-run"]).output().unwrap();
        (o.status.code().unwrap(), String::from_utf8(o.stdout).unwrap(), ())
    };
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(doc["apiVersion"], "npu-setup/v1");
    assert_eq!(doc["kind"], "Undo");
    assert_eq!(doc["dry_run"], true);

    // Without a terminal and without --yes: refused, nothing changed.
    let (code, _, err) = undo(&root, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("pass --yes"), "{err}");

    let (code, out, err) = undo(&root, &["--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("undone: run "), "{out}");
    let after = digest(&root);
    assert!(delta(&before, &after).is_empty(), "{:#?}", delta(&before, &after));
    let (_, report) = doctor_json(&root, &[]);
    assert_eq!(report["diagnosis"]["first_failure"], "boot.iommu", "broken again, as before");

    // Nothing left to undo; the same run again is refused.
    let (code, _, err) = undo(&root, &["--yes"]);
    assert_eq!(code, 2);
    assert!(err.contains("nothing to undo"), "{err}");
}

#[test]
fn undo_puts_back_the_group_usermod_changed() {
    let (_tmp, root) = copy_fixture("case07-ubuntu2404-render-group");
    tooling(&root);
    for d in ["var/lib", "var/log", "var/cache"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let before = digest(&root);
    let (code, out, err) = install(&root, &["--yes", "--only", "access", "--user", "alice"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(calls(&root).contains(&"usermod -aG render alice".to_string()));
    let (code, out, err) = undo(&root, &["--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let after = digest(&root);
    assert!(delta(&before, &after).is_empty(), "{:#?}", delta(&before, &after));
}

#[test]
fn undo_refuses_without_a_usable_journal_or_when_files_changed() {
    let (_tmp, root) = prepared("fedora44-71-intree-healthy");
    let (code, _, err) = undo(&root, &["--yes"]);
    assert_eq!(code, 2);
    assert!(err.contains("nothing to undo: there is no journal at /var/lib/npu-setup/journal.jsonl"), "{err}");

    let (code, out, err) = install(&root, &["--yes", "--user", "alice"]);
    assert_eq!(code, 3, "{out}\n{err}");
    let installed = digest(&root);

    // Changed since: refused naming the file; --force puts it back anyway.
    let limits = std::fs::read_dir(root.join("etc/security/limits.d")).unwrap().next().unwrap().unwrap().path();
    std::fs::write(&limits, "# mine now\n").unwrap();
    let changed = digest(&root);
    let (code, _, err) = undo(&root, &["--yes"]);
    assert_eq!(code, 2);
    let shown = format!("/{}", limits.strip_prefix(&root).unwrap().display());
    assert!(err.contains("changed since the run") && err.contains(&shown), "{err}");
    assert_eq!(digest(&root), changed, "nothing changed");

    // A damaged journal: refused naming it and the line.
    let j = root.join("var/lib/npu-setup/journal.jsonl");
    let good = std::fs::read(&j).unwrap();
    std::fs::write(&j, [&good[..], b"{\"run\": \"x\", trunc\n"].concat()).unwrap();
    let (code, _, err) = undo(&root, &["--yes", "--force"]);
    assert_eq!(code, 2);
    let lines = good.iter().filter(|b| **b == b'\n').count();
    assert!(err.contains(&format!("/var/lib/npu-setup/journal.jsonl is damaged at line {}", lines + 1)), "{err}");
    std::fs::write(&j, &good).unwrap();

    // The lock held by an install: refused.
    let f = std::fs::OpenOptions::new().write(true).open(root.join("var/lib/npu-setup/lock")).unwrap();
    let held = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).unwrap();
    let (code, _, err) = undo(&root, &["--yes", "--force"]);
    assert_eq!(code, 2);
    assert!(err.contains("another npu-setup install is running"), "{err}");
    drop(held);
    assert_eq!(digest(&root), changed, "nothing changed");
    let _ = installed;

    let (code, out, err) = undo(&root, &["--yes", "--force"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!limits.exists(), "the file the run created is gone");
}

#[test]
fn packages_are_listed_and_removed_only_with_packages() {
    let (_tmp, root) = prepared("fedora44-71-intree-healthy");
    write_shim(&root, "usr/bin/dnf", RECORD);
    // A journal as install writes it: a package install and a DKMS registration.
    let run = "20261206-101010-42";
    let lines = [
        serde_json::json!({"run": run, "at": 1, "step": "build-deps", "action": "run",
            "target": "dnf install -y gcc 'kernel-devel-7.1'", "backup": null, "before": null, "after": "exit Some(0)",
            "argv": ["dnf", "install", "-y", "gcc", "kernel-devel-7.1"]}),
        serde_json::json!({"run": run, "at": 2, "step": "driver", "action": "run",
            "target": "dkms add -m amdxdna -v 1.9", "backup": null, "before": null, "after": "exit Some(0)"}),
        serde_json::json!({"run": run, "at": 3, "step": "driver", "action": "run",
            "target": "frobnicate --all", "backup": null, "before": null, "after": "exit Some(0)"}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::create_dir_all(root.join("var/lib/npu-setup")).unwrap();
    std::fs::write(root.join("var/lib/npu-setup/journal.jsonl"), text).unwrap();
    let (code, out, err) = undo(&root, &["--dry-run"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("$ dkms remove -m amdxdna -v 1.9 --all\n"), "{out}");
    assert!(out.contains("$ dnf remove -y gcc kernel-devel-7.1\n"), "{out}");
    assert!(out.contains("not undone: frobnicate --all (no known inverse)"), "{out}");
    let (code, out, err) = undo(&root, &["--yes", run]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(calls(&root).is_empty(), "listed only: {:?}", calls(&root));
    assert!(out.contains("`npu-setup undo --packages RUN`"), "{out}");
    // Undone: again is refused, but --packages may still remove what it installed.
    let (code, _, err) = undo(&root, &["--yes", run]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("run {run} was undone already")), "{err}");
    // With --packages the removals run, newest first; a failing one leaves the run not undone.
    write_shim(&root, "usr/sbin/dkms", &format!("{RECORD}\nexit 3"));
    let (code, out, err) = undo(&root, &["--yes", "--packages", run]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("a removal command failed"), "{err}");
    assert_eq!(calls(&root), ["dkms remove -m amdxdna -v 1.9 --all"]);
    write_shim(&root, "usr/sbin/dkms", RECORD);
    let (code, out, err) = undo(&root, &["--yes", "--force", "--packages", run]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        calls(&root)[1..],
        ["dkms remove -m amdxdna -v 1.9 --all", "dnf remove -y gcc kernel-devel-7.1"],
        "{out}"
    );
}
