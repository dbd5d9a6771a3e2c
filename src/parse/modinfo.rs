//! `modinfo <module>` output.
//!
//! Format (kmod `modinfo`): `key:<spaces>value`, one per line, keys may repeat (`alias`,
//! `parm`, `firmware`); `signature:` hex continues on following indented lines. What the
//! fields tell us (MODULE_VERSION from
//! <https://github.com/amd/xdna-driver/blob/856409cafc23cee55976ebcaa0a073ab4ec6dfe2/CMake/pkg_driver_source.cmake>; a
//! Fedora build in <https://github.com/amd/xdna-driver/issues/1250>; signing in
//! <https://github.com/dkms-project/dkms/blob/04154266549a7b3723f8e7a18515b59c34e921b1/dkms.8.in>): the in-tree driver
//! has **no `version:`**, the
//! xdna-driver DKMS build has `version: 2.23.0_20260407,6fc926d0…` and lives under
//! `extra/` (Fedora) or `updates/dkms/` (Ubuntu); `signer`/`sig_key` show whether a DKMS
//! module was signed with the MOK. `intree: Y` is written by modpost into every module built
//! with the kernel and never into an external build
//! (<https://github.com/torvalds/linux/blob/master/scripts/mod/modpost.c>); `srcversion` (a
//! hash of the sources) exists when the module has a version or the kernel sets
//! CONFIG_MODULE_SRCVERSION_ALL, and equals `/sys/module/<m>/srcversion` of the loaded copy.

use serde::{Deserialize, Serialize};

/// Parsed `modinfo` output.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ModInfo {
    /// `filename:` (path of the `.ko[.xz|.zst]`).
    pub filename: Option<String>,
    /// `version:` (absent for in-tree amdxdna).
    pub version: Option<String>,
    /// `intree: Y` was present: built with the kernel.
    pub intree: bool,
    /// `srcversion:`.
    pub srcversion: Option<String>,
    /// `vermagic:` (kernel release + flags).
    pub vermagic: Option<String>,
    /// `signer:`.
    pub signer: Option<String>,
    /// `sig_key:` (hex with colons).
    pub sig_key: Option<String>,
    /// `sig_hashalgo:`.
    pub sig_hashalgo: Option<String>,
    /// Every field in order, including the ones above; continuation lines are appended
    /// to the previous value without a separator (hex lines end with `:`).
    pub fields: Vec<(String, String)>,
}

fn is_key(k: &str) -> bool {
    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// Parse `modinfo` output. Empty or unrecognised input gives [`ModInfo::default`].
/// The first occurrence of each well-known key wins.
pub fn parse_modinfo(s: &str) -> ModInfo {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in s.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = fields.last_mut() {
                v.push_str(line.trim());
            }
            continue;
        }
        if line.starts_with("modinfo: ") {
            continue; // `modinfo: ERROR: Module amdxdna not found.`
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        if is_key(k) {
            fields.push((k.to_string(), v.trim().to_string()));
        }
    }
    let get = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    ModInfo {
        filename: get("filename"),
        version: get("version"),
        intree: get("intree").is_some_and(|v| v.eq_ignore_ascii_case("y")),
        srcversion: get("srcversion"),
        vermagic: get("vermagic"),
        signer: get("signer"),
        sig_key: get("sig_key"),
        sig_hashalgo: get("sig_hashalgo"),
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// <https://github.com/amd/xdna-driver/issues/1250>: Fedora DKMS build.
    const CASE14: &str = "filename:       /lib/modules/7.0.0-0.rc7.55.fc45.x86_64/extra/amdxdna.ko.xz
description:    amdxdna driver
version:        2.23.0_20260407,6fc926d052d61fc3bc8c0a3a1cc036c22b36c7cf
";

    /// Fedora's in-tree module (the field list of a 7.0.9-205.fc44 `modinfo amdxdna`).
    const INTREE: &str = "filename:       /lib/modules/7.0.9-205.fc44.x86_64/kernel/drivers/accel/amdxdna/amdxdna.ko.xz
firmware:       amdnpu/17f0_11/npu_7.sbin
license:        GPL
depends:        gpu-sched
intree:         Y
name:           amdxdna
vermagic:       7.0.9-205.fc44.x86_64 SMP preempt mod_unload 
";

    const SIGNED: &str = "filename:       /lib/modules/6.17.0-14-generic/updates/dkms/amdxdna.ko.zst
srcversion:     CD1E54156086A2401FAF552
firmware:       amdnpu/17f0_11/npu.sbin
firmware:       amdnpu/17f0_10/npu.sbin
license:        GPL
alias:          pci:v00001022d000017F0sv*sd*bc*sc*i*
depends:        gpu-sched
retpoline:      Y
name:           amdxdna
vermagic:       6.17.0-14-generic SMP preempt mod_unload modversions 
sig_id:         PKCS#7
signer:         DKMS module signing key
sig_key:        4A:1B:0C:11
sig_hashalgo:   sha512
signature:      30:64:02:30:4C:5E:
\t\t9A:7B:
\t\tFF
parm:           aie2_max_col:Maximum column could be used (uint)
";

    #[test]
    fn real_outputs() {
        let m = parse_modinfo(CASE14);
        assert_eq!(m.filename.as_deref(), Some("/lib/modules/7.0.0-0.rc7.55.fc45.x86_64/extra/amdxdna.ko.xz"));
        assert_eq!(m.version.as_deref(), Some("2.23.0_20260407,6fc926d052d61fc3bc8c0a3a1cc036c22b36c7cf"));
        assert_eq!(m.signer, None);
        assert_eq!(m.fields.len(), 3);

        assert!(!m.intree);
        let m = parse_modinfo(INTREE);
        assert!(m.intree);
        assert_eq!(m.version, None);
        assert_eq!(m.srcversion, None);
        let m = parse_modinfo(SIGNED);
        assert_eq!(m.srcversion.as_deref(), Some("CD1E54156086A2401FAF552"));
        assert_eq!(m.version, None);
        assert_eq!(m.vermagic.as_deref(), Some("6.17.0-14-generic SMP preempt mod_unload modversions"));
        assert_eq!(m.signer.as_deref(), Some("DKMS module signing key"));
        assert_eq!(m.sig_key.as_deref(), Some("4A:1B:0C:11"));
        assert_eq!(m.sig_hashalgo.as_deref(), Some("sha512"));
        let sig = m.fields.iter().find(|(k, _)| k == "signature").unwrap();
        assert_eq!(sig.1, "30:64:02:30:4C:5E:9A:7B:FF");
        assert_eq!(m.fields.iter().filter(|(k, _)| k == "firmware").count(), 2);
        let parm = m.fields.iter().find(|(k, _)| k == "parm").unwrap();
        assert_eq!(parm.1, "aie2_max_col:Maximum column could be used (uint)");
    }

    #[test]
    fn garbage() {
        let cases = [
            "",
            "\n",
            "modinfo: ERROR: Module amdxdna not found.\n",
            "\tcontinuation before any key",
            "no colon here",
            "with space: value",
            "\u{0}\u{fffd}:::",
            ":",
        ];
        for input in cases {
            assert_eq!(parse_modinfo(input), ModInfo::default(), "{input:?}");
        }
        assert_eq!(parse_modinfo("filename:").filename.as_deref(), Some(""));
    }
}
