//! `dev man --out DIR`: man pages generated from the clap definitions (clap_mangen), one for
//! `npu-setup` and one per visible subcommand, for packages to install into man1/.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::Cli;
use crate::fsx;

/// Writes `npu-setup.1` and `npu-setup-<sub>[-<subsub>].1` for every command that is not
/// hidden into `out` (created if missing). Each page is written atomically, so an
/// interrupted run leaves whole pages only. Returns the written paths, parents first.
pub fn write_pages(out: &Path) -> Result<Vec<PathBuf>> {
    // `out` is a host directory the user names (packaging), not a path under --root.
    fsx::create_dirs(out).with_context(|| format!("writing man pages to {}", out.display()))?;
    // `build` propagates the global options into every subcommand and gives subcommands
    // their display names ("npu-setup-doctor"), which name both the page and its file.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    write_tree(cmd, out, &mut written).with_context(|| format!("writing man pages to {}", out.display()))?;
    Ok(written)
}

/// Writes the page for `cmd`, then those of its visible subcommands (depth first): the files
/// `clap_mangen::generate_to` writes, but each atomically, with its path recorded, and with
/// the sections clap_mangen does not write (EXIT STATUS, ENVIRONMENT, FILES, EXAMPLES).
fn write_tree(cmd: clap::Command, out: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    let path = out.join(man.get_filename());
    let mut page = Vec::new();
    render(&man, &cmd, &mut page).with_context(|| format!("rendering {}", path.display()))?;
    fsx::atomic_write(&path, &page, 0o644, None)?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_tree(sub.clone(), out, written)?;
    }
    Ok(())
}

/// A page: clap_mangen's sections in its order, ours after the subcommands, then VERSION.
fn render(man: &clap_mangen::Man, cmd: &clap::Command, w: &mut dyn Write) -> std::io::Result<()> {
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(w)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(w)?;
    }
    let name = cmd.get_display_name().unwrap_or(cmd.get_name());
    let sub = name.strip_prefix(BIN_PREFIX).unwrap_or("");
    write!(w, "{}", extra_sections(sub))?;
    if cmd.get_version().is_some() {
        man.render_version_section(w)?;
    }
    Ok(())
}

const BIN_PREFIX: &str = "npu-setup-";

/// Text for roff: backslashes and hyphens escaped, a leading `.` or `'` made literal.
fn roff(s: &str) -> String {
    let t = s.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') { format!("\\&{t}") } else { t }
}

/// `.TP` items: a bold tag and its text.
fn items(out: &mut String, rows: &[(&str, &str)]) {
    for (tag, text) in rows {
        out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", roff(tag), roff(text)));
    }
}

/// EXIT STATUS, ENVIRONMENT, FILES and EXAMPLES of the page for subcommand `sub` (`""` for
/// the top page, `config-litellm` for `npu-setup config litellm`).
fn extra_sections(sub: &str) -> String {
    let mut s = String::from(".SH \"EXIT STATUS\"\n");
    items(
        &mut s,
        &[
            ("0", "Healthy: ready, or degraded with warnings only; install converged."),
            (
                "1",
                "Problems found: a check failed or could not run, there is no NPU, or a step failed; with --strict, warnings too.",
            ),
            ("2", "Could not run: usage, bad input (a malformed data file, a missing root), an internal error."),
            ("3", "install converged, but a reboot is required."),
        ],
    );
    s.push_str(&format!(
        ".PP\n{}\n",
        roff("check --hook always exits 0; status exits 2 when there is no verdict (unknown). A reader that closes the pipe early (| head) is not an error.")
    ));
    s.push_str(".SH ENVIRONMENT\n");
    items(
        &mut s,
        &[
            ("NO_COLOR", "Set and not empty: no colour with --color auto (the default)."),
            (
                "LC_ALL, LC_CTYPE, LANG",
                "The first one set decides the character set: outside UTF-8 locales (LANG=C) every human line is ASCII.",
            ),
            ("RUST_LOG", "Log filter (tracing's EnvFilter syntax); overrides -v and -q."),
            ("SUDO_USER", "The user doctor and install judge and set up by default (--user overrides)."),
            (
                "NPU_SETUP_CHROOT",
                "1 or 0: whether / is a chroot (kickstart %post, image builds), when detection guesses wrong.",
            ),
        ],
    );
    s.push_str(".SH FILES\n");
    items(
        &mut s,
        &[
            (
                "/var/lib/npu-setup/state.json",
                "What install did: steps done, a reboot owed, the models and endpoints it set up.",
            ),
            (
                "/var/lib/npu-setup/journal.jsonl",
                "Every change install made, one JSON line each, with backups under backups/RUN/ (undo reads them).",
            ),
            ("/var/log/npu-setup/RUN/", "The output of every command an install run ran; RUN is YYYYMMDD-HHMMSS-PID."),
            ("/var/lib/npu-setup/kernels/KVER.json", "check --kernel's verdict per installed kernel."),
            ("/var/lib/npu-setup/recipes/", "A signed recipes bundle stored by recipes update."),
            ("/var/cache/npu-setup/", "Source trees and packages install fetched."),
            (
                "/run/npu-setup/status.json",
                "The verdict of this boot's check (npu-setup-boot.service), read by status.",
            ),
            (
                "/etc/npu-setup/install.yaml",
                "install's options (keys are the long option names); install --config names another.",
            ),
            ("/etc/systemd/system/npu-setup-boot.service", "Runs doctor --write-status once per boot."),
            (
                "/etc/kernel/install.d/95-npu-setup.install",
                "Runs check --kernel KVER --hook when a kernel is installed.",
            ),
        ],
    );
    s.push_str(".SH EXAMPLES\n");
    for (what, cmd) in examples(sub) {
        s.push_str(&format!("{}\n.PP\n.RS 4\n.nf\n{}\n.fi\n.RE\n.PP\n", roff(what), roff(&cmd)));
    }
    s
}

