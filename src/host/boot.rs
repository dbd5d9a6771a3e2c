//! Next-boot configuration: BLS entries, grubenv, `/etc/default/grub` (+ `grub.d`),
//! `/etc/kernel/cmdline` and non-BLS `grub.cfg`.
//!
//! Sources: Fedora GRUB2 + BLS, grubby updates every layer (grubby-bls, <https://src.fedoraproject.org/rpms/grubby>;
//! "BLS: create /etc/kernel/cmdline during mkconfig", <https://src.fedoraproject.org/rpms/grub2>); Ubuntu
//! `/etc/default/grub` + update-grub
//! (<https://www.gnu.org/software/grub/manual/grub/html_node/Simple-configuration.html>); `/etc/kernel/cmdline` for
//! kernel-install / systemd-boot (<https://www.freedesktop.org/software/systemd/man/latest/kernel-install.html>).

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::kernel::{KernelFacts, compare_releases};
use crate::parse::bls::{parse_bls, parse_grub_cfg_linux_lines};
use crate::parse::shellvars::{Expander, MAX_EXPANDED, parse_env_lenient, parse_shell_vars};
use crate::root::Root;

/// One BLS entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BlsFacts {
    /// Entry id (file name without `.conf`).
    pub id: String,
    /// Host path of the entry.
    pub file: String,
    /// `version` key (kernel release).
    pub version: Option<String>,
    /// `title`.
    pub title: Option<String>,
    /// `options` line.
    pub options: Option<String>,
}

/// `/etc/default/grub` (or a `grub.d` drop-in) as far as the kernel command line goes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GrubDefault {
    /// Host path.
    pub file: String,
    /// `GRUB_CMDLINE_LINUX`, expanded.
    pub cmdline_linux: Option<String>,
    /// `GRUB_CMDLINE_LINUX_DEFAULT`, expanded.
    pub cmdline_linux_default: Option<String>,
    /// The file could not be parsed strictly (install refuses to edit it).
    pub parse_error: Option<String>,
}

/// Next-boot facts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct BootFacts {
    /// BLS entries, sorted by kernel version (newest first).
    pub bls: Vec<BlsFacts>,
    /// `saved_entry` from grubenv.
    pub saved_entry: Option<String>,
    /// `kernelopts` from grubenv (older Fedora BLS setups).
    pub kernelopts: Option<String>,
    /// The entry that boots by default.
    pub default_entry: Option<String>,
    /// `/etc/default/grub` and drop-ins, in read order.
    pub grub_default: Vec<GrubDefault>,
    /// `/etc/kernel/cmdline`.
    pub kernel_cmdline: Option<String>,
    /// (image, args) of each `linux` line in a non-BLS `grub.cfg`, in menu order.
    pub grub_cfg: Vec<(String, String)>,
    /// Which grub.cfg was read.
    pub grub_cfg_file: Option<String>,
    /// An image-based system (rpm-ostree / bootc: `/run/ostree-booted` exists). Its BLS
    /// entries are generated per deployment: kernel arguments change through `rpm-ostree
    /// kargs` (a new deployment, applied at the next boot), packages are layered
    /// (<https://docs.fedoraproject.org/en-US/fedora-coreos/kernel-args/>).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ostree: bool,
    /// On an image-based system: `rpm-ostree kargs`, the kernel arguments of the default
    /// deployment (the staged one when a change is pending) — what the next boot gets, even
    /// before ostree writes the new BLS entry at shutdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ostree_kargs: Option<String>,
}

/// Fills [`BootFacts::ostree_kargs`] on an image-based system (a command: the next
/// deployment's arguments are not in any file until it is finalized).
pub fn probe_ostree_kargs(runner: &crate::runner::Runner, b: &mut BootFacts) {
    if b.ostree {
        b.ostree_kargs = runner
            .run("rpm-ostree", &["kargs"])
            .ok()
            .filter(|o| o.success())
            .map(|o| o.stdout.trim().to_string())
            .filter(|s| !s.is_empty());
    }
}

impl BootFacts {
    /// The default entry's options, or the first grub.cfg linux line.
    pub fn default_options(&self) -> Option<&str> {
        if let Some(id) = &self.default_entry
            && let Some(e) = self.bls.iter().find(|e| &e.id == id)
        {
            return e.options.as_deref();
        }
        self.grub_cfg.first().map(|(_, a)| a.as_str())
    }
}

