//! `mokutil --sb-state`, `mokutil --list-enrolled` and the efivarfs `SecureBoot` variable.
//!
//! Why (<https://github.com/dkms-project/dkms/blob/04154266549a7b3723f8e7a18515b59c34e921b1/dkms.8.in>,
//! <https://github.com/saidsay-so/acpi_ec/issues/18>): with Secure Boot on, a DKMS `amdxdna` signed by an un-enrolled
//! MOK fails with `Key was rejected by service`; the check compares `modinfo`'s `sig_key`
//! with the enrolled keys' Subject Key Identifiers. The efivarfs file
//! `/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c` is 4
//! attribute bytes followed by one data byte (kernel Documentation/filesystems/efivarfs.rst).

use serde::{Deserialize, Serialize};

/// Secure Boot state from `mokutil --sb-state` output. `SecureBoot enabled` → `true`
/// (also when followed by `SecureBoot validation is disabled in shim`); `SecureBoot
/// disabled`, `This system doesn't support Secure Boot` and `EFI variables are not
/// supported on this system` (legacy BIOS boot) → `false`; anything else → `None`.
pub fn parse_sb_state(s: &str) -> Option<bool> {
    for line in s.lines() {
        let l = line.trim();
        if l.starts_with("SecureBoot enabled") {
            return Some(true);
        }
        if l.starts_with("SecureBoot disabled")
            || l.contains("doesn't support Secure Boot")
            || l.contains("EFI variables are not supported")
        {
            return Some(false);
        }
    }
    None
}

/// One `[key N]` block of `mokutil --list-enrolled`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EnrolledKey {
    /// `SHA1 Fingerprint:`, lowercase hex with colons.
    pub sha1: Option<String>,
    /// Certificate subject (`CN=…`).
    pub subject: Option<String>,
    /// X509v3 Subject Key Identifier, lowercase hex with colons (comparable with
    /// `modinfo`'s `sig_key` after [`normalize_hex`]).
    pub skid: Option<String>,
}

/// Normalise hex like `FD:E3:25` / `fde325` / `fd e3 25` to `fd:e3:25`. `None` if the text
/// has no hex digits, an odd number of them, or non-hex characters other than `:`/space.
pub fn normalize_hex(s: &str) -> Option<String> {
    let s = s.trim();
    if s.chars().any(|c| !(c.is_ascii_hexdigit() || c == ':' || c == ' ')) {
        return None;
    }
    let digits: Vec<char> = s.chars().filter(char::is_ascii_hexdigit).map(|c| c.to_ascii_lowercase()).collect();
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return None;
    }
    Some(digits.chunks(2).map(|p| p.iter().collect::<String>()).collect::<Vec<_>>().join(":"))
}

/// Parse `mokutil --list-enrolled` into one entry per `[key N]` block.
pub fn parse_list_enrolled(s: &str) -> Vec<EnrolledKey> {
    let mut out: Vec<EnrolledKey> = Vec::new();
    let mut want_skid = false;
    for line in s.lines() {
        let l = line.trim();
        if l.starts_with("[key ") && l.ends_with(']') {
            out.push(EnrolledKey::default());
            want_skid = false;
            continue;
        }
        let Some(cur) = out.last_mut() else { continue };
        if want_skid {
            if l.is_empty() {
                continue;
            }
            want_skid = false;
            if cur.skid.is_none() {
                cur.skid = normalize_hex(l.trim_start_matches("keyid:"));
            }
            continue;
        }
        if let Some(v) = l.strip_prefix("SHA1 Fingerprint:") {
            cur.sha1 = normalize_hex(v);
        } else if let Some(v) = l.strip_prefix("Subject:") {
            if cur.subject.is_none() {
                cur.subject = Some(v.trim().to_string());
            }
        } else if let Some(v) = l.strip_prefix("X509v3 Subject Key Identifier:") {
            match normalize_hex(v) {
                Some(h) => cur.skid = Some(h),
                None => want_skid = true,
            }
        }
    }
    out
}

