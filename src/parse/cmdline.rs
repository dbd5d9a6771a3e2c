//! Kernel command line (`/proc/cmdline`, BLS `options`, `/etc/kernel/cmdline`) parsing.
//!
//! Tokenising follows the kernel's own `next_arg()` (`lib/cmdline.c`): arguments are
//! whitespace separated, double quotes group (both `foo="a b"` and `"foo=a b"`), and the
//! first `=` splits key from value. Name matching follows `parameq()` (`kernel/params.c`):
//! `-` and `_` are equivalent, nothing else is. Repeated parameters: the last occurrence
//! wins (`parse_args`, <https://github.com/torvalds/linux/blob/v7.0/kernel/params.c>;
//! <https://github.com/noamsto/nix-amd-ai/issues/49> has `iommu.passthrough=0 … iommu.passthrough=1`).
//! `--` (arguments for init) is not special-cased; it appears as a key `--`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One kernel argument: `key` or `key=value` (quotes removed).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Karg {
    /// Parameter name as written (not normalised).
    pub key: String,
    /// Value after the first `=`; `None` for a bare flag, `Some("")` for `key=`.
    pub value: Option<String>,
}

/// A parsed kernel command line, arguments in order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cmdline {
    /// All arguments in command-line order, duplicates kept.
    pub args: Vec<Karg>,
}

/// Compare two parameter names the way the kernel's `parameq()` does (`-` == `_`).
fn key_eq(a: &str, b: &str) -> bool {
    let norm = |c: char| if c == '-' { '_' } else { c };
    a.chars().map(norm).eq(b.chars().map(norm))
}

/// Parse a kernel command line. Never fails; an unterminated quote runs to the end.
pub fn parse_cmdline(s: &str) -> Cmdline {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_token = false;
    let mut in_quote = false;
    for c in s.chars() {
        if c == '"' {
            in_quote = !in_quote;
            in_token = true;
        } else if c.is_whitespace() && !in_quote {
            if in_token {
                args.push(split_arg(&cur));
                cur.clear();
                in_token = false;
            }
        } else {
            cur.push(c);
            in_token = true;
        }
    }
    if in_token {
        args.push(split_arg(&cur));
    }
    Cmdline { args }
}

fn split_arg(tok: &str) -> Karg {
    match tok.split_once('=') {
        Some((k, v)) => Karg { key: k.to_string(), value: Some(v.to_string()) },
        None => Karg { key: tok.to_string(), value: None },
    }
}

impl Cmdline {
    /// The effective occurrence of `key` (kernel semantics: the last one wins).
    pub fn last(&self, key: &str) -> Option<&Karg> {
        self.args.iter().rev().find(|a| key_eq(&a.key, key))
    }

    /// Every occurrence of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&Karg> {
        self.args.iter().filter(|a| key_eq(&a.key, key)).collect()
    }

    /// True if any occurrence of `key` has `value` (`None` = any value or none).
    pub fn contains(&self, key: &str, value: Option<&str>) -> bool {
        self.args.iter().any(|a| key_eq(&a.key, key) && value.is_none_or(|v| a.value.as_deref() == Some(v)))
    }

    /// Render back to a single line; values containing whitespace are double-quoted.
    pub fn render(&self) -> String {
        self.args.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" ")
    }
}

fn needs_quote(s: &str) -> bool {
    s.chars().any(char::is_whitespace)
}

impl fmt::Display for Karg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key_q = needs_quote(&self.key);
        match &self.value {
            // A key with spaces can only have come from `"a b=c"`: quote the whole arg.
            Some(v) if key_q => write!(f, "\"{}={}\"", self.key, v),
            Some(v) if needs_quote(v) => write!(f, "{}=\"{}\"", self.key, v),
            Some(v) => write!(f, "{}={}", self.key, v),
            None if key_q => write!(f, "\"{}\"", self.key),
            None => f.write_str(&self.key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(key: &str, value: Option<&str>) -> Karg {
        Karg { key: key.into(), value: value.map(Into::into) }
    }

    #[test]
    fn tokenising() {
        let cases: &[(&str, Vec<Karg>)] = &[
            ("", vec![]),
            ("   \n", vec![]),
            (
                "BOOT_IMAGE=(hd0,gpt2)/vmlinuz-7.1.8-200.fc44.x86_64 root=UUID=abc ro rhgb quiet\n",
                vec![
                    k("BOOT_IMAGE", Some("(hd0,gpt2)/vmlinuz-7.1.8-200.fc44.x86_64")),
                    k("root", Some("UUID=abc")),
                    k("ro", None),
                    k("rhgb", None),
                    k("quiet", None),
                ],
            ),
            ("foo=\"a b\" bar", vec![k("foo", Some("a b")), k("bar", None)]),
            ("\"foo=a b\" bar", vec![k("foo", Some("a b")), k("bar", None)]),
            ("x= y", vec![k("x", Some("")), k("y", None)]),
            ("foo=\"unterminated value", vec![k("foo", Some("unterminated value"))]),
            ("\t amd_iommu=off\t", vec![k("amd_iommu", Some("off"))]),
        ];
        for (input, want) in cases {
            assert_eq!(&parse_cmdline(input).args, want, "input {input:?}");
        }
    }

    /// <https://github.com/noamsto/nix-amd-ai/issues/49>: repeated params, last wins.
    #[test]
    fn case19_last_wins() {
        let c = parse_cmdline(
            "init=/nix/store/x/init module.sig_enforce=1 lockdown=confidentiality intel_iommu=on \
             iommu.passthrough=1 iommu.passthrough=0 rd.shell=0 \
             amdgpu.ppfeaturemask=0xffffffff iommu=pt iommu.passthrough=1",
        );
        assert_eq!(c.last("iommu.passthrough").unwrap().value.as_deref(), Some("1"));
        assert_eq!(c.all("iommu.passthrough").len(), 3);
        assert!(c.contains("iommu", Some("pt")));
        assert!(c.contains("iommu.passthrough", Some("0")));
        assert!(c.last("iommu_passthrough").is_none());
        assert!(!c.contains("amd_iommu", None));
    }

    #[test]
    fn dash_underscore_equivalent() {
        let c = parse_cmdline("amd-iommu=off amd_iommu=force_isolation");
        let cases =
            [("amd_iommu", Some("force_isolation")), ("amd-iommu", Some("force_isolation")), ("amd.iommu", None)];
        for (key, want) in cases {
            assert_eq!(c.last(key).and_then(|a| a.value.as_deref()), want, "{key}");
        }
        assert!(c.contains("amd_iommu", Some("off")));
        assert_eq!(c.all("amd_iommu").len(), 2);
    }

    #[test]
    fn render_roundtrip() {
        let cases = [
            ("ro quiet", "ro quiet"),
            ("foo=\"a b\"  bar=1\n", "foo=\"a b\" bar=1"),
            ("\"foo=a b\"", "foo=\"a b\""),
            ("x=", "x="),
            ("", ""),
        ];
        for (input, want) in cases {
            let r = parse_cmdline(input).render();
            assert_eq!(r, want);
            assert_eq!(parse_cmdline(&r), parse_cmdline(input));
        }
        assert_eq!(k("a b", Some("c")).to_string(), "\"a b=c\"");
    }

    #[test]
    fn garbage_never_panics() {
        for input in ["\"", "\"\"\"", "=", "==", "\u{0}\u{fffd}ÿ=é \"", "a=\"b"] {
            let c = parse_cmdline(input);
            let _ = c.render();
            let _ = c.last("a");
        }
        assert_eq!(parse_cmdline("=").args, vec![k("", Some(""))]);
    }
}
