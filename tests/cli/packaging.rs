//! Packaging with the real tools: the completion scripts loaded by real bash, zsh and fish,
//! the man pages rendered by real `man`/`groff`, and the RPM built by `.ci/package-rpm.sh`
//! with the real `rpmbuild`, queried with `rpm -qp` and unpacked with `rpm2cpio | cpio`.
//! .ci/test.sh installs every tool used here (Debian packages named in `run`'s panics).

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output};

use crate::bin;

/// Runs a real tool; a missing one fails with the Debian package that provides it.
fn run(cmd: &mut StdCommand, package: &str) -> Output {
    cmd.output().unwrap_or_else(|e| {
        panic!("running {:?}: {e} (Debian package {package}; .ci/test.sh installs it)", cmd.get_program())
    })
}

/// stdout of a command that must succeed.
fn ok_stdout(cmd: &mut StdCommand, package: &str) -> String {
    let out = run(cmd, package);
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `npu-setup completions SHELL` written to a file in `dir`.
fn completion_file(dir: &Path, shell: &str) -> PathBuf {
    let out = bin().args(["completions", shell]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "completions wrote to stderr: {}", String::from_utf8_lossy(&out.stderr));
    let path = dir.join(format!("npu-setup.{shell}"));
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// What bash's completion function offers for `words` (the last one being completed).
fn bash_complete(script: &Path, words: &[&str]) -> Vec<String> {
    let line = format!(
        "source \"$1\" && COMP_WORDS=({words}) && COMP_CWORD={cword} && \
         _npu__setup npu-setup \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\" && \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words = words.join(" "),
        cword = words.len() - 1
    );
    let out =
        ok_stdout(StdCommand::new("bash").args(["--norc", "--noprofile", "-c", &line, "bash"]).arg(script), "bash");
    out.lines().map(str::to_string).collect()
}

#[test]
fn bash_completion_registers_and_completes_subcommands() {
    let tmp = tempfile::tempdir().unwrap();
    let script = completion_file(tmp.path(), "bash");
    let registered = ok_stdout(
        StdCommand::new("bash")
            .args(["--norc", "--noprofile", "-c", "source \"$1\" && complete -p npu-setup", "bash"])
            .arg(&script),
        "bash",
    );
    assert!(registered.contains("-F _npu__setup") && registered.trim_end().ends_with(" npu-setup"), "{registered}");
    assert_eq!(bash_complete(&script, &["npu-setup", "doc"]), ["doctor"]);
    // Past a subcommand (broken upstream for hyphenated names, clap-rs/clap#6421; see
    // commands::completions) and two levels down.
    assert_eq!(bash_complete(&script, &["npu-setup", "doctor", "--sm"]), ["--smoke"]);
    assert_eq!(bash_complete(&script, &["npu-setup", "config", "litellm", "--gpu-m"]), ["--gpu-model"]);
    assert_eq!(bash_complete(&script, &["npu-setup", "install", "--reboot", "if"]), ["if-needed"]);
}

#[test]
fn zsh_completion_parses_and_registers() {
    let tmp = tempfile::tempdir().unwrap();
    let script = completion_file(tmp.path(), "zsh");
    assert!(std::fs::read_to_string(&script).unwrap().starts_with("#compdef npu-setup\n"));
    let parse = run(StdCommand::new("zsh").arg("-n").arg(&script), "zsh");
    assert!(parse.status.success(), "zsh -n: {}", String::from_utf8_lossy(&parse.stderr));
    // Loaded the way an fpath entry is: compinit, then the file; compdef registers it.
    let comp = ok_stdout(
        StdCommand::new("zsh")
            .args([
                "-f",
                "-c",
                "autoload -Uz compinit && compinit -D -u && source \"$1\" && print -r -- ${_comps[npu-setup]}",
                "zsh",
            ])
            .arg(&script)
            .env("HOME", tmp.path()),
        "zsh",
    );
    assert_eq!(comp.trim(), "_npu-setup");
}

#[test]
fn fish_completion_parses_and_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let script = completion_file(tmp.path(), "fish");
    let parse = run(StdCommand::new("fish").arg("--no-execute").arg(&script), "fish");
    assert!(parse.status.success(), "fish --no-execute: {}", String::from_utf8_lossy(&parse.stderr));
    let offered = |line: &str| -> Vec<String> {
        let out = ok_stdout(
            StdCommand::new("fish")
                .args(["--no-config", "-c", &format!("source $argv[1]; complete -C '{line}'")])
                .arg(&script)
                .env("HOME", tmp.path())
                .env("XDG_CONFIG_HOME", tmp.path().join("config"))
                .env("XDG_DATA_HOME", tmp.path().join("data")),
            "fish",
        );
        out.lines().map(|l| l.split('\t').next().unwrap_or_default().to_string()).collect()
    };
    assert_eq!(offered("npu-setup doc"), ["doctor"]);
    assert_eq!(offered("npu-setup doctor --sm"), ["--smoke"]);
    let top = offered("npu-setup ");
    for sub in ["doctor", "install", "bench", "config", "check", "status", "completions"] {
        assert!(top.iter().any(|o| o == sub), "{sub} not offered: {top:?}");
    }
}

/// The page names `dev man` writes for the current command tree.
fn expected_pages() -> BTreeSet<String> {
    [
        "",
        "-doctor",
        "-install",
        "-bench",
        "-config",
        "-config-litellm",
        "-check",
        "-status",
        "-recipes",
        "-recipes-show",
        "-recipes-update",
        "-completions",
    ]
    .iter()
    .map(|s| format!("npu-setup{s}.1"))
    .collect()
}

#[test]
fn man_pages_are_written_and_render() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("new/man1");
    let out = bin().args(["dev", "man", "--out"]).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| Path::new(l).strip_prefix(&dir).unwrap().display().to_string())
        .collect();
    let on_disk: BTreeSet<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(listed, expected_pages());
    assert_eq!(on_disk, expected_pages(), "stray files (temporaries, hidden commands)");

    let page = dir.join("npu-setup.1");
    let text =
        ok_stdout(StdCommand::new("man").arg("-l").arg(&page).env("MANPAGER", "cat").env("MANWIDTH", "100"), "man-db");
    for want in [
        "NAME",
        "npu-setup - Provision and diagnose",
        "SUBCOMMANDS",
        "npu-setup-doctor(1)",
        "npu-setup-install(1)",
        "--root <DIR>",
    ] {
        assert!(text.contains(want), "man -l {} lacks {want:?}:\n{text}", page.display());
    }
    // groff itself, all warnings on: the pages are clean roff.
    let pages: Vec<PathBuf> = expected_pages().iter().map(|p| dir.join(p)).collect();
    let groff = run(StdCommand::new("groff").args(["-man", "-Tutf8", "-ww", "-z"]).args(&pages), "groff-base");
    assert!(groff.status.success() && groff.stderr.is_empty(), "groff: {}", String::from_utf8_lossy(&groff.stderr));
    let install =
        ok_stdout(StdCommand::new("groff").args(["-man", "-Tutf8"]).arg(dir.join("npu-setup-install.1")), "groff-base");
    assert!(install.contains("dry") && install.contains("firstboot"), "{install}");
}

