//! Kernel releases, NPU firmware versions and dotted package/tool versions.
//!
//! Sources: kernel milestones (6.10 OOT min,
//! <https://github.com/amd/xdna-driver/blob/856409cafc23cee55976ebcaa0a073ab4ec6dfe2/README.md>; 6.14 merge; 6.17 FLM
//! min, <https://github.com/ROCm/FastFlowLM/blob/8b8399c1f259d31bba2c42c2e3038c2b69856b89/src/src/main.cpp>; 7.0
//! `npu_7.sbin`, <https://github.com/torvalds/linux/blob/v7.0/drivers/accel/amdxdna/aie2_pci.c>); firmware naming
//! (`npu.sbin.1.1.2.65[.xz|.zst]`,
//! <https://github.com/superm1/amdxdna-dkms/tree/bc8437aa9eb3dbf71cfe16de99e6a6aa6e9e7960/firmware/amdnpu>; WHENCE
//! `1.7_npu.sbin.1.1.2.65`,
//! <https://github.com/amd/xdna-driver/blob/856409cafc23cee55976ebcaa0a073ab4ec6dfe2/tools/WHENCE>; dev `255.0.11.71`,
//! <https://github.com/lemonade-sdk/lemonade/issues/1315>); the blob's ASCII `Release x.y.z.w` near offset 0x1d0
//! (<https://github.com/amd/xdna-driver/issues/1250>); `/sys/…/fw_version` is `%d.%d.%d.%d`
//! (<https://github.com/torvalds/linux/blob/v7.0/drivers/accel/amdxdna/amdxdna_sysfs.c>); DKMS module version
//! `2.23.0_20260407,<hash>`
//! (<https://github.com/amd/xdna-driver/blob/856409cafc23cee55976ebcaa0a073ab4ec6dfe2/CMake/pkg_driver_source.cmake>).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A parsed `uname -r`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KernelRelease {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch level (0 when absent, e.g. `6.14-rc3`).
    pub patch: u32,
    /// Release-candidate number (`-rc7`, `0.rc7.55.fc45`, `061000rc2`).
    pub rc: Option<u32>,
    /// The input, trimmed.
    pub raw: String,
}

impl KernelRelease {
    /// True if this kernel is at least `major.minor` (an rc of X.Y counts as X.Y).
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

fn leading_number(s: &str) -> Option<(u32, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    Some((s[..end].parse().ok()?, &s[end..]))
}

/// Parse a kernel release such as `6.19.3-cachyos3.fc43.x86_64`, `7.0.0-0.rc7.55.fc45.x86_64`,
/// `6.14-rc3`, `6.10.0-061000rc2-generic` or `7.1.8-200.fc44.x86_64`.
pub fn parse_kernel_release(s: &str) -> Option<KernelRelease> {
    let raw = s.trim();
    let (major, rest) = leading_number(raw)?;
    let (minor, mut rest) = leading_number(rest.strip_prefix('.')?)?;
    let mut patch = 0;
    if let Some((p, r)) = rest.strip_prefix('.').and_then(leading_number) {
        patch = p;
        rest = r;
    }
    // `rc<digits>` not preceded by a letter (so `…src3` or `-arc1` don't count).
    let lower = rest.to_ascii_lowercase();
    let mut rc = None;
    for (i, _) in lower.match_indices("rc") {
        let prev_alpha = lower[..i].chars().next_back().is_some_and(|c| c.is_ascii_alphabetic());
        if prev_alpha {
            continue;
        }
        if let Some((n, _)) = leading_number(&lower[i + 2..]) {
            rc = Some(n);
            break;
        }
    }
    Some(KernelRelease { major, minor, patch, rc, raw: raw.to_string() })
}

/// NPU firmware version `major.minor.sub.build`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct FwVersion(pub [u32; 4]);

impl fmt::Display for FwVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a}.{b}.{c}.{d}")
    }
}

/// Parse `1.1.2.65` (also 3-part `1.1.2` → `1.1.2.0`). Surrounding whitespace allowed.
pub fn parse_fw_version(s: &str) -> Option<FwVersion> {
    let parts: Vec<&str> = s.trim().split('.').collect();
    if !(3..=4).contains(&parts.len()) {
        return None;
    }
    let mut v = [0u32; 4];
    for (slot, p) in v.iter_mut().zip(&parts) {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = p.parse().ok()?;
    }
    Some(FwVersion(v))
}

