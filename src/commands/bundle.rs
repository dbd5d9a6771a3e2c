//! `doctor --bundle FILE.tar.gz`: a redacted support bundle that opens as a fixture.
//!
//! The bundle is a gzip'd tar with one top directory: a host fixture written by
//! [`capture_into`] (the same code as `dev capture-fixture`: the files the probes read,
//! the commands they ran as data (never executed on replay), HTTP answers, a kernel-log excerpt, a firmware
//! listing, unit files), plus the doctor report (`report.json`, `report.txt`), the facts
//! (`facts.json`), excerpts for reading (`kernel-log.txt`, `firmware.txt`, `packages.txt`)
//! and a `MANIFEST` saying what is inside and what was redacted (counts, never values). So
//! `tar xzf FILE.tar.gz && npu-setup --root DIR doctor` replays the host, and a user's bug
//! report becomes a regression fixture.
//!
//! Everything added next to the capture goes through the capture's own redactor, so its
//! replacements agree with the fixture's (`user1` is the same person everywhere). The capture
//! probes the host again, as `dev capture-fixture` does, with doctor's target user but
//! otherwise default options: what `--lemonade-url`, `--gpu-url` or `--smoke` found is in
//! `report.json`, not in the replay.
//!
//! Written atomically (fsx, ARCHITECTURE.md §Data flow): staged in a temporary directory next to FILE,
//! archived into a temporary file next to FILE, fsynced and renamed onto FILE. On any error
//! the temporaries are removed and an existing FILE is left as it was.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::capture::{CaptureOptions, Captured, capture_into};
use crate::cli::Cli;
use crate::host::Facts;
use crate::host::services::UNIT_DIRS;
use crate::redact::{Kind, Redactor};
use crate::report::Report;
use crate::report::human::{HumanOptions, render};

/// Files the bundle adds to the fixture tree (a maintainer deletes them to make a fixture).
pub const BUNDLE_FILES: &[&str] =
    &["MANIFEST", "report.json", "report.txt", "facts.json", "kernel-log.txt", "firmware.txt", "packages.txt"];

/// Top directory when FILE's name gives none.
const DEFAULT_TOP: &str = "npu-setup-bundle";

/// Writes the support bundle for this doctor run to `path`.
pub fn write(cli: &Cli, facts: &Facts, report: &Report, path: &Path) -> Result<()> {
    write_bundle(cli, facts, report, path).with_context(|| format!("writing support bundle {}", path.display()))
}

fn write_bundle(cli: &Cli, facts: &Facts, report: &Report, path: &Path) -> Result<()> {
    let (dir, name) = destination(path)?;
    // Both temporaries live next to FILE: the rename is atomic, and an unwritable
    // destination fails here, before the capture runs.
    // A killed bundle run left its staging directory and archive here: ours by prefix,
    // removed once their process is gone (a bundle being written right now is not).
    let ours = crate::fsx::pid_prefix(crate::fsx::BUNDLE_PREFIX, '-');
    for (is_dir, what) in [(true, "directory"), (false, "file")] {
        for p in crate::fsx::sweep(&dir, crate::fsx::BUNDLE_PREFIX, '-', is_dir) {
            eprintln!("removed {} (a {what} left by an interrupted `doctor --bundle`)", p.display());
        }
    }
    let mut out = tempfile::Builder::new()
        .prefix(&format!("{ours}{name}."))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let stage = tempfile::Builder::new()
        .prefix(&ours)
        .tempdir_in(&dir)
        .with_context(|| format!("creating a temporary directory in {}", dir.display()))?;
    let tree = stage.path().join("tree");
    let user = facts.users.ok().map(|u| u.name.as_str());
    // A fresh runner: every command the capture's probe runs becomes a replay shim.
    let (runner, recipes) = super::setup(cli)?;
    let captured = capture_into(
        &runner,
        &recipes,
        &tree,
        &CaptureOptions { user, made_by: "support bundle made by `npu-setup doctor --bundle`" },
    )?;
    let red = &captured.redactor;
    let top = red.text(&top_dir_name(&name));

    add_files(&tree, &top, facts, report, &captured)?;
    archive(&tree, &top, out.as_file_mut())?;
    out.as_file().sync_all().context("syncing the archive")?;
    fs::set_permissions(out.path(), fs::Permissions::from_mode(0o644))
        .with_context(|| format!("setting permissions on {}", out.path().display()))?;
    out.persist(path).map_err(|e| e.error).with_context(|| format!("renaming the archive onto {}", path.display()))?;
    // The rename is durable once the directory is synced; a failure here loses nothing.
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }

    let redacted: Vec<String> =
        red.counts().iter().map(|c| format!("{} {}", c.occurrences, kind_label(c.kind))).collect();
    eprintln!("{}", captured.describe(Path::new(&top)));
    eprintln!(
        "wrote support bundle {}; redacted: {}",
        path.display(),
        if redacted.is_empty() { "nothing found".to_string() } else { redacted.join(", ") }
    );
    Ok(())
}

