//! Pure editors: string in, string out. Each takes a file's current text and returns the new
//! text plus what changed; the install step applies them through `fsx` (read, edit, write
//! only if changed). No I/O here, and nothing here panics on malformed input. Files are
//! edited as bytes: [`bytes`] gives the editors a lossless text view, so bytes that are not
//! UTF-8 survive, and each editor rewrites only the lines it changes.
//!
//! Kernel-argument policy (`npu-setup install --only kargs`): remove `amd_iommu=off` (and
//! the invalid `amd_iommu=pt`) from every boot-configuration layer, optionally add args, and
//! never touch arguments we do not own. `amd_iommu=off` disables the NPU
//! (<https://github.com/lemonade-sdk/lemonade/blob/e385039ed33551de7f54cb73194cd08088772c08/docs/flm_npu_linux.html>);
//! `pt` is no `amd_iommu=` value (<https://github.com/torvalds/linux/blob/v7.0/drivers/iommu/amd/init.c>
//! `parse_amd_iommu_options`).

pub mod bls;
pub mod bytes;
pub mod grub_default;
pub mod json;
pub mod kargs;
pub mod kernel_cmdline;
pub mod managed;

#[cfg(test)]
mod tests {
    use super::kargs::KargEdit;
    use super::*;

    /// Pseudo-random inputs built from troublesome fragments: no editor panics, and every
    /// edit is idempotent (a second run changes nothing).
    #[test]
    fn never_panics_and_idempotent() {
        let frags = [
            "GRUB_CMDLINE_LINUX=",
            "GRUB_CMDLINE_LINUX_DEFAULT=",
            " amd_iommu=off",
            ",off",
            "export ",
            "\n",
            "\"",
            "'",
            "$X",
            "\\",
            "#c",
            " ",
            "\t",
            "\r",
            "iommu=nopt",
            "amd_iommu=pt,fullflush",
            "amd-iommu",
            "=",
            ",",
            "`",
            "options",
            "é",
            "(",
            ")",
            "x=1",
        ];
        let e = KargEdit {
            remove: vec!["amd_iommu=off".into(), "amd_iommu=pt".into()],
            add: vec!["iommu=pt".into(), "x=\"a b\"".into()],
        };
        let mut seed: u64 = 0x5eed;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        for _ in 0..3000 {
            let n = next() % 12 + 1;
            let s: String = (0..n).map(|_| frags[next() % frags.len()]).collect();
            let r = kargs::edit_cmdline(&s, &e);
            assert!(!kargs::edit_cmdline(&r.text, &e).changed, "kargs {s:?}");
            let r = bls::edit_bls_options(&s, &e);
            assert!(!bls::edit_bls_options(&r.text, &e).changed, "bls {s:?}");
            let r = kernel_cmdline::edit_kernel_cmdline(&s, &e);
            assert!(!kernel_cmdline::edit_kernel_cmdline(&r.text, &e).changed, "kernel_cmdline {s:?}");
            if let Ok(r) = grub_default::edit_grub_default(&s, &e) {
                let again = grub_default::edit_grub_default(&r.text, &e);
                assert!(again.is_ok_and(|a| !a.changed), "grub_default {s:?}");
            }
            let _ = managed::is_managed(&s);
        }
    }
}