/// Version from a firmware file name: `npu.sbin.1.1.2.65.xz`, `npu.sbin.1.0.0.166`,
/// `1.7_npu.sbin.1.1.2.65`, `npu.sbin.255.0.11.71.zst`. Plain `npu.sbin`, `npu_7.sbin.xz`
/// or `npu.dev.sbin` → `None` (resolve the symlink first). A leading directory is ignored.
pub fn fw_version_from_file_name(name: &str) -> Option<FwVersion> {
    let base = name.trim().rsplit('/').next()?;
    let base = [".xz", ".zst", ".gz"].iter().find_map(|ext| base.strip_suffix(ext)).unwrap_or(base);
    let i = base.find(".sbin.")?;
    parse_fw_version(&base[i + ".sbin.".len()..])
}

/// Version from a (decompressed) firmware blob: the first ASCII `Release x.y.z.w` in the
/// first 4 KiB (upstream puts it at ~0x1d0).
pub fn fw_version_from_blob(bytes: &[u8]) -> Option<FwVersion> {
    const NEEDLE: &[u8] = b"Release ";
    let head = &bytes[..bytes.len().min(4096)];
    let mut i = 0;
    while i + NEEDLE.len() <= head.len() {
        if &head[i..i + NEEDLE.len()] == NEEDLE {
            // Read the version from the full buffer so a string straddling 4 KiB still parses.
            let tail = &bytes[i + NEEDLE.len()..];
            let len = tail.iter().take(64).take_while(|b| b.is_ascii_digit() || **b == b'.').count();
            let text = std::str::from_utf8(&tail[..len]).unwrap_or("");
            if let Some(v) = parse_fw_version(text.trim_end_matches('.')) {
                return Some(v);
            }
        }
        i += 1;
    }
    None
}

/// A dotted numeric version (`2.23.0`, `0.9.35`, `10.1.0`). Ordering is lexicographic on
/// the components, so `2.23 < 2.23.0`; compare like with like.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct DottedVersion(pub Vec<u32>);

impl fmt::Display for DottedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u32::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