/// The directory FILE goes into (which must exist) and FILE's name.
fn destination(path: &Path) -> Result<(PathBuf, String)> {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        bail!("{} names no file", path.display());
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => bail!("{} is not a directory", dir.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!("directory {} does not exist", dir.display()),
        Err(e) => return Err(e).with_context(|| format!("checking directory {}", dir.display())),
    }
    if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        bail!("{} is a directory", path.display());
    }
    Ok((dir, name))
}

/// `b.tar.gz` -> `b`: what `tar xzf` of the bundle creates.
fn top_dir_name(file_name: &str) -> String {
    let stem = [".tar.gz", ".tgz", ".tar"].iter().find_map(|s| file_name.strip_suffix(s)).unwrap_or(file_name);
    if stem.is_empty() || stem.starts_with('.') { DEFAULT_TOP.to_string() } else { stem.to_string() }
}

/// The report, facts and readable excerpts next to the fixture tree, then the MANIFEST
/// (last: it counts every redaction, these files' included).
fn add_files(tree: &Path, top: &str, facts: &Facts, report: &Report, cap: &Captured) -> Result<()> {
    let red = &cap.redactor;
    let write = |name: &str, text: &str| {
        let p = tree.join(name);
        fs::write(&p, text).with_context(|| format!("writing {}", p.display()))
    };
    let mut report_json = serde_json::to_value(report).context("serialising the report")?;
    red.json(&mut report_json);
    write("report.json", &(serde_json::to_string_pretty(&report_json)? + "\n"))?;
    let mut human = Vec::new();
    let opts = HumanOptions { unicode: true, color: false, verbose: true, quiet: false, brief: false };
    render(&mut human, report, &opts).context("rendering the report")?;
    write("report.txt", &red.text(&String::from_utf8_lossy(&human)))?;
    let mut facts_json = serde_json::to_value(facts).context("serialising the facts")?;
    red.json(&mut facts_json);
    write("facts.json", &(serde_json::to_string_pretty(&facts_json)? + "\n"))?;
    write("kernel-log.txt", &red.text(&kernel_log_text(facts)))?;
    write("firmware.txt", &firmware_text(cap))?;
    write("packages.txt", &red.text(&packages_text(facts)))?;
    // Everything in it is redacted already; one more pass costs nothing and catches a slip.
    write("MANIFEST", &red.text(&manifest(tree, top, &report_json, cap)?))
}

fn kernel_log_text(facts: &Facts) -> String {
    match facts.kernel_log.ok() {
        Some(log) => {
            let mut s = format!(
                "# kernel-log lines doctor judged (amdxdna, amdnpu, IOMMU, lockdown, module signing): \
                 {} of {} lines from {}\n",
                log.lines.len(),
                log.total_lines,
                log.source
            );
            log.lines.iter().for_each(|l| {
                s.push_str(l);
                s.push('\n');
            });
            s
        }
        None => format!("# no kernel log: {}\n", facts.kernel_log.reason().unwrap_or("not probed")),
    }
}

fn firmware_text(cap: &Captured) -> String {
    let mut s = String::from(
        "# firmware under the amdnpu directories of the firmware search path; the fixture holds\n\
         # placeholders that keep only each blob's version string\n",
    );
    if cap.firmware.is_empty() {
        s.push_str("# (no amdnpu firmware found)\n");
    }
    for f in &cap.firmware {
        match (&f.link, f.size, &f.sha256) {
            (Some(t), _, _) => writeln!(s, "{} -> {t}", f.path),
            (None, Some(n), Some(h)) => writeln!(s, "{}  {n} bytes  sha256:{h}", f.path),
            _ => writeln!(s, "{}  (larger than {} MiB, not hashed)", f.path, crate::capture::MAX_HASH >> 20),
        }
        .expect("writing to a String");
    }
    s
}

