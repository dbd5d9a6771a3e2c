//! pam_limits files and memlock values (pam and systemd syntax).
//!
//! Why (<https://github.com/amd/xdna-driver/blob/856409cafc23cee55976ebcaa0a073ab4ec6dfe2/README.md>): BO allocation
//! fails under a low "max locked memory";
//! xdna-driver README recommends `/etc/security/limits.d/99-amdxdna.conf` with
//! `* soft memlock unlimited` / `* hard memlock unlimited`, and on Fedora also a
//! `user@.service` drop-in `LimitMEMLOCK=infinity` (default `ulimit -l` = 8192 KiB).
//! Syntax: limits.conf(5) (`<domain> <type> <item> <value>`, memlock in KiB,
//! `unlimited`/`infinity`/`-1`) and systemd.exec(5) `LimitMEMLOCK=` (bytes, base-1024
//! suffixes, `soft:hard`; `systemctl show` prints bytes or `infinity`).

use serde::{Deserialize, Serialize};

/// One `<domain> <type> <item> <value>` line.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LimitLine {
    /// `*`, a user, `@group`, `%group`, uid range …
    pub domain: String,
    /// `soft`, `hard` or `-` (both).
    pub kind: String,
    /// `memlock`, `nofile`, …
    pub item: String,
    /// Raw value text.
    pub value: String,
}

/// The `pam_limits.so` session lines of one `/etc/pam.d` file, each as its `conf=` argument
/// (None: the default `limits.conf` + `limits.d`). pam.d(5) syntax: `type control module
/// args…`, `-type` for an optional module, a bracketed control may hold spaces; the module is
/// a name or a full path (NixOS writes store paths). With `conf=` pam_limits reads that file
/// only, not `limits.d` (pam_limits(8),
/// <https://github.com/linux-pam/linux-pam/blob/master/modules/pam_limits/pam_limits.8.xml>).
pub fn parse_pam_limits(s: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for line in s.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut rest = line;
        let Some((ty, after)) = rest.split_once(char::is_whitespace) else { continue };
        if !ty.trim_start_matches('-').eq_ignore_ascii_case("session") {
            continue;
        }
        rest = after.trim_start();
        // The control: a word, or `[value=action …]`.
        let after_control = if rest.starts_with('[') {
            rest.split_once(']').map(|(_, r)| r)
        } else {
            rest.split_once(char::is_whitespace).map(|(_, r)| r)
        };
        let mut words = after_control.unwrap_or("").split_whitespace();
        let Some(module) = words.next() else { continue };
        if module.rsplit('/').next() != Some("pam_limits.so") {
            continue;
        }
        out.push(words.find_map(|a| a.strip_prefix("conf=")).map(str::to_string));
    }
    out
}

/// Parse a limits.conf / limits.d file; comments stripped, lines without exactly four
/// fields skipped (pam_limits rejects them too).
pub fn parse_limits_conf(s: &str) -> Vec<LimitLine> {
    s.lines()
        .filter_map(|l| {
            let l = l.split('#').next().unwrap_or("");
            let f: Vec<&str> = l.split_whitespace().collect();
            let [domain, kind, item, value] = f[..] else {
                return None;
            };
            Some(LimitLine {
                domain: domain.to_string(),
                kind: kind.to_string(),
                item: item.to_string(),
                value: value.to_string(),
            })
        })
        .collect()
}

/// A memlock limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Memlock {
    /// No limit (`unlimited`, `infinity`, `-1`, `RLIM_INFINITY`).
    Unlimited,
    /// Limit in KiB.
    KiB(u64),
}

impl Memlock {
    /// True if this limit allows at least `kib` KiB.
    pub fn is_at_least(&self, kib: u64) -> bool {
        match self {
            Memlock::Unlimited => true,
            Memlock::KiB(n) => *n >= kib,
        }
    }
}

/// pam_limits memlock value: `unlimited`/`infinity`/`-1` or an integer in KiB.
pub fn parse_memlock_value(v: &str) -> Option<Memlock> {
    let v = v.trim();
    if ["unlimited", "infinity", "-1"].iter().any(|u| v.eq_ignore_ascii_case(u)) {
        return Some(Memlock::Unlimited);
    }
    v.parse().ok().map(Memlock::KiB)
}