/// Reads the boot configuration under the root.
pub fn probe_boot(root: &Root) -> Result<BootFacts> {
    let mut facts = BootFacts { ostree: root.exists("run/ostree-booted"), ..Default::default() };
    for dir in ["boot/loader/entries", "efi/loader/entries", "boot/efi/loader/entries"] {
        for name in root.list_dir(dir)? {
            let Some(id) = name.strip_suffix(".conf") else { continue };
            let rel = format!("{dir}/{name}");
            // Read whole, as install edits it: nothing past a cap is invisible.
            let Some(text) = root.read_whole_text(&rel)? else { continue };
            let e = parse_bls(&text);
            facts.bls.push(BlsFacts {
                id: id.to_string(),
                file: Root::display(&rel),
                version: e.version,
                title: e.title,
                options: e.options,
            });
        }
    }
    facts.bls.sort_by(|a, b| compare_releases(b.version.as_deref().unwrap_or(""), a.version.as_deref().unwrap_or("")));
    for rel in ["boot/grub2/grubenv", "boot/efi/EFI/fedora/grubenv", "boot/grub/grubenv"] {
        if let Some(text) = root.read_optional(rel)? {
            let vars = parse_env_lenient(&text);
            let get = |k: &str| vars.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            facts.saved_entry = get("saved_entry").filter(|s| !s.is_empty());
            facts.kernelopts = get("kernelopts");
            break;
        }
    }
    // GRUB with BLS boots saved_entry when set and present, else the first (newest) entry.
    facts.default_entry = facts
        .saved_entry
        .clone()
        .filter(|s| facts.bls.iter().any(|e| &e.id == s))
        .or_else(|| facts.bls.first().map(|e| e.id.clone()));

    let mut grub_files = vec!["etc/default/grub".to_string()];
    for name in root.list_dir("etc/default/grub.d")? {
        if name.ends_with(".cfg") {
            grub_files.push(format!("etc/default/grub.d/{name}"));
        }
    }
    // Variables carry across drop-ins (update-grub sources them in order); expansion is
    // bounded (`A="$A$A$A$A"` lines would otherwise take gigabytes).
    let mut expander = Expander::default();
    for rel in grub_files {
        let Some(text) = root.read_whole_text(&rel)? else { continue };
        let (vars, mut parse_error) = match parse_shell_vars(&text) {
            Ok(v) => (v, None),
            Err(e) => (parse_env_lenient(&text), Some(e.to_string())),
        };
        let mut cmdline_linux = None;
        let mut cmdline_linux_default = None;
        let cut_before = expander.truncated();
        for (k, v) in vars {
            let expanded = expander.assign(&k, &v);
            if k == "GRUB_CMDLINE_LINUX" {
                cmdline_linux = Some(expanded);
            } else if k == "GRUB_CMDLINE_LINUX_DEFAULT" {
                cmdline_linux_default = Some(expanded);
            }
        }
        if expander.truncated() && !cut_before && parse_error.is_none() {
            parse_error = Some(format!(
                "its variables expand past {} KiB (e.g. A=\"$A$A…\"): the values were cut there",
                MAX_EXPANDED / 1024
            ));
        }
        facts.grub_default.push(GrubDefault {
            file: Root::display(&rel),
            cmdline_linux,
            cmdline_linux_default,
            parse_error,
        });
    }
    facts.kernel_cmdline =
        root.read_whole_text("etc/kernel/cmdline")?.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    for rel in ["boot/grub/grub.cfg", "boot/grub2/grub.cfg"] {
        if let Some(text) = root.read_optional(rel)? {
            let lines = parse_grub_cfg_linux_lines(&text);
            if !lines.is_empty() {
                facts.grub_cfg = lines;
                facts.grub_cfg_file = Some(Root::display(rel));
                break;
            }
        }
    }
    Ok(facts)
}

/// Chooses the kernel that boots next: the default BLS entry's version, else the kernel of
/// the first `grub.cfg` linux line, else the newest installed kernel, else the running one.
pub fn choose_target(kernel: &mut KernelFacts, boot: Option<&BootFacts>) {
    let installed = |r: &str| kernel.installed.iter().any(|k| k.release == r);
    if let Some(b) = boot {
        // The BLS `version` is free text (NixOS writes "Generation 42 …"); trust it only
        // when it names an installed kernel.
        if let Some(id) = &b.default_entry
            && let Some(v) = b.bls.iter().find(|e| &e.id == id).and_then(|e| e.version.clone())
            && (installed(&v) || kernel.installed.is_empty())
        {
            kernel.target = Some(v);
            kernel.target_source = Some(format!("default boot entry {id}"));
            return;
        }
        if let Some((image, _)) = b.grub_cfg.first() {
            let rel = image.rsplit('/').next().unwrap_or("").trim_start_matches("vmlinuz-").to_string();
            if !rel.is_empty() && installed(&rel) {
                kernel.target = Some(rel);
                kernel.target_source = Some("first linux line of grub.cfg".into());
                return;
            }
        }
    }
    if let Some(k) = kernel.installed.first() {
        kernel.target = Some(k.release.clone());
        kernel.target_source = Some("newest kernel in /lib/modules".into());
    } else if let Some(r) = &kernel.running {
        kernel.target = Some(r.clone());
        kernel.target_source = Some("running kernel".into());
    }
}