fn packages_text(facts: &Facts) -> String {
    match facts.packages.ok() {
        Some(p) => {
            let mut s = format!("# packages doctor asked {} about (raw outputs: bin/.replay/)\n", p.manager);
            for pkg in &p.packages {
                let v = pkg.version.as_deref().unwrap_or("not installed");
                writeln!(s, "{:<32} {v}", pkg.name).expect("writing to a String");
            }
            s
        }
        None => format!("# no package query: {}\n", facts.packages.reason().unwrap_or("not probed")),
    }
}

/// Short plural label of a redaction kind, for one-line summaries.
fn kind_label(k: Kind) -> &'static str {
    match k {
        Kind::Secret => "secrets",
        Kind::Hostname => "host names",
        Kind::User => "user names",
        Kind::RealName => "real names",
        Kind::Email => "e-mail addresses",
        Kind::MachineId => "machine/boot ids",
        Kind::Serial => "serials",
        Kind::Uuid => "UUIDs",
        Kind::Mac => "MACs",
        Kind::Ipv4 => "IPv4 addresses",
        Kind::Ipv6 => "IPv6 addresses",
    }
}

fn manifest(tree: &Path, top: &str, report: &serde_json::Value, cap: &Captured) -> Result<String> {
    let red: &Redactor = &cap.redactor;
    let files = walk(tree)?;
    let d = &report["diagnosis"];
    let mut m = String::new();
    let w = &mut m;
    fn line(w: &mut String, s: &str) {
        w.push_str(s);
        w.push('\n');
    }
    line(w, "npu-setup support bundle");
    line(w, "========================");
    line(w, "");
    line(
        w,
        &format!(
            "Made by `npu-setup doctor --bundle` (npu-setup {}) from a {} root.",
            env!("CARGO_PKG_VERSION"),
            match cap.mode {
                crate::root::RootMode::Live => "live",
                crate::root::RootMode::Fixture => "fixture",
                crate::root::RootMode::Offline => "offline",
            }
        ),
    );
    line(
        w,
        &format!(
            "Verdict: {}, first failure: {}",
            d["state"].as_str().unwrap_or("?"),
            d["first_failure"].as_str().unwrap_or("none")
        ),
    );
    line(w, &format!("  {}", d["message"].as_str().unwrap_or("")));
    line(w, "");
    line(w, "This directory is a host fixture (the format of `npu-setup dev capture-fixture`,");
    line(w, "tests/fixtures/hosts/README.md in the sources). Replay it:");
    line(w, "");
    line(w, &format!("  npu-setup --root {top} doctor"));
    line(w, "");
    line(w, "To make it a regression test: copy it to tests/fixtures/hosts/<name>/, delete the");
    line(w, "bundle's own files and add `expect: { state: …, first_failure: … }` to .fixture.yaml:");
    line(w, "");
    line(w, &format!("  cd {top} && rm {}", BUNDLE_FILES.join(" ")));
    line(w, "");
    line(w, "Inside");
    for (f, what) in [
        ("MANIFEST", "this file"),
        ("report.json", "the doctor report (`--format json`)"),
        ("report.txt", "the doctor report as text, with every check's evidence"),
        ("facts.json", "everything the probes found (`npu-setup dev facts`)"),
        ("kernel-log.txt", "the kernel-log lines doctor judged (the replayed log holds only these)"),
        ("firmware.txt", "amdnpu firmware files: names, sizes, SHA-256, links"),
        ("packages.txt", "package versions the probes queried"),
        (".fixture.yaml", "device nodes, HTTP answers, capture date, firmware listing, skipped paths"),
        ("bin/, usr/bin/…", "placeholders for the commands the probes ran (never executed); outputs under .replay/"),
        ("etc/, sys/, …", "the files the probes read (etc, proc, sys, boot, lib, usr, opt, var, dev)"),
    ] {
        line(w, &format!("  {f:<16} {what}"));
    }
    line(w, "");
    line(w, "Unit files");
    let units: Vec<&String> = files
        .iter()
        .filter(|f| UNIT_DIRS.iter().any(|d| f.starts_with(&format!("{d}/"))))
        .filter(|f| !tree.join(f).is_dir())
        .collect();
    if units.is_empty() {
        line(w, "  (none)");
    }
    units.iter().for_each(|u| line(w, &format!("  {u}")));
    line(w, "");
    line(w, "Redacted (replacements, distinct values; the values themselves are nowhere in the bundle)");
    let counts = red.counts();
    if counts.is_empty() {
        line(w, "  nothing identifying was found");
    }
    for c in &counts {
        line(w, &format!("  {:<6} {:<6} {}", c.occurrences, c.distinct, c.kind.describe()));
    }
    line(w, "");
    line(w, "Never copied: firmware blobs, kernel images and modules, libraries and keys (empty or");
    line(w, "version-only placeholders), kernel-log lines without NPU/IOMMU/module-signing keywords,");
    line(w, "and files the probes do not read.");
    line(w, "");
    if !cap.skipped.is_empty() {
        line(w, "Skipped (could not be read)");
        cap.skipped.iter().for_each(|s| line(w, &format!("  {}: {}", s.path, s.reason)));
        line(w, "");
    }
    line(w, &format!("Files ({})", files.len() + 1));
    line(w, "  MANIFEST");
    files.iter().for_each(|f| line(w, &format!("  {f}")));
    Ok(m)
}

