//! Undo of one install run, from its journal (`var/lib/npu-setup/journal.jsonl`) and backups:
//! files the run changed are put back from their backups (bytes, mode, owner), files and
//! directories it created are removed, and what it installed through the package manager
//! (packages, repositories, DKMS modules) is listed with the exact removal commands, run
//! only when asked (`--packages`). The plan is data, printed by `--dry-run`; [`apply`]
//! carries it out through the root.
//!
//! Per path, the run's first journal line says what the path was before the run (its backup,
//! or absent) and its last line what the run left (the SHA-256 after): a file whose content
//! differs from that now was changed since, and is named (undo refuses unless forced).

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::root::Root;
use crate::runner::{Runner, quote_argv};
use crate::state::JournalEntry;

/// The journal action that marks a run as undone (its target is the run id).
pub const UNDONE: &str = "undone";

/// One file-system change that puts a path back.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum UndoOp {
    /// Copy the backup over the path (content, mode, owner).
    Restore {
        /// Host view of the path.
        path: String,
        /// Host view of the backup.
        backup: String,
    },
    /// Remove a file or link the run created.
    Remove {
        /// Host view.
        path: String,
    },
    /// Empty a directory a command of the run filled (it was empty before).
    Empty {
        /// Host view.
        path: String,
    },
    /// Put back the mode of a directory the run re-moded.
    Mode {
        /// Host view.
        path: String,
        /// Mode bits.
        mode: u32,
    },
    /// Remove a directory the run created, when it is empty.
    RemoveDir {
        /// Host view.
        path: String,
    },
}

impl UndoOp {
    /// One line for the plan.
    pub fn render(&self) -> String {
        match self {
            UndoOp::Restore { path, backup } => format!("restore {path} from {backup}"),
            UndoOp::Remove { path } => format!("remove {path} (created by the run)"),
            UndoOp::Empty { path } => format!("empty {path} (filled by the run)"),
            UndoOp::Mode { path, mode } => format!("chmod {mode:04o} {path}"),
            UndoOp::RemoveDir { path } => format!("rmdir {path} (created by the run; kept if not empty)"),
        }
    }
}

/// A removal command for something a command of the run installed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UndoCommand {
    /// argv of the removal.
    pub argv: Vec<String>,
    /// The command of the run it reverses.
    pub reverses: String,
}

/// What undoing a run does.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UndoPlan {
    /// The run undone.
    pub run: String,
    /// File-system changes, in order.
    pub files: Vec<UndoOp>,
    /// Removal commands (packages, repositories, DKMS), in reverse order of installation.
    pub commands: Vec<UndoCommand>,
    /// Commands of the run that have no inverse here (said, not guessed).
    pub not_undone: Vec<String>,
    /// Paths changed since the run (content differs from what the run left).
    pub changed_since: Vec<String>,
}

/// The run `undo` takes by default: the last one in the journal that changed something and
/// is neither undone nor an undo itself.
pub fn last_run(entries: &[JournalEntry]) -> Option<String> {
    let undone: Vec<&str> = entries.iter().filter(|e| e.action == UNDONE).map(|e| e.target.as_str()).collect();
    entries
        .iter()
        .rev()
        .filter(|e| e.step != "undo" && e.action != UNDONE && !undone.contains(&e.run.as_str()))
        .find(|e| e.action != "download" && e.action != "remove")
        .map(|e| e.run.clone())
}

/// True when the journal says `run` was undone already.
pub fn is_undone(entries: &[JournalEntry], run: &str) -> bool {
    entries.iter().any(|e| e.action == UNDONE && e.target == run)
}

fn rel(host_view: &str) -> &str {
    host_view.trim_start_matches('/')
}

