//! Human output as people meet it: evidence as key/value lines (no JSON, nothing cut), fixes
//! that are alternatives labelled "one of:", no colour where it was not asked for (logs
//! included), ASCII outside UTF-8 locales, a closed pipe as a normal end, `status --wait`
//! that does not wait for a unit that will never run, no Rust debug formatting, run ids that
//! read as dates, and only log paths that exist.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::{bin, copy_fixture, fixture};

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = bin();
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn root_of(name: &str) -> String {
    fixture(name).display().to_string()
}

/// `policy: [{"action":"remove",…` was the evidence: JSON cut at 160 characters.
#[test]
fn evidence_is_key_value_lines_never_json_and_never_cut() {
    let root = root_of("case09-iommu-off-70rc2");
    let (code, out, _) = run(&["--root", &root, "doctor", "--color", "never"], &[]);
    assert_eq!(code, 1, "{out}");
    for bad in ["[{\"", "{\"", "…", "⏎"] {
        assert!(!out.contains(bad), "{bad:?} in\n{out}");
    }
    assert!(out.contains("     policy:\n       - action: remove\n         arg: amd_iommu=off\n"), "{out}");
    // A long value is wrapped, whole: the kernel command line ends with its last argument.
    assert!(out.contains("amd_iommu=off rhgb\n       quiet\n") || out.contains("amd_iommu=off rhgb quiet\n"), "{out}");
    // Wrapped at 100 columns; only a word longer than the rest of the line (a path) runs past.
    for line in out.lines().filter(|l| l.starts_with("     ") && l.chars().count() > 100) {
        assert!(line.split(' ').any(|w| w.len() > 40), "{line}");
    }
    // -v shows every key of every check, the same way.
    let (_, verbose, _) = run(&["--root", &root, "doctor", "--color", "never", "-v"], &[]);
    assert!(!verbose.contains("{\"") && !verbose.contains("…"), "{verbose}");
}

/// The npu-setup step and the distro's own command were two `$` lines with no "or".
#[test]
fn alternative_fixes_are_labelled_one_of() {
    let root = root_of("case09-iommu-off-70rc2");
    let (_, out, _) = run(&["--root", &root, "doctor", "--color", "never"], &[]);
    assert!(
        out.contains(
            "       one of:\n       - $ sudo npu-setup install --only kargs\n       - $ sudo grubby --update-kernel=ALL --remove-args=\"amd_iommu\"\n"
        ),
        "{out}"
    );
    // A single way is a plain command, with no label.
    assert!(out.contains("       $ sudo npu-setup install --only lemonade\n"), "{out}");
}

fn has_ansi(s: &str) -> bool {
    s.contains('\u{1b}')
}

/// `-v` logs carried ANSI escapes into pipes despite `--color never`.
#[test]
fn no_colour_into_pipes_and_never_means_never_for_logs_too() {
    let root = root_of("case09-iommu-off-70rc2");
    // Auto into a pipe (NO_COLOR unset): neither the report nor the logs are coloured.
    let out = bin().env_remove("NO_COLOR").args(["--root", &root, "-v", "doctor"]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stderr.contains("ran command"), "debug logs with -v: {stderr}");
    assert!(!has_ansi(&stdout) && !has_ansi(&stderr), "{stderr}");
    let out =
        bin().env_remove("NO_COLOR").args(["--root", &root, "-v", "--color", "never", "doctor"]).output().unwrap();
    assert!(!has_ansi(&String::from_utf8_lossy(&out.stdout)) && !has_ansi(&String::from_utf8_lossy(&out.stderr)));
    // `always` is asked for: both get colour.
    let out = bin().args(["--root", &root, "-v", "--color", "always", "doctor"]).output().unwrap();
    assert!(has_ansi(&String::from_utf8_lossy(&out.stdout)) && has_ansi(&String::from_utf8_lossy(&out.stderr)));
    // Logs never show Rust's Option debug form.
    assert!(!stderr.contains("Some(") && !stderr.contains("=None"), "{stderr}");
}