#[test]
fn man_names_the_directory_it_cannot_create() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = bin().args(["dev", "man", "--out"]).arg(file.join("man1")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("writing man pages to {}", file.join("man1").display())), "{err}");
}

/// A scratch copy of what `.ci/package-rpm.sh` reads, so the test can add kickstart/ and
/// ansible/ examples whether or not the tree has them yet.
fn scratch_source(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(src.join(".ci")).unwrap();
    for (from, to) in
        [("Cargo.toml", "Cargo.toml"), ("README.md", "README.md"), (".ci/package-rpm.sh", ".ci/package-rpm.sh")]
    {
        std::fs::copy(repo.join(from), src.join(to)).unwrap();
    }
    let st = StdCommand::new("cp").arg("-a").arg(repo.join("templates")).arg(&src).status().unwrap();
    assert!(st.success());
    for (sub, name) in [("kickstart", "packaging-test.ks"), ("ansible", "roles/npu/tasks/main.yml")] {
        let p = src.join("templates").join(sub).join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("# {sub} example\n")).unwrap();
    }
    src
}

/// Runs the copy of package-rpm.sh; returns (exit code, stdout, stderr).
fn package(src: &Path, tmp: &Path, bin_path: &Path) -> (i32, String, String) {
    let out = run(
        StdCommand::new("bash")
            .arg(src.join(".ci/package-rpm.sh"))
            .env("NPU_SETUP_BIN", bin_path)
            .env("NPU_SETUP_RPM_OUT", tmp.join("out"))
            .env("TMPDIR", tmp.join("tmp")),
        "bash",
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every file under `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

fn rpm_query(rpm: &Path, args: &[&str]) -> String {
    ok_stdout(StdCommand::new("rpm").arg("-qp").args(args).arg(rpm), "rpm")
}

/// The body of one scriptlet (`postinstall`, `preuninstall`, …) in `rpm -qp --scripts` output.
fn scriptlet(scripts: &str, which: &str) -> String {
    let mut inside = false;
    let mut body = String::new();
    for line in scripts.lines() {
        if let Some((name, _)) = line.split_once(" scriptlet (using ") {
            inside = name == which;
        } else if inside {
            body.push_str(line);
            body.push('\n');
        }
    }
    body
}

#[test]
fn rpm_installs_binary_plugin_units_completions_man_and_data() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("tmp")).unwrap();
    let src = scratch_source(tmp.path());
    let npu_setup = Path::new(env!("CARGO_BIN_EXE_npu-setup"));
    let (code, stdout, stderr) = package(&src, tmp.path(), npu_setup);
    assert_eq!(code, 0, "package-rpm.sh failed:\n{stderr}");
    let version = env!("CARGO_PKG_VERSION");
    let rpm = PathBuf::from(stdout.trim());
    assert_eq!(stdout.lines().count(), 1, "stdout is the RPM path only: {stdout}");
    assert!(rpm.starts_with(tmp.path().join("out")) && rpm.is_file(), "{}", rpm.display());
    assert!(rpm.file_name().unwrap().to_string_lossy().starts_with(&format!("npu-setup-{version}-1.")));
    assert_eq!(files_under(&tmp.path().join("tmp")), Vec::<String>::new(), "scratch files left behind");

    // Name, version and license come from Cargo.toml.
    assert_eq!(
        rpm_query(&rpm, &["--qf", "%{NAME} %{VERSION} %{LICENSE}\\n"]).trim(),
        format!("npu-setup {version} {}", env!("CARGO_PKG_LICENSE"))
    );

    // Every path, with its mode.
    let listing = rpm_query(&rpm, &["--qf", "[%{FILEMODES:perms} %{FILENAMES}\\n]"]);
    let files: std::collections::BTreeMap<&str, &str> =
        listing.lines().filter_map(|l| l.split_once(' ')).map(|(m, p)| (p, m)).collect();
    let mode = |path: &str| -> &str {
        files.get(path).copied().unwrap_or_else(|| panic!("{path} not in the RPM:\n{listing}"))
    };
    assert_eq!(mode("/usr/bin/npu-setup"), "-rwxr-xr-x");
    assert_eq!(mode("/usr/lib/kernel/install.d/95-npu-setup.install"), "-rwxr-xr-x");
    assert_eq!(mode("/usr/lib/systemd/system/npu-setup-boot.service"), "-rw-r--r--");
    assert_eq!(mode("/usr/lib/systemd/system/npu-setup-firstboot.service"), "-rw-r--r--");
    assert_eq!(mode("/usr/share/bash-completion/completions/npu-setup"), "-rw-r--r--");
    assert_eq!(mode("/usr/share/zsh/site-functions/_npu-setup"), "-rw-r--r--");
    assert_eq!(mode("/usr/share/fish/vendor_completions.d/npu-setup.fish"), "-rw-r--r--");
    assert_eq!(mode("/usr/share/npu-setup/hello-world.wav"), "-rw-r--r--");
    assert_eq!(mode("/usr/share/npu-setup/kernel/postinst.d/zz-npu-setup"), "-rwxr-xr-x");
    assert!(!files.contains_key("/etc/kernel/postinst.d/zz-npu-setup"), "the Debian hook is installed live");
    // Man pages, compressed by rpmbuild's brp-compress (uncompressed where a distro's rpm
    // does not compress).
    let man: BTreeSet<String> = files
        .keys()
        .filter_map(|p| p.strip_prefix("/usr/share/man/man1/"))
        .map(|p| p.trim_end_matches(".gz").to_string())
        .collect();
    assert_eq!(man, expected_pages());
    // Whatever templates/kickstart and templates/ansible hold, under /usr/share/npu-setup/.
    for sub in ["kickstart", "ansible"] {
        let want = files_under(&src.join("templates").join(sub));
        assert!(!want.is_empty());
        for f in want {
            let p = format!("/usr/share/npu-setup/{sub}/{f}");
            assert!(files.contains_key(p.as_str()), "{p} not in the RPM:\n{listing}");
        }
    }

    // Dependencies: the binary's shared libraries and the scriptlets' shell; nothing of the
    // Rust toolchain.
    let requires = rpm_query(&rpm, &["--requires"]);
    assert!(requires.lines().any(|l| l == "/bin/sh"), "{requires}");
    assert!(requires.lines().any(|l| l.starts_with("libc.so.6")), "{requires}");
    assert!(!requires.contains("cargo") && !requires.contains("rust"), "{requires}");

    // Scriptlets: preset on install, disable and stop on erase; oneshot units are never
    // restarted on upgrade.
    let scripts = rpm_query(&rpm, &["--scripts"]);
    for which in ["postinstall", "preuninstall"] {
        let s = scriptlet(&scripts, which);
        assert!(
            s.contains("npu-setup-boot.service") && s.contains("npu-setup-firstboot.service"),
            "{which} does not name both units:\n{scripts}"
        );
    }
    let postun = scriptlet(&scripts, "postuninstall");
    assert!(postun.contains("systemctl") || postun.contains("systemd-update-helper"), "{scripts}");
    assert!(!scripts.contains("restart"), "a unit is restarted on upgrade:\n{scripts}");

    // Unpacked: a binary that runs, and the files as the tree has them.
    let root = tmp.path().join("unpacked");
    std::fs::create_dir(&root).unwrap();
    let cpio = run(
        StdCommand::new("sh").args(["-c", "rpm2cpio \"$1\" | cpio -idm --quiet", "sh"]).arg(&rpm).current_dir(&root),
        "rpm2cpio, cpio",
    );
    assert!(cpio.status.success(), "rpm2cpio | cpio: {}", String::from_utf8_lossy(&cpio.stderr));
    let installed = root.join("usr/bin/npu-setup");
    assert!(std::fs::metadata(&installed).unwrap().permissions().mode() & 0o111 == 0o111);
    assert_eq!(ok_stdout(StdCommand::new(&installed).arg("--version"), "-").trim(), format!("npu-setup {version}"));
    for (packaged, template) in [
        ("usr/lib/kernel/install.d/95-npu-setup.install", "kernel-install/95-npu-setup.install"),
        ("usr/share/npu-setup/kernel/postinst.d/zz-npu-setup", "kernel-install/zz-npu-setup"),
        ("usr/lib/systemd/system/npu-setup-boot.service", "systemd/npu-setup-boot.service"),
        ("usr/lib/systemd/system/npu-setup-firstboot.service", "systemd/npu-setup-firstboot.service"),
        ("usr/share/npu-setup/hello-world.wav", "smoke/hello-world.wav"),
    ] {
        assert!(
            std::fs::read(root.join(packaged)).unwrap() == std::fs::read(src.join("templates").join(template)).unwrap(),
            "{packaged} differs from templates/{template}"
        );
    }
    let bash = bin().args(["completions", "bash"]).output().unwrap().stdout;
    assert_eq!(std::fs::read(root.join("usr/share/bash-completion/completions/npu-setup")).unwrap(), bash);
    // The packaged page as man reads it from man1/ (compressed or not).
    let page = ["usr/share/man/man1/npu-setup.1.gz", "usr/share/man/man1/npu-setup.1"]
        .iter()
        .map(|p| root.join(p))
        .find(|p| p.is_file())
        .expect("npu-setup.1 unpacked");
    let text = ok_stdout(StdCommand::new("man").arg("-l").arg(&page).env("MANPAGER", "cat"), "man-db");
    assert!(text.contains("doctor") && text.contains("install"), "{text}");

    // Idempotent: a second run replaces the same file and leaves nothing else.
    let (code, again, stderr) = package(&src, tmp.path(), npu_setup);
    assert_eq!(code, 0, "second run failed:\n{stderr}");
    assert_eq!(again, stdout);
    assert_eq!(files_under(&tmp.path().join("out")), [rpm.file_name().unwrap().to_string_lossy().into_owned()]);
    assert_eq!(files_under(&tmp.path().join("tmp")), Vec::<String>::new());
    assert_eq!(rpm_query(&rpm, &["--qf", "%{NAME}\\n"]).trim(), "npu-setup");
}

#[test]
fn package_script_refuses_a_missing_or_stale_binary() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("tmp")).unwrap();
    let src = scratch_source(tmp.path());

    let missing = tmp.path().join("no-such-binary");
    let (code, stdout, stderr) = package(&src, tmp.path(), &missing);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(stderr.contains(&format!("{} is not an executable file", missing.display())), "{stderr}");

    let stale = tmp.path().join("old-npu-setup");
    std::fs::write(&stale, "#!/bin/sh\necho 'npu-setup 0.0.1'\n").unwrap();
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, stdout, stderr) = package(&src, tmp.path(), &stale);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    let want = format!("says 'npu-setup 0.0.1' but Cargo.toml is at {}", env!("CARGO_PKG_VERSION"));
    assert!(stderr.contains(&want), "{stderr}");
    assert!(!tmp.path().join("out").exists(), "an RPM dir was made for a refused binary");
}
