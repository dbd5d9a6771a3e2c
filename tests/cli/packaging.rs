//! Packaging with the real tools: the completion scripts loaded by real bash, zsh and fish,
//! the man pages rendered by real `man`/`groff`; the source tarballs (`.ci/dist-sources.sh`);
//! the RPM built from them by the real `rpmbuild` with no network (`unshare --net`), queried
//! with `rpm -qp` and unpacked with `rpm2cpio | cpio`; the .deb built by `dpkg-deb` and
//! installed, verified and purged by the real `dpkg` in a debootstrap'd Debian root; the
//! release tarball and its SHA256SUMS checked by `sha256sum -c`; the Arch PKGBUILD read by
//! Debian's `makepkg`. .ci/test.sh installs every tool used here (Debian packages named in
//! `run`'s panics).

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output};
use std::sync::OnceLock;

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
    for sub in ["doctor", "install", "bench", "config", "check", "status", "completions", "undo"] {
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
        "-undo",
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
    assert!(install.contains("firstboot"), "{install}");
    // Rendered, option names are overstruck (bold): look in the roff.
    let roff = std::fs::read_to_string(dir.join("npu-setup-install.1")).unwrap();
    assert!(roff.contains("\\-\\-dry\\-run"), "{roff}");
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

// ---------------------------------------------------------------------------------------
// Distribution: the source tarballs, the RPM built from them with no network, the .deb
// installed by dpkg into a Debian root, the release tarball with SHA256SUMS, the Arch
// PKGBUILD. All go through .ci/install-payload.sh; each test checks the payload it ships.

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// .ci/test.sh's cache: the vendored crates are kept there, keyed by Cargo.lock.
fn test_cache() -> PathBuf {
    std::env::var_os("NPU_SETUP_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/npu-setup-tests"))
}

/// Runs `bash .ci/SCRIPT ARGS` from the repository with `envs`; (exit code, stdout, stderr).
fn ci_script(script: &str, args: &[&str], envs: &[(&str, &std::ffi::OsStr)]) -> (i32, String, String) {
    let mut cmd = StdCommand::new("bash");
    cmd.arg(repo().join(".ci").join(script)).args(args).envs(envs.iter().copied());
    let out = run(&mut cmd, "bash");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The source tarballs (.ci/dist-sources.sh), made once per test run under target/tmp.
fn sources() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("packaging-sources");
        let _ = std::fs::remove_dir_all(&dir);
        let cache = test_cache().join("vendor");
        let (code, stdout, stderr) =
            ci_script("dist-sources.sh", &[dir.to_str().unwrap()], &[("NPU_SETUP_VENDOR_CACHE", cache.as_os_str())]);
        assert_eq!(code, 0, "dist-sources.sh failed:\n{stderr}");
        let want =
            [dir.join(format!("npu-setup-{VERSION}.tar.gz")), dir.join(format!("npu-setup-{VERSION}-vendor.tar.gz"))];
        assert_eq!(stdout.lines().map(PathBuf::from).collect::<Vec<_>>(), want);
        dir
    })
}

/// The test binary, stripped (what the release profile ships), for the packages that take a
/// prebuilt binary: 30 MB instead of 150 to compress.
fn stripped_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("packaging-bin");
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("npu-setup");
        let tmp = dir.join(format!("npu-setup.{}", std::process::id()));
        std::fs::copy(env!("CARGO_BIN_EXE_npu-setup"), &tmp).unwrap();
        ok_stdout(StdCommand::new("strip").arg(&tmp), "binutils");
        std::fs::rename(&tmp, &bin).unwrap();
        bin
    })
}

/// Entries of a tarball (`tar -tzf`).
fn tar_list(tarball: &Path) -> Vec<String> {
    ok_stdout(StdCommand::new("tar").arg("-tzf").arg(tarball), "tar").lines().map(str::to_string).collect()
}

/// Every file (not directory) under `dir`, relative, sorted; symlinks count as files.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// The files every package ships, at their /usr paths (no leading '/'); `zsh_dir` differs
/// (Debian's vendor-completions, elsewhere site-functions). Man pages without `.gz`.
fn payload(zsh_dir: &str) -> BTreeSet<String> {
    let mut p: BTreeSet<String> = [
        "usr/bin/npu-setup",
        "usr/lib/kernel/install.d/95-npu-setup.install",
        "usr/lib/systemd/system/npu-setup-boot.service",
        "usr/lib/systemd/system/npu-setup-firstboot.service",
        "usr/share/bash-completion/completions/npu-setup",
        "usr/share/fish/vendor_completions.d/npu-setup.fish",
        "usr/share/npu-setup/hello-world.wav",
        "usr/share/npu-setup/kernel/postinst.d/zz-npu-setup",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    p.insert(format!("{zsh_dir}/_npu-setup"));
    p.extend(expected_pages().iter().map(|m| format!("usr/share/man/man1/{m}")));
    for sub in ["kickstart", "ansible"] {
        let dir = repo().join("templates").join(sub);
        assert!(dir.is_dir(), "templates/{sub}");
        p.extend(files_under(&dir).into_iter().map(|f| format!("usr/share/npu-setup/{sub}/{f}")));
    }
    p
}

/// A package's file list reduced to the payload: no docs or licenses (each format has its
/// own place), no build-id links, man pages without `.gz`.
fn shipped(paths: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    paths
        .into_iter()
        .map(|p| p.trim_start_matches("./").trim_start_matches('/').to_string())
        .filter(|p| {
            !p.starts_with("usr/share/doc/")
                && !p.starts_with("usr/share/licenses/")
                && !p.starts_with("usr/lib/.build-id")
        })
        .map(|p| if p.starts_with("usr/share/man/") { p.trim_end_matches(".gz").to_string() } else { p })
        .collect()
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

/// `key = value` (or `key=value`) lines of a file, the first of each key.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| v.trim())
    })
}