/// Plans the undo of `run` from the journal and the root as it is now. Errors when the run
/// is not in the journal or a backup it needs is missing or damaged.
pub fn plan(root: &Root, runner: &Runner, entries: &[JournalEntry], run: &str) -> Result<UndoPlan> {
    let mine: Vec<&JournalEntry> = entries.iter().filter(|e| e.run == run && e.action != UNDONE).collect();
    if mine.is_empty() {
        let known: Vec<&str> = {
            let mut v: Vec<&str> = entries.iter().map(|e| e.run.as_str()).collect();
            v.dedup();
            v
        };
        bail!(
            "run {run} is not in the journal (runs recorded: {})",
            if known.is_empty() { "none".into() } else { known.join(", ") }
        );
    }
    // Per path: its first entry (what it was) and the hash the run left it with.
    let mut order: Vec<&str> = Vec::new();
    let mut first: BTreeMap<&str, &JournalEntry> = BTreeMap::new();
    let mut last_after: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    let mut created: Vec<String> = Vec::new();
    let mut commands = Vec::new();
    let mut not_undone = Vec::new();
    for e in &mine {
        for d in &e.created {
            if !created.contains(d) {
                created.push(d.clone());
            }
        }
        match e.action.as_str() {
            "write" | "edit" | "touch" | "mkdir" => {
                let t = e.target.as_str();
                if !first.contains_key(t) {
                    order.push(t);
                    first.insert(t, e);
                }
                if e.action != "touch" {
                    last_after.insert(t, e.after.as_deref());
                } else {
                    // A command changed it: what it left is not known.
                    last_after.insert(t, None);
                }
            }
            "run" => match removal(runner, e) {
                Removal::Covered => {}
                Removal::Commands(argvs) => {
                    for argv in argvs {
                        let c = UndoCommand { argv, reverses: e.target.clone() };
                        if !commands.contains(&c) {
                            commands.push(c);
                        }
                    }
                }
                Removal::Unknown(why) => not_undone.push(format!("{} ({why})", e.target)),
            },
            // Downloads into the cache and removed clones of the cache are npu-setup's own.
            _ => {}
        }
    }
    commands.reverse();
    let mut files = Vec::new();
    let mut changed_since = Vec::new();
    for t in order.iter().rev() {
        let e = first[t];
        if let Some(Some(after)) = last_after.get(t)
            && root.sha256(rel(t))?.as_deref() != Some(*after)
        {
            changed_since.push(t.to_string());
        }
        match (e.action.as_str(), &e.backup, e.before.as_deref()) {
            ("mkdir", _, Some(b)) => {
                if let Some(mode) = b.strip_prefix("mode ").and_then(|m| u32::from_str_radix(m, 8).ok()) {
                    files.push(UndoOp::Mode { path: t.to_string(), mode });
                }
            }
            ("mkdir", _, None) => {}
            (_, Some(backup), before) => {
                let got = root.sha256(rel(backup))?;
                if got.is_none() {
                    bail!("the backup {backup} of {t} is missing: cannot restore it");
                }
                if before.is_some() && got.as_deref() != before {
                    bail!("the backup {backup} of {t} is damaged: its SHA-256 is not the one journalled");
                }
                files.push(UndoOp::Restore { path: t.to_string(), backup: backup.clone() });
            }
            (_, None, None) => files.push(UndoOp::Remove { path: t.to_string() }),
            ("touch", None, Some("empty dir")) => files.push(UndoOp::Empty { path: t.to_string() }),
            (_, None, Some(_)) => not_undone.push(format!("{t} (no backup was kept: it is left as it is)")),
        }
    }
    // Innermost directories first.
    for d in created.iter().rev() {
        files.push(UndoOp::RemoveDir { path: d.clone() });
    }
    Ok(UndoPlan { run: run.to_string(), files, commands, not_undone, changed_since })
}