/// Every path under `dir`, relative, sorted, directories before their contents; symlinked
/// directories are listed, not entered.
fn walk(dir: &Path) -> Result<Vec<String>> {
    fn go(base: &Path, rel: &Path, out: &mut Vec<String>) -> Result<()> {
        let here = base.join(rel);
        let mut names: Vec<_> = fs::read_dir(&here)
            .with_context(|| format!("listing {}", here.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("listing {}", here.display()))?;
        names.sort();
        for n in names {
            let r = rel.join(&n);
            out.push(r.to_string_lossy().into_owned());
            let meta = fs::symlink_metadata(base.join(&r)).with_context(|| format!("stat {}", r.display()))?;
            if meta.is_dir() {
                go(base, &r, out)?;
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    go(dir, Path::new(""), &mut out)?;
    Ok(out)
}

/// Writes `tree` as `top/…` into a gzip'd tar: sorted, symlinks kept as symlinks (a fixture's
/// sysfs links must stay links), modes reduced to 0644/0755 and owners and times fixed
/// (tar's deterministic mode), so nothing of the local account leaks into the headers.
fn archive(tree: &Path, top: &str, file: &mut fs::File) -> Result<()> {
    let gz = GzEncoder::new(BufWriter::new(file), Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(false);
    tar.append_path_with_name(tree, top).context("archiving the top directory")?;
    for rel in walk(tree)? {
        tar.append_path_with_name(tree.join(&rel), Path::new(top).join(&rel))
            .with_context(|| format!("archiving {rel}"))?;
    }
    let gz = tar.into_inner().context("finishing the tar stream")?;
    let mut buf = gz.finish().context("finishing the gzip stream")?;
    buf.flush().context("writing the archive")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_directory_is_the_file_stem() {
        for (file, top) in [
            ("b.tar.gz", "b"),
            ("npu-bug.tgz", "npu-bug"),
            ("x.tar", "x"),
            ("bundle", "bundle"),
            (".tar.gz", DEFAULT_TOP),
            ("..tgz", DEFAULT_TOP),
        ] {
            assert_eq!(top_dir_name(file), top, "{file}");
        }
    }

    #[test]
    fn destination_errors_name_the_problem() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope/b.tar.gz");
        let err = destination(&missing).unwrap_err().to_string();
        assert_eq!(err, format!("directory {} does not exist", tmp.path().join("nope").display()));
        let err = destination(tmp.path()).unwrap_err().to_string();
        assert!(err.ends_with("is a directory"), "{err}");
        let (dir, name) = destination(Path::new("b.tar.gz")).unwrap();
        assert_eq!((dir, name.as_str()), (PathBuf::from("."), "b.tar.gz"));
    }
}