#[test]
fn manifest_licenses_spec_and_pkgbuild_agree() {
    let cargo = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let package = cargo.split("\n[").next().unwrap();
    for key in ["repository", "homepage", "readme", "keywords", "categories", "rust-version"] {
        assert!(field(package, key).is_some_and(|v| v.len() > 2), "[package] lacks {key}");
    }
    assert_eq!(field(package, "readme"), Some("\"README.md\""));
    let release = cargo.split("[profile.release]").nth(1).expect("[profile.release]");
    assert_eq!(field(release.split("\n[").next().unwrap(), "strip"), Some("true"), "the release binary is stripped");
    let homepage = env!("CARGO_PKG_HOMEPAGE");
    assert!(homepage.starts_with("https://") && !env!("CARGO_PKG_REPOSITORY").is_empty());

    // One license expression; both texts present.
    let license = env!("CARGO_PKG_LICENSE");
    assert_eq!(license, "MIT OR Apache-2.0");
    let mit = std::fs::read_to_string(repo().join("LICENSE-MIT")).unwrap();
    assert!(mit.starts_with("MIT License\n") && mit.contains("Permission is hereby granted"), "{mit}");
    let apache = std::fs::read_to_string(repo().join("LICENSE-APACHE")).unwrap();
    assert!(apache.contains("Apache License") && apache.contains("Version 2.0, January 2004"));

    // The spec and the PKGBUILD carry the version by hand (COPR and the AUR read them as
    // they are): they must follow Cargo.toml.
    let spec = std::fs::read_to_string(repo().join("templates/rpm/npu-setup.spec")).unwrap();
    assert!(spec.contains(&format!("\n%global upstream_version {VERSION}\n")), "spec version != {VERSION}");
    assert!(spec.contains(&format!("\nLicense:        {license}\n")), "spec license");
    assert!(spec.contains(&format!("\nURL:            {homepage}\n")), "spec URL");
    assert!(spec.contains(&format!("\nBuildRequires:  rust >= {}\n", env!("CARGO_PKG_RUST_VERSION"))));
    for want in ["BuildRequires:  cargo\n", "BuildRequires:  gcc\n", "BuildRequires:  systemd-rpm-macros\n"] {
        assert!(spec.contains(want), "spec lacks {want}");
    }
    assert!(spec.contains("\ncargo build --release --locked --offline "), "spec builds offline");
    let pkgbuild = std::fs::read_to_string(repo().join("templates/arch/PKGBUILD")).unwrap();
    assert_eq!(field(&pkgbuild, "pkgver"), Some(VERSION.replace('-', "_").as_str()));
    assert_eq!(field(&pkgbuild, "url"), Some(format!("\"{homepage}\"").as_str()));
    assert_eq!(field(&pkgbuild, "license"), Some(format!("('{license}')").as_str()));
    assert_eq!(field(&pkgbuild, "sha256sums"), Some("('SKIP')"), "release.sh fills in the checksum");
    assert!(pkgbuild.contains("cargo build --frozen --release"));

    // Every script parses: bash for ours, sh (dash) for the maintainer scripts.
    for s in
        ["dist-common.sh", "dist-sources.sh", "install-payload.sh", "package-rpm.sh", "package-deb.sh", "release.sh"]
    {
        let out = run(StdCommand::new("bash").arg("-n").arg(repo().join(".ci").join(s)), "bash");
        assert!(out.status.success(), "bash -n {s}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = run(StdCommand::new("bash").arg("-n").arg(repo().join("templates/arch/PKGBUILD")), "bash");
    assert!(out.status.success(), "bash -n PKGBUILD: {}", String::from_utf8_lossy(&out.stderr));
    for s in ["postinst", "prerm", "postrm"] {
        let path = repo().join("templates/deb").join(s);
        assert!(std::fs::read_to_string(&path).unwrap().starts_with("#!/bin/sh\n"));
        let out = run(StdCommand::new("sh").arg("-n").arg(&path), "dash");
        assert!(out.status.success(), "sh -n {s}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Cargo.lock's checksum of one crate.
fn lock_checksum(name: &str, version: &str) -> String {
    let lock = std::fs::read_to_string(repo().join("Cargo.lock")).unwrap();
    let block = lock
        .split("[[package]]")
        .find(|b| b.contains(&format!("name = \"{name}\"\n")) && b.contains(&format!("version = \"{version}\"\n")))
        .unwrap_or_else(|| panic!("{name} {version} not in Cargo.lock"));
    field(block, "checksum").unwrap().trim_matches('"').to_string()
}

#[test]
fn source_tarballs_hold_the_tree_and_the_crates_a_linux_build_needs() {
    let dir = sources();
    let src = dir.join(format!("npu-setup-{VERSION}.tar.gz"));
    let vendor = dir.join(format!("npu-setup-{VERSION}-vendor.tar.gz"));
    let top = format!("npu-setup-{VERSION}/");
    let listed = tar_list(&src);
    assert!(listed.iter().all(|e| e.starts_with(&top)), "one top directory");
    for f in [
        "Cargo.toml",
        "Cargo.lock",
        "src/main.rs",
        ".ci/install-payload.sh",
        "templates/rpm/npu-setup.spec",
        "LICENSE-MIT",
    ] {
        assert!(listed.contains(&format!("{top}{f}")), "{f} not in {}", src.display());
    }
    assert!(!listed.iter().any(|e| e.starts_with(&format!("{top}target/"))), "target/ was packed");

    // The vendor tarball: cargo's source replacement, complete Linux crates, stubbed others.
    let tmp = tempfile::tempdir().unwrap();
    let entries = tar_list(&vendor);
    let crate_dir = |prefix: &str| -> String {
        entries
            .iter()
            .find_map(|e| {
                e.strip_prefix("vendor/")
                    .filter(|r| r.starts_with(prefix) && r.ends_with('/') && r.matches('/').count() == 1)
            })
            .unwrap_or_else(|| panic!("no vendor/{prefix}* in the vendor tarball"))
            .trim_end_matches('/')
            .to_string()
    };
    let (windows, libc) = (crate_dir("windows-sys-"), crate_dir("libc-"));
    ok_stdout(
        StdCommand::new("tar")
            .arg("-xzf")
            .arg(&vendor)
            .arg("-C")
            .arg(tmp.path())
            .arg(".cargo/config.toml")
            .arg(format!("vendor/{windows}"))
            .arg(format!("vendor/{libc}")),
        "tar",
    );
    let config = std::fs::read_to_string(tmp.path().join(".cargo/config.toml")).unwrap();
    assert!(
        config.contains("replace-with = \"vendored-sources\"") && config.contains("directory = \"vendor\""),
        "{config}"
    );
    let stub = tmp.path().join("vendor").join(&windows);
    assert_eq!(files_under(&stub), [".cargo-checksum.json", "Cargo.toml", "src/lib.rs"]);
    assert_eq!(std::fs::read_to_string(stub.join("src/lib.rs")).unwrap(), "");
    let (name, version) = windows.rsplit_once('-').unwrap();
    assert_eq!(
        std::fs::read_to_string(stub.join(".cargo-checksum.json")).unwrap(),
        format!("{{\"files\":{{}},\"package\":\"{}\"}}", lock_checksum(name, version))
    );
    let libc_files = files_under(&tmp.path().join("vendor").join(&libc));
    assert!(libc_files.len() > 50 && libc_files.contains(&"src/lib.rs".to_string()), "{libc_files:?}");

    // Reproducible: the same tree gives the same bytes (the vendor tarball from the cache).
    let again = tmp.path().join("again");
    let cache = test_cache().join("vendor");
    let (code, _, stderr) =
        ci_script("dist-sources.sh", &[again.to_str().unwrap()], &[("NPU_SETUP_VENDOR_CACHE", cache.as_os_str())]);
    assert_eq!(code, 0, "{stderr}");
    for f in [&src, &vendor] {
        let name = f.file_name().unwrap();
        assert!(std::fs::read(f).unwrap() == std::fs::read(again.join(name)).unwrap(), "{name:?} differs between runs");
    }
}

#[test]
fn rpm_builds_from_source_offline_and_ships_the_payload() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("tmp")).unwrap();
    let out_dir = tmp.path().join("out");
    // No network at all: a new network namespace has only a loopback that is down.
    let mut cmd = StdCommand::new("unshare");
    cmd.arg("--net");
    if !is_root() {
        cmd.arg("--map-root-user");
    }
    cmd.arg("bash")
        .arg(repo().join(".ci/package-rpm.sh"))
        .args(["--define", "_source_payload w1.gzdio", "--define", "_binary_payload w1.gzdio"])
        .env("NPU_SETUP_SOURCES", sources())
        .env("NPU_SETUP_RPM_OUT", &out_dir)
        .env("TMPDIR", tmp.path().join("tmp"))
        // The release profile, made cheap for the test (the spec's header documents this):
        // the sources, the offline resolution and every step stay what COPR runs.
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "256")
        .env("CARGO_INCREMENTAL", "0");
    let out = run(&mut cmd, "util-linux (unshare), rpm (rpmbuild)");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "package-rpm.sh failed:\n{stderr}");
    let arch = ok_stdout(StdCommand::new("uname").arg("-m"), "coreutils").trim().to_string();
    let rpm = out_dir.join(format!("npu-setup-{VERSION}-1.{arch}.rpm"));
    let srpm = out_dir.join(format!("npu-setup-{VERSION}-1.src.rpm"));
    assert_eq!(stdout.lines().map(PathBuf::from).collect::<Vec<_>>(), [rpm.clone(), srpm.clone()], "{stderr}");
    assert_eq!(files_under(&tmp.path().join("tmp")), Vec::<String>::new(), "scratch files left behind");
    // The build was cargo's offline one, and `cargo install --path .` installed the binary.
    assert!(stderr.contains("+ cargo build --release --locked --offline --bin npu-setup"), "{stderr}");
    assert!(stderr.contains("+ cargo install --path . --locked --offline --no-track"), "{stderr}");

    // The SRPM is what COPR/mock rebuild: the spec and both sources, BuildRequires for Fedora.
    let srpm_files: BTreeSet<String> = rpm_query(&srpm, &["-l"]).lines().map(str::to_string).collect();
    let want: BTreeSet<String> =
        ["npu-setup.spec".into(), format!("npu-setup-{VERSION}.tar.gz"), format!("npu-setup-{VERSION}-vendor.tar.gz")]
            .into();
    assert_eq!(srpm_files, want);
    let build_requires = rpm_query(&srpm, &["--requires"]);
    for want in ["cargo", "gcc", "systemd-rpm-macros", &format!("rust >= {}", env!("CARGO_PKG_RUST_VERSION"))] {
        assert!(build_requires.lines().any(|l| l.trim() == want), "SRPM lacks BuildRequires {want}:\n{build_requires}");
    }

    // Name, version, license and URL come from Cargo.toml (via the spec, checked against it).
    assert_eq!(
        rpm_query(&rpm, &["--qf", "%{NAME} %{VERSION} %{LICENSE} %{URL}\\n"]).trim(),
        format!("npu-setup {VERSION} {} {}", env!("CARGO_PKG_LICENSE"), env!("CARGO_PKG_HOMEPAGE"))
    );

    // Every path, with its mode: the payload, plus the docs and licenses.
    let listing = rpm_query(&rpm, &["--qf", "[%{FILEMODES:perms} %{FILENAMES}\\n]"]);
    let files: std::collections::BTreeMap<&str, &str> = listing
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(m, _)| !m.starts_with('d'))
        .map(|(m, p)| (p, m))
        .collect();
    assert_eq!(shipped(files.keys().map(|p| p.to_string())), payload("usr/share/zsh/site-functions"), "{listing}");
    let mode = |path: &str| -> &str {
        files.get(path).copied().unwrap_or_else(|| panic!("{path} not in the RPM:\n{listing}"))
    };
    assert_eq!(mode("/usr/bin/npu-setup"), "-rwxr-xr-x");
    assert_eq!(mode("/usr/lib/kernel/install.d/95-npu-setup.install"), "-rwxr-xr-x");
    assert_eq!(mode("/usr/lib/systemd/system/npu-setup-boot.service"), "-rw-r--r--");
    assert_eq!(mode("/usr/share/bash-completion/completions/npu-setup"), "-rw-r--r--");
    assert_eq!(mode("/usr/share/npu-setup/kernel/postinst.d/zz-npu-setup"), "-rwxr-xr-x");
    assert_eq!(mode("/usr/share/npu-setup/ansible/npu_setup.fact"), "-rwxr-xr-x");
    for lic in ["LICENSE-MIT", "LICENSE-APACHE", "LICENSE.dependencies"] {
        assert_eq!(mode(&format!("/usr/share/licenses/npu-setup/{lic}")), "-rw-r--r--");
    }
    assert!(files.keys().any(|p| p.starts_with("/usr/share/doc/npu-setup") && p.ends_with("/README.md")), "{listing}");
    // rpmbuild's brp-compress gzipped the pages.
    assert!(files.contains_key("/usr/share/man/man1/npu-setup.1.gz"), "{listing}");
    let licensed = rpm_query(&rpm, &["--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\\n]"]);
    assert!(licensed.lines().any(|l| l.starts_with('l') && l.ends_with("/LICENSE-MIT")), "%license: {licensed}");

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

    // Unpacked: the binary built from the sources runs, and the files are the tree's.
    let root = tmp.path().join("unpacked");
    std::fs::create_dir(&root).unwrap();
    let cpio = run(
        StdCommand::new("sh").args(["-c", "rpm2cpio \"$1\" | cpio -idm --quiet", "sh"]).arg(&rpm).current_dir(&root),
        "rpm2cpio, cpio",
    );
    assert!(cpio.status.success(), "rpm2cpio | cpio: {}", String::from_utf8_lossy(&cpio.stderr));
    let installed = root.join("usr/bin/npu-setup");
    assert_eq!(ok_stdout(StdCommand::new(&installed).arg("--version"), "-").trim(), format!("npu-setup {VERSION}"));
    // The release profile stripped it: no symbol table, no debug info.
    let sections = ok_stdout(StdCommand::new("readelf").arg("-SW").arg(&installed), "binutils");
    assert!(sections.contains(".text") && !sections.contains(".symtab") && !sections.contains(".debug_"), "{sections}");
    for (packaged, template) in [
        ("usr/lib/kernel/install.d/95-npu-setup.install", "kernel-install/95-npu-setup.install"),
        ("usr/share/npu-setup/kernel/postinst.d/zz-npu-setup", "kernel-install/zz-npu-setup"),
        ("usr/lib/systemd/system/npu-setup-boot.service", "systemd/npu-setup-boot.service"),
        ("usr/lib/systemd/system/npu-setup-firstboot.service", "systemd/npu-setup-firstboot.service"),
        ("usr/share/npu-setup/hello-world.wav", "smoke/hello-world.wav"),
    ] {
        assert!(
            std::fs::read(root.join(packaged)).unwrap()
                == std::fs::read(repo().join("templates").join(template)).unwrap(),
            "{packaged} differs from templates/{template}"
        );
    }
    let bash = bin().args(["completions", "bash"]).output().unwrap().stdout;
    assert_eq!(std::fs::read(root.join("usr/share/bash-completion/completions/npu-setup")).unwrap(), bash);
    let text = ok_stdout(
        StdCommand::new("man").arg("-l").arg(root.join("usr/share/man/man1/npu-setup.1.gz")).env("MANPAGER", "cat"),
        "man-db",
    );
    assert!(text.contains("doctor") && text.contains("install"), "{text}");
    let deps = std::fs::read_to_string(root.join("usr/share/licenses/npu-setup/LICENSE.dependencies")).unwrap();
    assert!(deps.lines().any(|l| l.starts_with("clap v") && l.ends_with(": MIT OR Apache-2.0")), "{deps}");
    assert!(!deps.contains("npu-setup v"), "{deps}");
}

