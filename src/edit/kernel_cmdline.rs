//! Editing `/etc/kernel/cmdline`, the command line `kernel-install` writes into new BLS
//! entries / UKIs (falls back to `/proc/cmdline` when absent; kernel-install(8),
//! <https://www.freedesktop.org/software/systemd/man/latest/kernel-install.html>). Fedora's grubby also keeps it in
//! sync (grubby 8.40-64 "Handle updating /etc/kernel/cmdline", <https://src.fedoraproject.org/rpms/grubby>).

use super::kargs::{EditResult, KargEdit, edit_cmdline};

/// Apply `e` to the contents of `/etc/kernel/cmdline`. The file is one line; whether it
/// ends in a newline (`\n` or `\r\n`) is kept as it was. Whitespace (newlines included)
/// separates arguments, so a file split over several lines still edits sensibly.
pub fn edit_kernel_cmdline(text: &str, e: &KargEdit) -> EditResult {
    let body = text.strip_suffix('\n').map(|b| b.strip_suffix('\r').unwrap_or(b)).unwrap_or(text);
    let ending = &text[body.len()..];
    let mut r = edit_cmdline(body, e);
    r.text.push_str(ending);
    r.changed = r.text != text;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_idempotence() {
        let fedora =
            "root=UUID=4d6c1a5e-8f0b-4b8e-9a55-1c2d3e4f5a6b ro rootflags=subvol=root amd_iommu=off rhgb quiet\n";
        let cases: &[(&str, &[&str], &[&str], &str)] = &[
            (
                fedora,
                &["amd_iommu=off", "amd_iommu=pt"],
                &[],
                "root=UUID=4d6c1a5e-8f0b-4b8e-9a55-1c2d3e4f5a6b ro rootflags=subvol=root rhgb quiet\n",
            ),
            ("quiet amd_iommu=off", &["amd_iommu=off"], &[], "quiet"),
            ("quiet amd_iommu=off \n", &["amd_iommu=off"], &[], "quiet \n"),
            ("amd_iommu=off\n", &["amd_iommu=off"], &[], "\n"),
            ("amd_iommu=off\r\n", &["amd_iommu=off"], &["iommu=pt"], "iommu=pt\r\n"),
            ("quiet\n", &[], &["iommu=pt"], "quiet iommu=pt\n"),
            ("", &[], &["iommu=pt"], "iommu=pt"),
            ("quiet\n", &["amd_iommu"], &[], "quiet\n"),
            ("root=/dev/sda1\nquiet amd_iommu=off\n", &["amd_iommu"], &[], "root=/dev/sda1\nquiet\n"),
        ];
        for (input, remove, add, want) in cases {
            let e = KargEdit::of(remove, add);
            let r = edit_kernel_cmdline(input, &e);
            assert_eq!(r.text, *want, "input {input:?}");
            assert_eq!(r.changed, input != want, "input {input:?}");
            assert!(!edit_kernel_cmdline(&r.text, &e).changed, "not idempotent: {input:?}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        let e = KargEdit::of(&["amd_iommu=off"], &["a=\"b"]);
        for input in ["\"", "\n", "\r\n", "\r", "amd_iommu=\"off\n", "\u{0}\u{fffd}é\"\n"] {
            let r = edit_kernel_cmdline(input, &e);
            let _ = edit_kernel_cmdline(&r.text, &e);
        }
    }
}