/// Parse the leading dotted number of `s` (an optional `v` prefix is skipped):
/// `2.23.0_20260407,6fc9…` → `[2,23,0]`, `v10.1.0` → `[10,1,0]`, `2.23-1` → `[2,23]`.
pub fn parse_dotted(s: &str) -> Option<DottedVersion> {
    let s = s.trim();
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let head = &s[..end];
    if !head.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let mut parts = Vec::new();
    for p in head.split('.') {
        if p.is_empty() {
            break; // `2..3` or trailing dot: stop at the gap
        }
        parts.push(p.parse().ok()?);
    }
    Some(DottedVersion(parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (major, minor, patch, rc)
    type Krel = (u32, u32, u32, Option<u32>);

    #[test]
    fn kernel_releases() {
        let cases: &[(&str, Option<Krel>)] = &[
            ("6.19.3-cachyos3.fc43.x86_64", Some((6, 19, 3, None))),
            ("7.0.0-0.rc7.55.fc45.x86_64\n", Some((7, 0, 0, Some(7)))),
            ("6.14-rc3", Some((6, 14, 0, Some(3)))),
            ("6.10.0-061000rc2-generic", Some((6, 10, 0, Some(2)))),
            ("6.17.0-14-generic", Some((6, 17, 0, None))),
            ("7.1.8-200.fc44.x86_64", Some((7, 1, 8, None))),
            ("6.19.8-1-cachyos", Some((6, 19, 8, None))),
            ("7.0.0-rc2", Some((7, 0, 0, Some(2)))),
            ("6.12.9-arch1-1", Some((6, 12, 9, None))),
            ("6.12.9-src3", Some((6, 12, 9, None))),
            ("6.1-rc", Some((6, 1, 0, None))),
            ("6", None),
            ("6.", None),
            ("", None),
            ("linux", None),
            ("99999999999.1", None),
            ("\u{0}\u{fffd}", None),
        ];
        for (input, want) in cases {
            let got = parse_kernel_release(input).map(|k| (k.major, k.minor, k.patch, k.rc));
            assert_eq!(got, *want, "{input:?}");
        }
        assert_eq!(parse_kernel_release(" 6.14-rc3\n").unwrap().raw, "6.14-rc3");
    }

    #[test]
    fn kernel_at_least() {
        let cases = [
            ("7.0.0-0.rc7.55.fc45.x86_64", 7, 0, true),
            ("6.14-rc3", 6, 14, true),
            ("6.19.3-cachyos3.fc43.x86_64", 7, 0, false),
            ("6.17.0-14-generic", 6, 17, true),
            ("6.9.0", 6, 10, false),
            ("7.1.8-200.fc44.x86_64", 6, 17, true),
        ];
        for (input, maj, min, want) in cases {
            assert_eq!(parse_kernel_release(input).unwrap().at_least(maj, min), want, "{input}");
        }
    }

    #[test]
    fn fw_versions() {
        let cases = [
            ("1.1.2.65", Some([1, 1, 2, 65])),
            ("255.0.11.71\n", Some([255, 0, 11, 71])),
            ("1.1.2", Some([1, 1, 2, 0])),
            ("1.1", None),
            ("1.1.2.65.1", None),
            ("1..2.3", None),
            ("1.+1.2.3", None),
            ("a.b.c.d", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_fw_version(input).map(|v| v.0), want, "{input:?}");
        }
        let a = parse_fw_version("1.0.20.31").unwrap();
        let b = parse_fw_version("1.1.0.0").unwrap();
        let c = parse_fw_version("255.0.11.69").unwrap();
        assert!(a < b && b < c);
        assert_eq!(c.to_string(), "255.0.11.69");
    }

    #[test]
    fn fw_file_names() {
        let cases = [
            ("npu.sbin.1.1.2.65.xz", Some([1, 1, 2, 65])),
            ("npu.sbin.1.0.0.166", Some([1, 0, 0, 166])),
            ("1.7_npu.sbin.1.1.2.65", Some([1, 1, 2, 65])),
            ("npu.sbin.255.0.11.71.zst", Some([255, 0, 11, 71])),
            ("/lib/firmware/amdnpu/17f0_10/npu.sbin.1.0.0.63.xz", Some([1, 0, 0, 63])),
            ("1.8_npu.sbin.2.5.0.172", Some([2, 5, 0, 172])),
            ("npu.sbin", None),
            ("npu.sbin.xz", None),
            ("npu_7.sbin.zst", None),
            ("npu.dev.sbin", None),
            ("npu.sbin.1.1.x.65", None),
            ("", None),
            ("\u{fffd}.sbin.", None),
        ];
        for (input, want) in cases {
            assert_eq!(fw_version_from_file_name(input).map(|v| v.0), want, "{input:?}");
        }
    }

    #[test]
    fn fw_blob() {
        // https://github.com/amd/xdna-driver/issues/1250: hexdump of 1502_00/npu.dev.sbin shows the string at 0x1d0.
        let mut blob = vec![0xffu8; 0x1d0];
        blob.extend_from_slice(b"Release 1.5.5.39\0\0garbage");
        let mut late = vec![0u8; 5000];
        late.extend_from_slice(b"Release 1.1.2.65");
        let mut straddle = vec![0u8; 4084];
        straddle.extend_from_slice(b"Release 1.1.2.64\0");
        let cases: &[(&[u8], Option<[u32; 4]>)] = &[
            (&blob, Some([1, 5, 5, 39])),
            (b"xxRelease 9.Release 1.1.2.65.", Some([1, 1, 2, 65])),
            (b"0.206+release", None),
            (&late, None),
            (&straddle, Some([1, 1, 2, 64])),
            (b"", None),
            (b"Release ", None),
            (b"Release 1.", None),
            (&[0xff, 0xfe, 0x00], None),
        ];
        for (input, want) in cases {
            assert_eq!(fw_version_from_blob(input).map(|v| v.0), *want);
        }
    }

    #[test]
    fn dotted() {
        let cases: &[(&str, Option<&[u32]>)] = &[
            ("2.23.0_20260407,6fc926d052d61fc3bc8c0a3a1cc036c22b36c7cf", Some(&[2, 23, 0])),
            ("0.9.35", Some(&[0, 9, 35])),
            ("v10.1.0", Some(&[10, 1, 0])),
            ("2.23-1", Some(&[2, 23])),
            ("7.0.0-rc1+git20260310.6b13cb8f4", Some(&[7, 0, 0])),
            ("2.", Some(&[2])),
            ("1..2", Some(&[1])),
            ("v", None),
            ("", None),
            (".1", None),
            ("99999999999", None),
            ("\u{fffd}", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_dotted(input).map(|d| d.0), want.map(<[u32]>::to_vec), "{input:?}");
        }
        let v = |s| parse_dotted(s).unwrap();
        assert!(v("0.9.35") < v("0.9.43"));
        assert!(v("v10.0.0") < v("10.1.0"));
        assert!(v("2.23") < v("2.23.0"));
        assert!(v("2.9") < v("2.23"));
        assert_eq!(v("v10.1.0").to_string(), "10.1.0");
    }
}