/// Runs `script` with `sh -c` inside `root` under chroot(8), /proc mounted and PID 1 outside
/// (as .ci/chroot-base.sh's users do); (exit code, stdout + stderr).
fn in_chroot(root: &Path, script: &str) -> (i32, String) {
    let out = run(
        StdCommand::new("unshare")
            .args(["--mount", "--pid", "--fork", "sh", "-c"])
            .arg("mount -t proc proc \"$1/proc\" && chroot \"$1\" /bin/sh -c \"$2\"")
            .args(["sh"])
            .arg(root)
            .arg(script),
        "util-linux",
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The cached debootstrap userland (.ci/chroot-base.sh), as a tarball path.
fn debian_base() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROOT_BASE_TAR") {
        return p.into();
    }
    let out = ok_stdout(StdCommand::new("bash").arg(repo().join(".ci/chroot-base.sh")), "debootstrap");
    out.trim().strip_prefix("CHROOT_BASE_TAR=").expect("CHROOT_BASE_TAR=").into()
}

/// Non-directory entries of a root, minus what dpkg and the chroot itself churn.
fn system_files(root: &Path) -> Vec<String> {
    files_under(root)
        .into_iter()
        .filter(|p| {
            !["var/lib/dpkg/", "var/log/", "var/cache/", "tmp/", "proc/", "run/"].iter().any(|d| p.starts_with(d))
        })
        .collect()
}