/// How a command of the run is reversed.
enum Removal {
    /// Its file changes are journalled (touches) or it changes nothing lasting.
    Covered,
    /// These commands remove what it installed.
    Commands(Vec<Vec<String>>),
    /// No known inverse.
    Unknown(&'static str),
}

/// The removal of what a journalled command (shell-quoted argv) installed.
fn removal(runner: &Runner, e: &JournalEntry) -> Removal {
    let argv = if e.argv.is_empty() { unquote(&e.target) } else { Some(e.argv.clone()) };
    let Some(argv) = argv else { return Removal::Unknown("its journal line cannot be read back") };
    let Some(prog) = argv.first() else { return Removal::Covered };
    let name = prog.rsplit('/').next().unwrap_or(prog).to_string();
    let a: Vec<&str> = argv.iter().map(String::as_str).collect();
    let verb_at = |verbs: &[&str]| a.iter().position(|x| verbs.contains(x));
    // The same options (installroot, -y), the verb swapped, the packages by name.
    let swap = |i: usize, to: &[&str], drop: &[&str], name_of: &dyn Fn(&str) -> Option<String>| {
        let mut out: Vec<String> = a[..i].iter().map(|s| s.to_string()).collect();
        out.extend(to.iter().map(|s| s.to_string()));
        for x in &a[i + 1..] {
            if drop.contains(x) {
                continue;
            }
            if x.starts_with('-') {
                out.push(x.to_string());
            } else {
                out.push(name_of(x)?);
            }
        }
        Some(out)
    };
    let rpm_name = |f: &str| -> Option<String> {
        if !f.ends_with(".rpm") {
            return Some(f.to_string());
        }
        let o = runner.run("rpm", &["-qp", "--qf", "%{NAME}", f]).ok().filter(|o| o.success())?;
        Some(o.stdout.trim().to_string()).filter(|s| !s.is_empty())
    };
    let deb_name = |f: &str| -> Option<String> {
        if !f.ends_with(".deb") {
            return Some(f.to_string());
        }
        let o = runner.run("dpkg-deb", &["-f", f, "Package"]).ok().filter(|o| o.success())?;
        Some(o.stdout.trim().to_string()).filter(|s| !s.is_empty())
    };
    let unnamed = Removal::Unknown("the package file is gone: remove the package by name");
    let one = |v: Option<Vec<String>>| {
        v.map(|v| Removal::Commands(vec![v]))
            .unwrap_or(Removal::Unknown("the package file is gone: remove the package by name"))
    };
    match name.as_str() {
        "dnf" | "dnf5" | "yum" => {
            if let Some(i) = verb_at(&["install"]) {
                return one(swap(i, &["remove"], &[], &rpm_name));
            }
            if a.contains(&"copr") && a.contains(&"enable") {
                return Removal::Commands(vec![
                    argv.iter().map(|s| if s == "enable" { "disable".into() } else { s.clone() }).collect(),
                ]);
            }
            if verb_at(&["makecache"]).is_some() {
                return Removal::Covered;
            }
        }
        "apt-get" | "apt" => {
            if let Some(i) = verb_at(&["install"]) {
                return one(swap(i, &["remove"], &[], &deb_name));
            }
            if verb_at(&["update"]).is_some() {
                return Removal::Covered;
            }
        }
        "pacman" => {
            if a.get(1).is_some_and(|v| v.starts_with("-S") && v.len() > 2) {
                return Removal::Covered;
            }
            if let Some(i) = verb_at(&["-S"]) {
                return one(swap(i, &["-R"], &["--needed"], &|x| Some(x.to_string())));
            }
        }
        "rpm" => {
            if let Some(i) = a.iter().position(|x| x.starts_with("-i") || x.starts_with("-U")) {
                let names: Option<Vec<String>> =
                    a[i + 1..].iter().filter(|x| !x.starts_with('-')).map(|f| rpm_name(f)).collect();
                return names
                    .map(|n| Removal::Commands(vec![[vec!["rpm".to_string(), "-e".into()], n].concat()]))
                    .unwrap_or(unnamed);
            }
        }
        "dpkg" => {
            if let Some(i) = verb_at(&["-i", "--install"]) {
                let names: Option<Vec<String>> =
                    a[i + 1..].iter().filter(|x| !x.starts_with('-')).map(|f| deb_name(f)).collect();
                let pre: Vec<String> = a[..i].iter().map(|s| s.to_string()).collect();
                return names.map(|n| Removal::Commands(vec![[pre, vec!["-r".into()], n].concat()])).unwrap_or(unnamed);
            }
        }
        "add-apt-repository" => {
            let mut v = argv.clone();
            v.insert(1, "--remove".into());
            return Removal::Commands(vec![v]);
        }
        "dkms" => {
            if let Some(i) = verb_at(&["add"]) {
                let (m, ver) = (opt(&a, "-m"), opt(&a, "-v"));
                if let (Some(m), Some(ver)) = (m, ver) {
                    let mut v: Vec<String> = a[..i].iter().map(|s| s.to_string()).collect();
                    v.extend(["remove", "-m", m, "-v", ver, "--all"].map(String::from));
                    return Removal::Commands(vec![v]);
                }
            }
            // build/install of a module the run added: its `dkms remove --all` covers them;
            // a remove is not reversed.
            return Removal::Covered;
        }
        "systemctl" if a.contains(&"daemon-reload") || a.contains(&"restart") || a.contains(&"enable") => {
            return Removal::Covered;
        }
        "grubby" | "usermod" | "gpasswd" | "ldconfig" | "tar" | "udevadm" | "grub2-mkconfig" | "grub-mkconfig"
        | "update-grub" | "dracut" | "update-initramfs" => return Removal::Covered,
        _ => {}
    }
    Removal::Unknown("no known inverse")
}

fn opt<'a>(a: &[&'a str], flag: &str) -> Option<&'a str> {
    a.iter().position(|x| *x == flag).and_then(|i| a.get(i + 1)).copied()
}