/// Under `LANG=C` "—", "…" and "§" still printed. Every human line is ASCII outside UTF-8
/// locales (`LC_ALL` wins over `LANG`), and JSON stays UTF-8 data.
#[test]
fn every_character_is_ascii_outside_utf8_locales() {
    let root = root_of("case09-iommu-off-70rc2");
    let (_tmp, scratch) = copy_fixture("case09-iommu-off-70rc2");
    let scratch = scratch.display().to_string();
    let runs: &[&[&str]] = &[
        &["--root", &root, "doctor", "-v"],
        &["--root", &root, "doctor", "--list"],
        &["--root", &root, "check"],
        &["--root", &root, "status"],
        &["--root", &root, "recipes", "show"],
        &["--root", &scratch, "install", "--dry-run"],
        &["--root", "/nonexistent—root", "doctor"],
    ];
    for env in [&[("LANG", "C")][..], &[("LANG", "C.UTF-8"), ("LC_ALL", "C")][..], &[("LANG", "POSIX")][..]] {
        for args in runs {
            let (_, out, err) = run(args, env);
            let bad: Vec<char> = out.chars().chain(err.chars()).filter(|c| !c.is_ascii()).collect();
            assert!(bad.is_empty(), "{env:?} {args:?}: {bad:?}\n{out}\n{err}");
        }
    }
    let (_, utf8, _) = run(&["--root", &root, "doctor"], &[("LANG", "C.UTF-8")]);
    assert!(utf8.contains('✗') && utf8.contains('§'), "UTF-8 locales keep the glyphs");
    let (_, ascii, _) = run(&["--root", &root, "doctor"], &[("LANG", "C")]);
    assert!(ascii.contains("[XX] boot.iommu") && ascii.contains("section 4"), "{ascii}");
}

/// Runs npu-setup with its stdout a pipe whose reader is already gone.
fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("npu-setup"));
    cmd.env("NO_COLOR", "1").env("LANG", "C.UTF-8").env_remove("LC_ALL").args(args);
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (child.wait().unwrap().code(), err)
}