#[test]
fn deb_installs_runs_and_removes_cleanly_with_dpkg() {
    assert!(is_root(), "needs root (chroot): run the suite as root, as .ci/run does");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("tmp")).unwrap();
    let out_dir = tmp.path().join("out");
    let (code, stdout, stderr) = ci_script(
        "package-deb.sh",
        &[],
        &[
            ("NPU_SETUP_BIN", stripped_binary().as_os_str()),
            ("NPU_SETUP_DEB_OUT", out_dir.as_os_str()),
            ("NPU_SETUP_DEB_COMPRESSION", "gzip".as_ref()),
            ("TMPDIR", tmp.path().join("tmp").as_os_str()),
        ],
    );
    assert_eq!(code, 0, "package-deb.sh failed:\n{stderr}");
    let arch = ok_stdout(StdCommand::new("dpkg").arg("--print-architecture"), "dpkg").trim().to_string();
    let deb = out_dir.join(format!("npu-setup_{VERSION}-1_{arch}.deb"));
    assert_eq!(stdout, format!("{}\n", deb.display()));
    assert_eq!(files_under(&tmp.path().join("tmp")), Vec::<String>::new(), "scratch files left behind");

    // The control file: fields from Cargo.toml, Depends from dpkg-shlibdeps.
    let info = |f: &str| ok_stdout(StdCommand::new("dpkg-deb").arg("-f").arg(&deb).arg(f), "dpkg").trim().to_string();
    assert_eq!(info("Package"), "npu-setup");
    assert_eq!(info("Version"), format!("{VERSION}-1"));
    assert_eq!(info("Architecture"), arch);
    assert_eq!(info("Homepage"), env!("CARGO_PKG_HOMEPAGE"));
    assert!(info("Depends").starts_with("libc6 (>= 2."), "{}", info("Depends"));
    assert!(info("Installed-Size").parse::<u64>().unwrap() > 1000);
    assert!(info("Maintainer").contains('<'), "{}", info("Maintainer"));
    let control = ok_stdout(StdCommand::new("dpkg-deb").arg("-I").arg(&deb), "dpkg");
    for script in ["postinst", "prerm", "postrm", "md5sums"] {
        assert!(control.contains(&format!(" {script} ")), "{script} missing:\n{control}");
    }
    assert!(!control.contains("conffiles"), "no conffiles:\n{control}");

    // The payload in Debian's places; docs compressed; the copyright file machine-readable.
    let listing: Vec<String> = ok_stdout(StdCommand::new("dpkg-deb").arg("--contents").arg(&deb), "dpkg")
        .lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().nth(5).map(str::to_string))
        .collect();
    assert_eq!(shipped(listing.clone()), payload("usr/share/zsh/vendor-completions"), "{listing:?}");
    let docs: BTreeSet<&str> = listing.iter().filter_map(|p| p.strip_prefix("./usr/share/doc/npu-setup/")).collect();
    assert_eq!(docs, ["LICENSE.dependencies.gz", "README.md.gz", "copyright"].into());
    assert!(listing.iter().filter(|p| p.contains("/man1/")).all(|p| p.ends_with(".1.gz")), "{listing:?}");
    assert!(!listing.iter().any(|p| p.starts_with("./etc/")), "nothing in /etc: {listing:?}");
    let extracted = tmp.path().join("extracted");
    ok_stdout(StdCommand::new("dpkg-deb").arg("-x").arg(&deb).arg(&extracted), "dpkg");
    let copyright = std::fs::read_to_string(extracted.join("usr/share/doc/npu-setup/copyright")).unwrap();
    assert!(
        copyright.starts_with("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"),
        "{copyright}"
    );
    for want in [
        "\nFiles: *\n",
        "\nCopyright: 2026 The npu-setup contributors\n",
        "\nLicense: MIT or Apache-2.0\n",
        "\nLicense: MIT\n Permission is hereby granted",
        "\n .\n",
        "/usr/share/common-licenses/Apache-2.0",
    ] {
        assert!(copyright.contains(want), "copyright lacks {want:?}:\n{copyright}");
    }

    // Installed by the real dpkg into a Debian userland, run, verified, removed, purged.
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    ok_stdout(StdCommand::new("tar").arg("-xf").arg(debian_base()).arg("-C").arg(&root), "tar");
    let before = system_files(&root);
    std::fs::copy(&deb, root.join("tmp/npu-setup.deb")).unwrap();
    let (code, log) = in_chroot(
        &root,
        "dpkg -i /tmp/npu-setup.deb && npu-setup --version && dpkg --verify npu-setup && \
         npu-setup completions bash >/dev/null && systemctl enable npu-setup-boot.service",
    );
    assert_eq!(code, 0, "{log}");
    assert!(log.contains(&format!("npu-setup {VERSION}\n")), "{log}");
    let (code, listed) = in_chroot(&root, "dpkg -L npu-setup");
    assert_eq!(code, 0, "{listed}");
    let owned: Vec<String> = listed.lines().map(|l| l.trim_start_matches('/').to_string()).collect();
    let owned_files: Vec<&String> = owned.iter().filter(|p| !root.join(p).is_dir()).collect();
    assert_eq!(
        shipped(owned_files.iter().map(|p| p.to_string())),
        payload("usr/share/zsh/vendor-completions"),
        "dpkg -L:\n{listed}"
    );
    for p in &owned_files {
        assert!(std::fs::symlink_metadata(root.join(p)).is_ok(), "{p} listed but not installed");
    }
    let wants = root.join("etc/systemd/system/multi-user.target.wants/npu-setup-boot.service");
    assert!(std::fs::symlink_metadata(&wants).is_ok(), "systemctl enable made no link");

    // Removed: every file of the package gone, the unit disabled by prerm.
    let (code, log) = in_chroot(&root, "dpkg -r npu-setup && dpkg-query -W -f='${Status}\\n' npu-setup");
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("deinstall ok config-files") || log.contains("not-installed"), "{log}");
    for p in &owned_files {
        assert!(std::fs::symlink_metadata(root.join(p)).is_err(), "{p} left after dpkg -r");
    }
    assert!(std::fs::symlink_metadata(&wants).is_err(), "prerm left the unit enabled");
    // Purged: the kernel hook `npu-setup install` wrote (managed) goes too; the tree is as
    // it was before the install.
    let hook = root.join("etc/kernel/postinst.d/zz-npu-setup");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(
        &hook,
        "#!/bin/sh\n# Managed by npu-setup; changes are overwritten by `npu-setup install`.\nexit 0\n",
    )
    .unwrap();
    let (code, log) = in_chroot(&root, "dpkg --purge npu-setup && dpkg-query -W -f='${Status}\\n' npu-setup");
    assert!(code == 0 || log.contains("no packages found"), "{log}");
    assert!(!hook.exists(), "purge left the managed kernel hook");
    assert_eq!(system_files(&root), before, "files left behind by install + purge");
}