/// Secure Boot state from the raw efivarfs `SecureBoot-…` file (exactly 5 bytes: 4
/// attribute bytes, then 1 = enabled / 0 = disabled). Anything else → `None`.
pub fn efivar_secure_boot(bytes: &[u8]) -> Option<bool> {
    match bytes {
        [_, _, _, _, 1] => Some(true),
        [_, _, _, _, 0] => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sb_state() {
        let cases = [
            ("SecureBoot enabled\n", Some(true)),
            ("SecureBoot enabled\nSecureBoot validation is disabled in shim\n", Some(true)),
            ("SecureBoot disabled\n", Some(false)),
            ("SecureBoot disabled\nPlatform is in Setup Mode\n", Some(false)),
            ("This system doesn't support Secure Boot\n", Some(false)),
            ("EFI variables are not supported on this system\n", Some(false)),
            ("", None),
            ("mokutil: command not found", None),
            ("\u{0}\u{fffd}", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_sb_state(input), want, "{input:?}");
        }
    }

    const ENROLLED: &str = "[key 1]
SHA1 Fingerprint: 76:A0:92:06:58:00:BF:37:69:01:C3:72:CD:55:A9:0E:1F:DE:D2:E0
Certificate:
    Data:
        Version: 3 (0x2)
        Issuer: CN=Fedora Secure Boot CA
        Subject: CN=Fedora Secure Boot CA
        Subject Public Key Info:
            Public Key Algorithm: rsaEncryption
        X509v3 extensions:
            X509v3 Subject Key Identifier: 
                FD:E3:25:99:C2:D6:1D:B1:BF:58:07:33:5D:7B:20:E4:CD:96:3E:FD
            X509v3 Authority Key Identifier: 
                keyid:FD:E3:25:99:C2:D6:1D:B1:BF:58:07:33:5D:7B:20:E4:CD:96:3E:FD
[key 2]
SHA1 Fingerprint: aa:bb:cc:dd
Certificate:
        Subject: CN=DKMS module signing key
            X509v3 Subject Key Identifier: 4A:1B:0C:11
";

    #[test]
    fn list_enrolled() {
        let got = parse_list_enrolled(ENROLLED);
        let want = vec![
            EnrolledKey {
                sha1: Some("76:a0:92:06:58:00:bf:37:69:01:c3:72:cd:55:a9:0e:1f:de:d2:e0".into()),
                subject: Some("CN=Fedora Secure Boot CA".into()),
                skid: Some("fd:e3:25:99:c2:d6:1d:b1:bf:58:07:33:5d:7b:20:e4:cd:96:3e:fd".into()),
            },
            EnrolledKey {
                sha1: Some("aa:bb:cc:dd".into()),
                subject: Some("CN=DKMS module signing key".into()),
                skid: Some("4a:1b:0c:11".into()),
            },
        ];
        assert_eq!(got, want);

        let cases: &[(&str, usize)] = &[
            ("", 0),
            ("MokListRT is empty\n", 0),
            ("SHA1 Fingerprint: aa\n", 0),
            ("[key 1]\nX509v3 Subject Key Identifier:", 1),
            ("[key 1]\n\u{0}\u{fffd}\nSubject:", 1),
        ];
        for (input, n) in cases {
            assert_eq!(parse_list_enrolled(input).len(), *n, "{input:?}");
        }
        let truncated = parse_list_enrolled("[key 1]\nX509v3 Subject Key Identifier:\n  zz:yy\n");
        assert_eq!(truncated[0].skid, None);
    }

    #[test]
    fn hex() {
        let cases = [
            ("FD:E3:25", Some("fd:e3:25")),
            (" fde325 ", Some("fd:e3:25")),
            ("abc", None),
            ("", None),
            ("keyid:ab", None),
            ("é", None),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_hex(input).as_deref(), want, "{input:?}");
        }
    }

    #[test]
    fn efivar() {
        let cases: &[(&[u8], Option<bool>)] = &[
            (&[0x06, 0, 0, 0, 1], Some(true)),
            (&[0x06, 0, 0, 0, 0], Some(false)),
            (&[0x06, 0, 0, 0, 2], None),
            (&[0x06, 0, 0, 0], None),
            (&[], None),
            (&[0x06, 0, 0, 0, 1, 0], None),
        ];
        for (input, want) in cases {
            assert_eq!(efivar_secure_boot(input), *want, "{input:?}");
        }
    }
}
