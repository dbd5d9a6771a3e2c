//! Boot Loader Specification entries (`/boot/loader/entries/*.conf`) and GRUB `grub.cfg`
//! `linux` lines.
//!
//! Fedora keeps kernel arguments in each BLS entry's `options` line, which `grubby
//! --update-kernel=ALL` edits (grubby-bls, <https://src.fedoraproject.org/rpms/grubby>). BLS format (<https://uapi-group.org/specifications/specs/boot_loader_specification/>):
//! one `key value` per line, key and value separated by whitespace, `#` comments;
//! `options` and `initrd` may repeat. Ubuntu's generated `grub.cfg` carries the args on
//! indented `linux` lines inside `menuentry` blocks
//! (<https://www.gnu.org/software/grub/manual/grub/html_node/Simple-configuration.html>).

use serde::{Deserialize, Serialize};

/// One parsed BLS entry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BlsEntry {
    /// `title` line.
    pub title: Option<String>,
    /// `version` line (kernel release on Fedora).
    pub version: Option<String>,
    /// `linux` line (kernel image path).
    pub linux: Option<String>,
    /// `options` line(s); repeated lines are joined with a space as the spec says.
    /// May contain `$kernelopts`-style GRUB variables on older Fedora, kept literally.
    pub options: Option<String>,
    /// Every `initrd` line, in order.
    pub initrd: Vec<String>,
    /// All other keys (`machine-id`, `grub_users`, `grub_arg`, `grub_class`, `id`, …) in order.
    pub other: Vec<(String, String)>,
}

/// Parse one BLS entry file. Never fails; lines without a value get an empty value.
pub fn parse_bls(s: &str) -> BlsEntry {
    let mut e = BlsEntry::default();
    for line in s.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once(char::is_whitespace) {
            Some((k, v)) => (k, v.trim().to_string()),
            None => (line, String::new()),
        };
        match key {
            "title" => e.title = Some(value),
            "version" => e.version = Some(value),
            "linux" => e.linux = Some(value),
            "options" => {
                e.options = Some(match e.options.take() {
                    Some(prev) if !value.is_empty() => format!("{prev} {value}"),
                    Some(prev) => prev,
                    None => value,
                });
            }
            "initrd" => e.initrd.push(value),
            _ => e.other.push((key.to_string(), value)),
        }
    }
    e
}

/// Every `linux`/`linuxefi`/`linux16` command in a GRUB `grub.cfg`, in file order, as
/// (kernel image path, argument string). Indentation is ignored; the args string is kept
/// raw (GRUB variables such as `$vt_handoff` stay literal).
pub fn parse_grub_cfg_linux_lines(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in s.lines() {
        let line = line.trim();
        let Some((cmd, rest)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        if !matches!(cmd, "linux" | "linuxefi" | "linux16") {
            continue;
        }
        let rest = rest.trim();
        let (image, args) = match rest.split_once(char::is_whitespace) {
            Some((i, a)) => (i, a.trim()),
            None => (rest, ""),
        };
        if image.is_empty() {
            continue;
        }
        let image = image.trim_matches(|c| c == '\'' || c == '"');
        out.push((image.to_string(), args.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEDORA_ENTRY: &str = "title Fedora Linux (7.1.8-200.fc44.x86_64) 44 (Workstation Edition)
version 7.1.8-200.fc44.x86_64
linux /vmlinuz-7.1.8-200.fc44.x86_64
initrd /initramfs-7.1.8-200.fc44.x86_64.img
options root=UUID=1234 ro rootflags=subvol=root rhgb quiet amd_iommu=off
grub_users $grub_users
grub_arg --unrestricted
grub_class fedora
";

    #[test]
    fn bls_entries() {
        let e = parse_bls(FEDORA_ENTRY);
        assert_eq!(e.title.as_deref(), Some("Fedora Linux (7.1.8-200.fc44.x86_64) 44 (Workstation Edition)"));
        assert_eq!(e.version.as_deref(), Some("7.1.8-200.fc44.x86_64"));
        assert_eq!(e.linux.as_deref(), Some("/vmlinuz-7.1.8-200.fc44.x86_64"));
        assert_eq!(e.options.as_deref(), Some("root=UUID=1234 ro rootflags=subvol=root rhgb quiet amd_iommu=off"));
        assert_eq!(e.initrd, vec!["/initramfs-7.1.8-200.fc44.x86_64.img"]);
        assert_eq!(e.other.len(), 3);
        assert_eq!(e.other[0], ("grub_users".into(), "$grub_users".into()));

        let cases: &[(&str, BlsEntry)] = &[
            ("", BlsEntry::default()),
            ("# only a comment\n\n", BlsEntry::default()),
            (
                "options a b\noptions\toc\ninitrd /a\ninitrd /b\nlinux",
                BlsEntry {
                    options: Some("a b oc".into()),
                    initrd: vec!["/a".into(), "/b".into()],
                    linux: Some(String::new()),
                    ..Default::default()
                },
            ),
            ("options $kernelopts\n", BlsEntry { options: Some("$kernelopts".into()), ..Default::default() }),
            (
                "\u{0}\u{fffd} \u{1}\ntitl",
                BlsEntry {
                    other: vec![("\u{0}\u{fffd}".into(), "\u{1}".into()), ("titl".into(), String::new())],
                    ..Default::default()
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(&parse_bls(input), want, "input {input:?}");
        }
    }

    const UBUNTU_GRUB_CFG: &str =
        "menuentry 'Ubuntu' --class ubuntu --class gnu-linux $menuentry_id_option 'gnulinux-simple-1234' {
\trecordfail
\tload_video
\tgfxmode $linux_gfx_mode
\tinsmod gzio
\tif [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
\techo\t'Loading Linux 6.17.0-14-generic ...'
        linux\t/boot/vmlinuz-6.17.0-14-generic root=UUID=1234 ro  quiet splash amd_iommu=off $vt_handoff
\tinitrd\t/boot/initrd.img-6.17.0-14-generic
}
submenu 'Advanced options for Ubuntu' $menuentry_id_option 'gnulinux-advanced-1234' {
\tmenuentry 'Ubuntu, with Linux 6.17.0-14-generic (recovery mode)' {
\t\tlinuxefi\t/boot/vmlinuz-6.17.0-14-generic root=UUID=1234 ro recovery nomodeset dis_ucode_ldr
\t}
\tmenuentry 'memtest' {
\t\tlinux16 \"/boot/memtest86+.bin\"
\t}
}
";

    #[test]
    fn grub_cfg_linux_lines() {
        let got = parse_grub_cfg_linux_lines(UBUNTU_GRUB_CFG);
        let want = vec![
            (
                "/boot/vmlinuz-6.17.0-14-generic".to_string(),
                "root=UUID=1234 ro  quiet splash amd_iommu=off $vt_handoff".to_string(),
            ),
            (
                "/boot/vmlinuz-6.17.0-14-generic".to_string(),
                "root=UUID=1234 ro recovery nomodeset dis_ucode_ldr".to_string(),
            ),
            ("/boot/memtest86+.bin".to_string(), String::new()),
        ];
        assert_eq!(got, want);

        for garbage in ["", "linux", "linux   ", "linuxfoo /x", "\u{0}linux /x", "  linux\t\t"] {
            let got = parse_grub_cfg_linux_lines(garbage);
            assert!(got.is_empty(), "{garbage:?} -> {got:?}");
        }
    }
}