#[test]
fn release_tarball_checksums_and_pkgbuild() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("tmp")).unwrap();
    let cache = test_cache().join("vendor");
    let release = |out: &Path, tmpdir: &Path| {
        let (code, stdout, stderr) = ci_script(
            "release.sh",
            &["--sources", out.to_str().unwrap()],
            &[
                ("NPU_SETUP_BIN", stripped_binary().as_os_str()),
                ("NPU_SETUP_VENDOR_CACHE", cache.as_os_str()),
                ("TMPDIR", tmpdir.as_os_str()),
            ],
        );
        assert_eq!(code, 0, "release.sh failed:\n{stderr}");
        stdout
    };
    let out = tmp.path().join("dist");
    let stdout = release(&out, &tmp.path().join("tmp"));
    let arch = ok_stdout(StdCommand::new("uname").arg("-m"), "coreutils").trim().to_string();
    let name = format!("npu-setup-{VERSION}-{arch}-linux");
    let artifacts = [
        format!("{name}.tar.gz"),
        format!("npu-setup-{VERSION}.tar.gz"),
        format!("npu-setup-{VERSION}-vendor.tar.gz"),
        "PKGBUILD".into(),
    ];
    let printed: Vec<PathBuf> = stdout.lines().map(PathBuf::from).collect();
    let mut want: Vec<PathBuf> = artifacts.iter().map(|a| out.join(a)).collect();
    want.push(out.join("SHA256SUMS"));
    assert_eq!(printed, want);
    assert_eq!(files_under(&tmp.path().join("tmp")), Vec::<String>::new(), "scratch files left behind");

    // SHA256SUMS: sha256sum's own format, every artifact, verified by the real tool.
    let check = ok_stdout(StdCommand::new("sha256sum").arg("-c").arg("SHA256SUMS").current_dir(&out), "coreutils");
    let mut sorted = artifacts.to_vec();
    sorted.sort();
    assert_eq!(check.lines().collect::<Vec<_>>(), sorted.iter().map(|a| format!("{a}: OK")).collect::<Vec<_>>());

    // The tarball: the payload in a flat layout, a binary that runs.
    let top = format!("{name}/");
    let entries: BTreeSet<String> = tar_list(&out.join(format!("{name}.tar.gz")))
        .into_iter()
        .map(|e| e.strip_prefix(&top).unwrap_or_else(|| panic!("{e} outside {top}")).to_string())
        .filter(|e| !e.is_empty() && !e.ends_with('/'))
        .collect();
    let flat: BTreeSet<String> = payload("usr/share/zsh/site-functions")
        .into_iter()
        .map(|p| {
            p.replace("usr/bin/", "")
                .replace("usr/share/man/", "man/")
                .replace("usr/share/bash-completion/completions/", "completions/bash/")
                .replace("usr/share/zsh/site-functions/", "completions/zsh/")
                .replace("usr/share/fish/vendor_completions.d/", "completions/fish/")
                .replace("usr/lib/systemd/system/", "systemd/")
                .replace("usr/lib/kernel/install.d/", "kernel-install/")
                .replace("usr/share/npu-setup/", "share/")
        })
        .chain(["README.md", "LICENSE-MIT", "LICENSE-APACHE", "LICENSE.dependencies"].map(String::from))
        .collect();
    assert_eq!(entries, flat);
    let unpacked = tmp.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    ok_stdout(
        StdCommand::new("tar").arg("-xzf").arg(out.join(format!("{name}.tar.gz"))).arg("-C").arg(&unpacked),
        "tar",
    );
    let dir = unpacked.join(&name);
    assert_eq!(
        ok_stdout(StdCommand::new(dir.join("npu-setup")).arg("--version"), "-").trim(),
        format!("npu-setup {VERSION}")
    );
    let bash = bin().args(["completions", "bash"]).output().unwrap().stdout;
    assert_eq!(std::fs::read(dir.join("completions/bash/npu-setup")).unwrap(), bash);
    assert_eq!(std::fs::read(dir.join("README.md")).unwrap(), std::fs::read(repo().join("README.md")).unwrap());

    // Reproducible: another run (another scratch directory) gives the same bytes.
    let out2 = tmp.path().join("dist2");
    std::fs::create_dir(tmp.path().join("tmp2")).unwrap();
    release(&out2, &tmp.path().join("tmp2"));
    assert_eq!(
        std::fs::read_to_string(out.join("SHA256SUMS")).unwrap(),
        std::fs::read_to_string(out2.join("SHA256SUMS")).unwrap(),
        "two runs differ"
    );

    // The PKGBUILD: the template with the source tarball's checksum, read by the real makepkg
    // (Debian's package; it refuses to run as root, so as nobody there).
    let pkgbuild = std::fs::read_to_string(out.join("PKGBUILD")).unwrap();
    let template = std::fs::read_to_string(repo().join("templates/arch/PKGBUILD")).unwrap();
    let source = out.join(format!("npu-setup-{VERSION}.tar.gz"));
    let sum = ok_stdout(StdCommand::new("sha256sum").arg(&source), "coreutils")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(pkgbuild, template.replace("sha256sums=('SKIP')", &format!("sha256sums=('{sum}')")));
    let arch_dir = tmp.path().join("arch");
    std::fs::create_dir(&arch_dir).unwrap();
    std::fs::copy(out.join("PKGBUILD"), arch_dir.join("PKGBUILD")).unwrap();
    std::fs::copy(&source, arch_dir.join(source.file_name().unwrap())).unwrap();
    let makepkg = |args: &[&str]| -> Output {
        let mut cmd = if is_root() {
            ok_stdout(StdCommand::new("chown").arg("-R").arg("nobody:nogroup").arg(&arch_dir), "coreutils");
            std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            let mut c = StdCommand::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "makepkg"]);
            c
        } else {
            StdCommand::new("makepkg")
        };
        run(cmd.args(args).current_dir(&arch_dir).env("HOME", &arch_dir), "makepkg")
    };
    let out_of = |o: &Output| String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    let printed = makepkg(&["--printsrcinfo"]);
    assert!(printed.status.success(), "makepkg --printsrcinfo: {}", out_of(&printed));
    let srcinfo = String::from_utf8_lossy(&printed.stdout).into_owned();
    for want in [
        "pkgbase = npu-setup".to_string(),
        format!("pkgver = {}", VERSION.replace('-', "_")),
        "pkgrel = 1".into(),
        format!("url = {}", env!("CARGO_PKG_HOMEPAGE")),
        format!("license = {}", env!("CARGO_PKG_LICENSE")),
        "makedepends = cargo".into(),
        "depends = glibc".into(),
        "depends = gcc-libs".into(),
        "options = !lto".into(),
        format!(
            "source = npu-setup-{VERSION}.tar.gz::{}/releases/download/v{VERSION}/npu-setup-{VERSION}.tar.gz",
            env!("CARGO_PKG_HOMEPAGE")
        ),
        format!("sha256sums = {sum}"),
        "pkgname = npu-setup".into(),
    ] {
        assert!(srcinfo.lines().any(|l| l.trim() == want), ".SRCINFO lacks {want:?}:\n{srcinfo}");
    }
    // makepkg finds the tarball beside the PKGBUILD and checks it against sha256sums; a
    // PKGBUILD with another checksum is refused.
    let verified = makepkg(&["--verifysource", "--nodeps"]);
    assert!(verified.status.success() && out_of(&verified).contains("Passed"), "{}", out_of(&verified));
    std::fs::write(arch_dir.join("PKGBUILD"), pkgbuild.replace(&sum, &"0".repeat(64))).unwrap();
    let refused = makepkg(&["--verifysource", "--nodeps"]);
    assert!(!refused.status.success() && out_of(&refused).contains("FAILED"), "{}", out_of(&refused));

    // package() run as makepkg runs it (in $srcdir, with $pkgdir), on the unpacked source
    // tarball and a built binary: the same payload, Arch's doc and license directories.
    let srcdir = tmp.path().join("srcdir");
    std::fs::create_dir(&srcdir).unwrap();
    ok_stdout(StdCommand::new("tar").arg("-xzf").arg(&source).arg("-C").arg(&srcdir), "tar");
    let release_dir = srcdir.join(format!("npu-setup-{VERSION}/target/release"));
    std::fs::create_dir_all(&release_dir).unwrap();
    std::fs::copy(stripped_binary(), release_dir.join("npu-setup")).unwrap();
    let pkgdir = tmp.path().join("pkg");
    ok_stdout(
        StdCommand::new("bash")
            .args(["-c", "set -e; source \"$1\"; cd \"$srcdir\"; package", "bash"])
            .arg(out.join("PKGBUILD"))
            .env("srcdir", &srcdir)
            .env("pkgdir", &pkgdir),
        "bash",
    );
    let files = files_under(&pkgdir);
    assert_eq!(shipped(files.clone()), payload("usr/share/zsh/site-functions"), "{files:?}");
    for want in [
        "usr/share/doc/npu-setup/README.md",
        "usr/share/licenses/npu-setup/LICENSE-MIT",
        "usr/share/licenses/npu-setup/LICENSE-APACHE",
        "usr/share/licenses/npu-setup/LICENSE.dependencies",
    ] {
        assert!(files.iter().any(|f| f == want), "package() did not install {want}: {files:?}");
    }
}