/// `doctor | head -1` printed "Broken pipe" and exited 2: a reader that goes away ends the
/// output quietly, and the exit code is the command's own.
#[test]
fn a_closed_pipe_is_a_normal_end() {
    let root = root_of("case09-iommu-off-70rc2");
    for (args, want) in [
        (vec!["--root", &root, "doctor"], 1),
        (vec!["--root", &root, "doctor", "--format", "json"], 1),
        (vec!["--root", &root, "doctor", "--list"], 0),
        (vec!["--root", &root, "check"], 1),
        (vec!["--root", &root, "status"], 2),
        (vec!["--root", &root, "recipes", "show"], 0),
        (vec!["completions", "bash"], 0),
    ] {
        let (code, err) = with_closed_stdout(&args);
        assert_eq!(code, Some(want), "{args:?}: {err}");
        assert!(!err.to_lowercase().contains("broken pipe") && !err.contains("panicked"), "{args:?}: {err}");
    }
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("'{}' --root '{root}' doctor | head -1", assert_cmd::cargo::cargo_bin("npu-setup").display()))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `status --wait` waited 600 s when the boot unit was not installed.
#[test]
fn status_wait_does_not_wait_for_a_unit_that_will_not_run() {
    let (_tmp, root) = copy_fixture("case09-iommu-off-70rc2");
    let r = root.display().to_string();
    let wait = || {
        let started = Instant::now();
        let (code, out, _) = run(&["--root", &r, "status", "--wait", "--max-wait", "60"], &[]);
        (code, out, started.elapsed())
    };
    let (code, out, took) = wait();
    assert_eq!(code, 2, "{out}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(out.contains("npu-setup-boot.service is not installed") && out.contains("--only lifecycle"), "{out}");
    // Installed, not enabled.
    crate::lifecycle::enable_boot_unit(&root);
    let wants = root.join("etc/systemd/system/multi-user.target.wants/npu-setup-boot.service");
    std::fs::remove_file(&wants).unwrap();
    let (code, out, took) = wait();
    assert_eq!(code, 2, "{out}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(
        out.contains("installed but not enabled") && out.contains("systemctl enable npu-setup-boot.service"),
        "{out}"
    );
    // Masked.
    let masked = root.join("run/systemd/system");
    std::fs::create_dir_all(&masked).unwrap();
    std::os::unix::fs::symlink("/dev/null", masked.join("npu-setup-boot.service")).unwrap();
    let (code, out, _) = wait();
    assert_eq!(code, 2);
    assert!(out.contains("is masked"), "{out}");
    std::fs::remove_file(masked.join("npu-setup-boot.service")).unwrap();
    // Enabled: it waits (here, until --max-wait).
    std::os::unix::fs::symlink("/etc/systemd/system/npu-setup-boot.service", &wants).unwrap();
    let started = Instant::now();
    let (code, out, _) = run(&["--root", &r, "status", "--wait", "--max-wait", "1.5"], &[]);
    assert_eq!(code, 2);
    assert!(started.elapsed() >= Duration::from_millis(1400), "waited for an enabled unit: {out}");
    assert!(out.contains("no verdict after waiting"), "{out}");
}

/// Errors printed `exited Some(127)`; debug logs `code=None`. No message formats an exit
/// code (or any Option) with Rust's `{:?}`.
#[test]
fn no_rust_debug_formatting_of_exit_codes_in_messages() {
    let re = regex::Regex::new(r#"\{[A-Za-z_.]*code[A-Za-z_.]*:\?\}|:\?\}[^;]*?,\s*[a-z_.]*\.code\b|= \?[a-z_.]*code"#)
        .unwrap();
    let mut offenders = Vec::new();
    let mut stack = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "tests") {
                    stack.push(p);
                }
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            // Unit tests at the end of a file may print anything.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let joined = code.replace('\n', " ");
            for m in re.find_iter(&joined) {
                offenders.push(format!("{}: {}", p.display(), m.as_str()));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

/// Log paths named run ids as epoch-pid, and a log directory that was never created (a run
/// that ran no command names none: `state::tests`).
#[test]
fn run_ids_read_as_dates_and_only_existing_log_dirs_are_named() {
    let re = regex::Regex::new(r"^\d{8}-\d{6}-\d+$").unwrap();
    let (_tmp, root) = crate::install::broken_fedora("fedora44-71-intree-healthy");
    let (code, out, err) = crate::install::install(&root, &["--yes", "--only", "limits"]);
    assert!(code == 0 || code == 1, "{out}\n{err}");
    let journal = std::fs::read_to_string(root.join("var/lib/npu-setup/journal.jsonl")).unwrap();
    for line in journal.lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(re.is_match(e["run"].as_str().unwrap()), "{e}");
    }
    // A step that runs a command: its log directory exists and is named.
    let (_, out, err) = crate::install::install(&root, &["--yes", "--only", "kargs"]);
    let dir = out.lines().find_map(|l| l.strip_prefix("logs: ")).unwrap_or_else(|| panic!("{out}\n{err}"));
    let name = dir.rsplit('/').next().unwrap();
    assert!(re.is_match(name), "{dir}");
    assert!(root.join(dir.trim_start_matches('/')).is_dir(), "{dir} does not exist");
    // And a failing command says how it ended in words.
    crate::write_shim(&root, "usr/sbin/grubby", "exit 127");
    crate::install::add_karg_everywhere(&root, "amd_iommu=off");
    let (code, out, err) = crate::install::install(&root, &["--yes", "--only", "kargs"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("failed (exit status 127)") && !out.contains("Some("), "{out}");
}

/// Progress was one spinner, and nothing at all without a terminal. Without one it is plain
/// timestamped lines: step n/m, each action, how each step ended and how long it took.
#[test]
fn progress_without_a_terminal_is_timestamped_lines_with_step_n_of_m() {
    let (_tmp, root) = crate::install::broken_fedora("fedora44-71-intree-healthy");
    let (code, out, err) = crate::install::install(&root, &["--yes", "--user", "alice", "--only", "kargs,limits"]);
    assert_eq!(code, 3, "{out}\n{err}");
    // --only brings in preflight: three steps.
    let line = regex::Regex::new(r"^\d\d:\d\d:\d\dZ \[[123]/3 (preflight|kargs|limits)\] ").unwrap();
    let lines: Vec<&str> = err.lines().filter(|l| line.is_match(l)).collect();
    assert!(lines.iter().any(|l| l.contains("[2/3 kargs] run: grubby")), "{err}");
    assert!(lines.iter().any(|l| l.contains("[3/3 limits] write /etc/security/limits.d/")), "{err}");
    let done = regex::Regex::new(r"\[2/3 kargs\] \d+ change\(s\) applied \(\d+\.\ds\)$").unwrap();
    assert!(lines.iter().any(|l| done.is_match(l)), "{err}");
    assert!(!err.contains('\u{1b}'), "no escapes without a terminal: {err}");
    // -q: no progress at all.
    let (_tmp, root) = crate::install::broken_fedora("fedora44-71-intree-healthy");
    let (_, _, err) = crate::install::install(&root, &["-q", "--yes", "--user", "alice", "--only", "limits"]);
    assert!(!err.contains("[1/1 limits]"), "{err}");
}