/// Renders the plan for the terminal (`--dry-run` and before applying).
pub fn render(p: &UndoPlan, packages: bool) -> String {
    let mut s = format!("undo of install run {}\n", p.run);
    if p.files.is_empty() {
        s.push_str("  files: nothing to put back\n");
    }
    for op in &p.files {
        s.push_str(&format!("  - {}\n", op.render()));
    }
    if !p.commands.is_empty() {
        s.push_str(if packages {
            "  removal commands (run, --packages):\n"
        } else {
            "  installed by the run; remove them with these commands, or `npu-setup undo --packages RUN`:\n"
        });
        for c in &p.commands {
            s.push_str(&format!("    $ {}\n", quote_argv(&c.argv)));
        }
    }
    for n in &p.not_undone {
        s.push_str(&format!("  not undone: {n}\n"));
    }
    for c in &p.changed_since {
        s.push_str(&format!("  changed since the run: {c}\n"));
    }
    s
}

/// Carries out the file part of the plan through the root (the caller holds the lock and
/// runs the commands). Returns one line per change made.
pub fn apply_files(root: &Root, p: &UndoPlan) -> Result<Vec<String>> {
    let mut done = Vec::new();
    for op in &p.files {
        match op {
            UndoOp::Restore { path, backup } => {
                root.copy_file(rel(backup), rel(path))?;
            }
            UndoOp::Remove { path } => {
                let r = rel(path);
                match std::fs::symlink_metadata(root.host_path_nofollow(r)?) {
                    Ok(m) if m.is_dir() => root.remove_tree(r)?,
                    Ok(_) => {
                        root.remove_file(r)?;
                    }
                    Err(_) => continue,
                }
            }
            UndoOp::Empty { path } => {
                for n in root.list_dir(rel(path))? {
                    root.remove_tree(format!("{}/{n}", rel(path)))?;
                }
            }
            UndoOp::Mode { path, mode } => root.set_mode(rel(path), *mode)?,
            UndoOp::RemoveDir { path } => {
                if !root.remove_empty_dir(rel(path))? {
                    if root.exists(rel(path)) {
                        done.push(format!("kept {path}: not empty"));
                    }
                    continue;
                }
            }
        }
        done.push(op.render());
    }
    Ok(done)
}

/// Splits a line [`quote_argv`] wrote back into words (journals written before the argv
/// was recorded): words split at spaces, `'…'` quoted, `'\''` a quote.
fn unquote(s: &str) -> Option<Vec<String>> {
    let (mut out, mut cur, mut quoted, mut word, mut escaped) = (Vec::new(), String::new(), false, false, false);
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match (c, quoted) {
            ('\'', _) => {
                quoted = !quoted;
                word = true;
            }
            ('\\', false) => {
                escaped = true;
                word = true;
            }
            (' ', false) => {
                if word {
                    out.push(std::mem::take(&mut cur));
                }
                word = false;
            }
            (c, _) => {
                cur.push(c);
                word = true;
            }
        }
    }
    if quoted {
        return None;
    }
    if word {
        out.push(cur);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(run: &str, step: &str, action: &str, target: &str) -> JournalEntry {
        JournalEntry {
            run: run.into(),
            at: 0,
            step: step.into(),
            action: action.into(),
            target: target.into(),
            backup: None,
            before: None,
            after: None,
            created: Vec::new(),
            argv: Vec::new(),
        }
    }

    #[test]
    fn the_default_run_is_the_last_that_changed_something_and_is_not_undone() {
        let mut j = vec![e("a", "kargs", "edit", "/etc/default/grub"), e("b", "sources", "download", "x")];
        assert_eq!(last_run(&j).as_deref(), Some("a"), "a download alone is the cache's");
        j.push(e("c", "limits", "write", "/etc/security/limits.d/99-npu.conf"));
        assert_eq!(last_run(&j).as_deref(), Some("c"));
        j.push(e("u", "undo", "undo", "remove …"));
        j.push(e("u", "undo", UNDONE, "c"));
        assert_eq!(last_run(&j).as_deref(), Some("a"));
        assert!(is_undone(&j, "c") && !is_undone(&j, "a"));
    }

    #[test]
    fn journalled_command_lines_split_back_into_argv() {
        let argv: Vec<String> = ["dnf", "install", "-y", "it's", "a b", ""].map(String::from).to_vec();
        assert_eq!(unquote(&quote_argv(&argv)).unwrap(), argv);
        assert_eq!(unquote("'open").as_deref(), None);
    }
}