/// What each page shows as examples: (what it does, the command).
fn examples(sub: &str) -> Vec<(&'static str, String)> {
    let v: &[(&str, &str)] = match sub {
        "" => &[
            ("Diagnose this host, hardware to inference:", "npu-setup doctor"),
            (
                "See what install would change, then converge the host:",
                "npu-setup install --dry-run\nsudo npu-setup install",
            ),
            ("After the reboot install asked for, the same command finishes:", "sudo npu-setup install"),
            ("Wait for the boot-time verdict in a provisioning pipeline:", "npu-setup status --wait --max-wait 300"),
        ],
        "doctor" => &[
            (
                "The whole ladder, then a real completion on the NPU and the GPU:",
                "npu-setup doctor\nnpu-setup doctor --smoke",
            ),
            ("Only the boot checks, as JSON:", "npu-setup doctor --only boot.iommu,boot.next --format json"),
            ("Every check id and what it judges:", "npu-setup doctor --list"),
            ("A support bundle (redacted) to attach to an issue:", "npu-setup doctor --bundle npu-report.tar.gz"),
            ("An installed system that is not running:", "npu-setup --root /mnt/sysimage doctor"),
        ],
        "install" => &[
            ("The exact plan (commands, file diffs), changing nothing:", "npu-setup install --dry-run"),
            ("Converge, asking once; run it again after the reboot it asks for:", "sudo npu-setup install"),
            ("One step only, without asking:", "sudo npu-setup install --only kargs --yes"),
            ("Unattended, rebooting when needed:", "sudo npu-setup install --yes --reboot if-needed"),
        ],
        "check" => &[
            ("Which installed kernels will work with the NPU:", "npu-setup check"),
            (
                "One kernel (the kernel-install hook runs this with --hook):",
                "npu-setup check --kernel 6.19.9-300.fc44.x86_64",
            ),
        ],
        "status" => &[("Block until this boot's check has a verdict:", "npu-setup status --wait --max-wait 300")],
        "bench" => &[
            ("Decode speed on the NPU and the GPU endpoint:", "npu-setup bench"),
            ("The NPU only, more runs:", "npu-setup bench --only npu --runs 5"),
        ],
        "config" | "config-litellm" => {
            &[("A LiteLLM proxy config for both endpoints:", "npu-setup config litellm > litellm.yaml")]
        }
        "recipes" | "recipes-show" | "recipes-update" => &[
            ("Which knowledge is in use:", "npu-setup recipes show"),
            ("Fetch and verify a newer signed bundle, store nothing:", "sudo npu-setup recipes update --dry-run"),
        ],
        "completions" => &[(
            "Bash completions for every user:",
            "npu-setup completions bash > /usr/share/bash-completion/completions/npu-setup",
        )],
        _ => &[],
    };
    if v.is_empty() {
        let shown = sub.replace('-', " ");
        return vec![("Its options:", format!("npu-setup {shown} --help"))];
    }
    v.iter().map(|(w, c)| (*w, c.to_string())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_one_page_per_visible_command() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("new/man1");
        let pages = write_pages(&out).unwrap();
        let names: Vec<String> = pages.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        for want in [
            "npu-setup.1",
            "npu-setup-doctor.1",
            "npu-setup-install.1",
            "npu-setup-config-litellm.1",
            "npu-setup-undo.1",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("dev")), "hidden dev pages written: {names:?}");
        let top = std::fs::read_to_string(out.join("npu-setup.1")).unwrap();
        assert!(top.contains("\n.TH npu-setup 1 "), "{top}");
        let install = std::fs::read_to_string(out.join("npu-setup-install.1")).unwrap();
        assert!(install.contains("\\-\\-dry\\-run"), "{install}");
        // The sections clap_mangen does not write, on every page, before VERSION.
        for page in &pages {
            let text = std::fs::read_to_string(page).unwrap();
            for sec in [".SH \"EXIT STATUS\"", ".SH ENVIRONMENT", ".SH FILES", ".SH EXAMPLES"] {
                assert!(text.contains(sec), "{sec} missing from {}", page.display());
            }
        }
        assert!(
            install.contains("sudo npu\\-setup install \\-\\-dry\\-run")
                || install.contains("npu\\-setup install \\-\\-dry\\-run")
        );
        assert!(top.contains(".TP\n\\fB3\\fR\ninstall converged, but a reboot is required."), "{top}");
        assert!(top.find(".SH EXAMPLES").unwrap() < top.find(".SH VERSION").unwrap());
        // Idempotent: a second run rewrites the same set.
        assert_eq!(write_pages(&out).unwrap(), pages);
    }

    #[test]
    fn names_the_directory_it_cannot_create() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("plain-file");
        std::fs::write(&file, "x").unwrap();
        let err = format!("{:#}", write_pages(&file.join("man1")).unwrap_err());
        assert!(err.contains(&file.join("man1").display().to_string()), "{err}");
    }
}
