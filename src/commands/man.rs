//! `dev man --out DIR`: man pages generated from the clap definitions (clap_mangen), one for
//! `npu-setup` and one per visible subcommand, for packages to install into man1/.

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
/// `clap_mangen::generate_to` writes, but each atomically and with its path recorded.
fn write_tree(cmd: clap::Command, out: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    let path = out.join(man.get_filename());
    let mut page = Vec::new();
    man.render(&mut page).with_context(|| format!("rendering {}", path.display()))?;
    fsx::atomic_write(&path, &page, 0o644, None)?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_tree(sub.clone(), out, written)?;
    }
    Ok(())
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