/// systemd `LimitMEMLOCK=` / `systemctl show` value: `infinity`, bytes (`8388608`), base-1024
/// suffixes `K M G T P E` (optionally followed by `B`), or `soft:hard` (soft part taken).
/// Bytes are converted to KiB rounding down; `18446744073709551615` (RLIM_INFINITY) →
/// `Unlimited`.
pub fn parse_systemd_limit(v: &str) -> Option<Memlock> {
    let soft = v.split(':').next()?.trim();
    if soft.eq_ignore_ascii_case("infinity") {
        return Some(Memlock::Unlimited);
    }
    if soft == u64::MAX.to_string() {
        return Some(Memlock::Unlimited);
    }
    let upper = soft.to_ascii_uppercase();
    let body = upper.strip_suffix('B').unwrap_or(&upper);
    let (num, mult): (&str, u64) = match body.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                'P' => 50,
                'E' => 60,
                _ => return None,
            };
            (&body[..i], 1u64 << shift)
        }
        _ => (body, 1),
    };
    let n: u64 = num.trim().parse().ok()?;
    Some(Memlock::KiB(n.checked_mul(mult)? / 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_conf() {
        let text = "# /etc/security/limits.d/99-amdxdna.conf
* soft memlock unlimited
* hard memlock unlimited   # trailing comment
@render  -  memlock  infinity
too few fields
a b c d e
";
        let got = parse_limits_conf(text);
        let want: Vec<(&str, &str, &str, &str)> = vec![
            ("*", "soft", "memlock", "unlimited"),
            ("*", "hard", "memlock", "unlimited"),
            ("@render", "-", "memlock", "infinity"),
        ];
        assert_eq!(got.len(), want.len());
        for (g, (d, k, i, v)) in got.iter().zip(want) {
            assert_eq!((g.domain.as_str(), g.kind.as_str(), g.item.as_str(), g.value.as_str()), (d, k, i, v));
        }
        for g in ["", "#", "\u{0}\u{fffd}", "a b c"] {
            assert!(parse_limits_conf(g).is_empty(), "{g:?}");
        }
    }

    #[test]
    fn pam_values() {
        let cases = [
            ("unlimited", Some(Memlock::Unlimited)),
            ("INFINITY", Some(Memlock::Unlimited)),
            ("-1", Some(Memlock::Unlimited)),
            ("8192", Some(Memlock::KiB(8192))),
            (" 65536\n", Some(Memlock::KiB(65536))),
            ("8M", None),
            ("-2", None),
            ("", None),
            ("\u{fffd}", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_memlock_value(input), want, "{input:?}");
        }
    }

    #[test]
    fn systemd_values() {
        let cases = [
            ("infinity", Some(Memlock::Unlimited)),
            ("8388608", Some(Memlock::KiB(8192))),
            ("8M", Some(Memlock::KiB(8192))),
            ("64K", Some(Memlock::KiB(64))),
            ("1G", Some(Memlock::KiB(1024 * 1024))),
            ("8M:infinity", Some(Memlock::KiB(8192))),
            ("infinity:infinity", Some(Memlock::Unlimited)),
            ("18446744073709551615", Some(Memlock::Unlimited)),
            ("512", Some(Memlock::KiB(0))),
            ("4KB", Some(Memlock::KiB(4))),
            ("16E", None),
            ("8X", None),
            ("", None),
            ("M", None),
            (":", None),
            ("\u{fffd}K", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_systemd_limit(input), want, "{input:?}");
        }
    }

    #[test]
    fn pam_limits_lines_and_their_conf() {
        // NixOS renders security.pam.loginLimits into a store file passed as conf=
        // (https://github.com/NixOS/nixpkgs/blob/408b8b5725c3e6fff75aef772da248d3e95ff414/nixos/modules/security/pam.nix).
        let nixos = "# Account management.\naccount required pam_unix.so # unix (order 10900)\n\
            session required /nix/store/abc-linux-pam-1.6.1/lib/security/pam_limits.so conf=/nix/store/xyz-limits.conf # limits (order 12200)\n";
        assert_eq!(parse_pam_limits(nixos), [Some("/nix/store/xyz-limits.conf".to_string())]);
        let debian = "@include common-session\nsession    required   pam_limits.so\n-session optional pam_systemd.so\n\
            session [success=ok ignore=ignore module_unknown=ignore default=bad] pam_limits.so conf=/etc/x.conf\n\
            #session required pam_limits.so conf=/nope\nauth required pam_limits.so conf=/auth\n";
        assert_eq!(parse_pam_limits(debian), [None, Some("/etc/x.conf".to_string())]);
    }

    #[test]
    fn at_least() {
        let cases = [
            (Memlock::Unlimited, u64::MAX, true),
            (Memlock::KiB(8192), 102_400, false),
            (Memlock::KiB(102_400), 102_400, true),
        ];
        for (m, kib, want) in cases {
            assert_eq!(m.is_at_least(kib), want, "{m:?} {kib}");
        }
    }
}