#[test]
fn release_and_deb_refuse_a_missing_or_stale_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-binary");
    let stale = tmp.path().join("old-npu-setup");
    std::fs::write(&stale, "#!/bin/sh\necho 'npu-setup 0.0.1'\n").unwrap();
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = tmp.path().join("out");
    for (script, out_var) in [("release.sh", "NPU_SETUP_RELEASE_UNUSED"), ("package-deb.sh", "NPU_SETUP_DEB_OUT")] {
        let args: &[&str] = if script == "release.sh" { &[out.to_str().unwrap()] } else { &[] };
        let (code, stdout, stderr) =
            ci_script(script, args, &[("NPU_SETUP_BIN", missing.as_os_str()), (out_var, out.as_os_str())]);
        assert_eq!((code, stdout.as_str()), (1, ""), "{script}: {stderr}");
        assert!(stderr.contains(&format!("{} is not an executable file", missing.display())), "{script}: {stderr}");

        let (code, stdout, stderr) =
            ci_script(script, args, &[("NPU_SETUP_BIN", stale.as_os_str()), (out_var, out.as_os_str())]);
        assert_eq!((code, stdout.as_str()), (1, ""), "{script}: {stderr}");
        let want = format!("says 'npu-setup 0.0.1' but Cargo.toml is at {VERSION}");
        assert!(stderr.contains(&want), "{script}: {stderr}");
    }
    assert!(!out.exists(), "an output directory was made for a refused binary");
}
