//! `dkms status` output.
//!
//! Formats (<https://github.com/dkms-project/dkms/blob/04154266549a7b3723f8e7a18515b59c34e921b1/dkms.in> `do_status`):
//! dkms ≥ 3: `module/version, kernel, arch: state[ (note)…]`, or `module/version: added`;
//! dkms 2.x: `module, version, kernel, arch: state`. Examples from the field:
//! `xrt-amdxdna/2.23.0, 6.19.10-200.fc43.x86_64, x86_64: installed` (xdna-driver plugin
//! DKMS) and `amdxdna/7.0.0-rc1+git20260310.6b13cb8f4, 6.19.8-1-cachyos, x86_64: installed`
//! (backport `amdxdna-dkms`). `Error!`/`Warning:` and other lines are skipped.

use serde::{Deserialize, Serialize};

/// One line of `dkms status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DkmsEntry {
    /// DKMS module name (`xrt-amdxdna`, `amdxdna`).
    pub module: String,
    /// Module version (`2.23.0`).
    pub version: String,
    /// Kernel release, absent for the `added` state.
    pub kernel: Option<String>,
    /// Architecture, absent for the `added` state.
    pub arch: Option<String>,
    /// `added`, `built`, `installed`, `installed-weak`, `broken`, …
    pub state: String,
    /// Parenthesised notes after the state, e.g. `original_module exists` or
    /// `WARNING! Diff between built and installed module!`.
    pub notes: Vec<String>,
}

fn plausible_name(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c == '!')
}

fn parse_line(line: &str) -> Option<DkmsEntry> {
    let line = line.trim();
    let (head, tail) = line.split_once(':')?;
    let parts: Vec<&str> = head.split(',').map(str::trim).collect();
    let (module, version, rest) = match parts[0].split_once('/') {
        Some((m, v)) => (m, v, &parts[1..]),
        None if parts.len() >= 2 => (parts[0], parts[1], &parts[2..]),
        None => return None,
    };
    if !plausible_name(module) || !plausible_name(version) || rest.len() > 2 {
        return None;
    }
    let kernel = rest.first().map(|s| s.to_string()).filter(|s| !s.is_empty());
    let arch = rest.get(1).map(|s| s.to_string()).filter(|s| !s.is_empty());

    let tail = tail.trim();
    let (state, mut notes_text) = match tail.find('(') {
        Some(i) => (tail[..i].trim(), &tail[i..]),
        None => (tail, ""),
    };
    if state.is_empty() || !state.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let mut notes = Vec::new();
    while let Some(open) = notes_text.find('(') {
        let after = &notes_text[open + 1..];
        match after.find(')') {
            Some(close) => {
                notes.push(after[..close].trim().to_string());
                notes_text = &after[close + 1..];
            }
            None => {
                notes.push(after.trim().to_string());
                break;
            }
        }
    }
    Some(DkmsEntry {
        module: module.to_string(),
        version: version.to_string(),
        kernel,
        arch,
        state: state.to_string(),
        notes,
    })
}

/// Parse `dkms status` output; unparsable lines are skipped.
pub fn parse_dkms_status(s: &str) -> Vec<DkmsEntry> {
    s.lines().filter_map(parse_line).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(
        module: &str,
        version: &str,
        kernel: Option<&str>,
        arch: Option<&str>,
        state: &str,
        notes: &[&str],
    ) -> DkmsEntry {
        DkmsEntry {
            module: module.into(),
            version: version.into(),
            kernel: kernel.map(Into::into),
            arch: arch.map(Into::into),
            state: state.into(),
            notes: notes.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn formats() {
        let cases: &[(&str, Vec<DkmsEntry>)] = &[
            (
                "xrt-amdxdna/2.23.0, 6.19.10-200.fc43.x86_64, x86_64: installed\n",
                vec![e("xrt-amdxdna", "2.23.0", Some("6.19.10-200.fc43.x86_64"), Some("x86_64"), "installed", &[])],
            ),
            (
                "amdxdna/7.0.0-rc1+git20260310.6b13cb8f4, 6.19.8-1-cachyos, x86_64: installed",
                vec![e(
                    "amdxdna",
                    "7.0.0-rc1+git20260310.6b13cb8f4",
                    Some("6.19.8-1-cachyos"),
                    Some("x86_64"),
                    "installed",
                    &[],
                )],
            ),
            ("xrt-amdxdna/2.23.0: added", vec![e("xrt-amdxdna", "2.23.0", None, None, "added", &[])]),
            (
                "amdxdna, 2.19.0, 6.11.0-21-generic, x86_64: installed",
                vec![e("amdxdna", "2.19.0", Some("6.11.0-21-generic"), Some("x86_64"), "installed", &[])],
            ),
            (
                "xrt-amdxdna/2.23.0, 7.0.0-0.rc7.55.fc45.x86_64, x86_64: installed (WARNING! Diff between built and installed module!)\n\
                 amdxdna/2.19.0, 6.14.0-15-generic, x86_64: installed (original_module exists) (WARNING! Missing some built modules!)\n\
                 xrt-amdxdna/2.23.0, 6.17.0-14-generic, x86_64: built",
                vec![
                    e(
                        "xrt-amdxdna",
                        "2.23.0",
                        Some("7.0.0-0.rc7.55.fc45.x86_64"),
                        Some("x86_64"),
                        "installed",
                        &["WARNING! Diff between built and installed module!"],
                    ),
                    e(
                        "amdxdna",
                        "2.19.0",
                        Some("6.14.0-15-generic"),
                        Some("x86_64"),
                        "installed",
                        &["original_module exists", "WARNING! Missing some built modules!"],
                    ),
                    e("xrt-amdxdna", "2.23.0", Some("6.17.0-14-generic"), Some("x86_64"), "built", &[]),
                ],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(&parse_dkms_status(input), want, "input {input:?}");
        }
    }

    #[test]
    fn skipped_and_garbage() {
        for input in [
            "",
            "\n\n",
            "Error! Could not locate dkms.conf file.",
            "Error! The module/version combo: amdxdna-1.0 is not located in the DKMS tree.",
            "Warning: something odd",
            "xrt-amdxdna/2.23.0, 6.19.10, x86_64",
            "xrt-amdxdna/2.23.0:",
            "/: installed",
            "a, b, c, d, e: installed",
            "\u{0}\u{fffd}:(",
            "m/v: installed (unterminated",
        ] {
            let got = parse_dkms_status(input);
            if input.starts_with("m/v") {
                assert_eq!(got[0].notes, vec!["unterminated"]);
            } else {
                assert!(got.is_empty(), "{input:?} -> {got:?}");
            }
        }
    }
}
