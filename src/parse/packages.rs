//! Package-manager query outputs (rpm, dpkg-query, pacman).
//!
//! Package names that matter
//! (<https://github.com/amd/xdna-driver/blob/856409cafc23cee55976ebcaa0a073ab4ec6dfe2/CMake/pkg.cmake>,
//! <https://github.com/abn/xilinx-xrt-rpm/blob/fa0df01a61804ad904217508b0a7af0e6793392d/xrt.spec>,
//! <https://github.com/ROCm/FastFlowLM/blob/8b8399c1f259d31bba2c42c2e3038c2b69856b89/docs/docs/install_lin.md>): Fedora
//! `xrt-base`, `xrt-npu`,
//! `xrt_plugin-amdxdna` (xdna-driver CPack, underscore) vs `xrt-plugin-amdxdna` (COPR,
//! hyphen), `kernel-devel`, `dkms`; Ubuntu `libxrt-npu2`, `amdxdna-dkms`; Arch `xrt`,
//! `xrt-plugin-amdxdna`, `fastflowlm`. Real installed set from amd/xdna-driver#1250:
//! `xrt-base-2.23.0-1`, `xrt_plugin-amdxdna-2.23-1`.

use serde::{Deserialize, Serialize};

/// Install state of one asked-for package.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PkgState {
    /// The name as asked.
    pub name: String,
    /// Installed version(s) (`ver-rel` for rpm; several joined with `", "`); `None` =
    /// not installed.
    pub version: Option<String>,
}

fn collect(asked: &[&str], found: &[(String, String)], missing: &[String]) -> Vec<PkgState> {
    asked
        .iter()
        .map(|&name| {
            let mut versions: Vec<&str> = Vec::new();
            if !missing.iter().any(|m| m == name) {
                for (n, v) in found {
                    if n == name && !versions.contains(&v.as_str()) {
                        versions.push(v);
                    }
                }
            }
            PkgState { name: name.to_string(), version: (!versions.is_empty()).then(|| versions.join(", ")) }
        })
        .collect()
}

/// Extract `NAME` from a message like `<prefix>NAME<suffix>` (quotes stripped).
fn between(line: &str, prefix: &str, suffix: &str) -> Option<String> {
    let rest = line.trim().strip_prefix(prefix)?;
    let name = rest.strip_suffix(suffix)?.trim().trim_matches('\'');
    (!name.is_empty()).then(|| name.to_string())
}

/// Parse `rpm -q --qf '%{NAME} %{VERSION}-%{RELEASE}\n' names…`. One result per asked
/// name, in asked order; `package NAME is not installed` (printed on stdout) and absence
/// both mean not installed.
pub fn parse_rpm_q(stdout: &str, asked: &[&str]) -> Vec<PkgState> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for line in stdout.lines() {
        if let Some(n) = between(line, "package ", " is not installed") {
            missing.push(n);
            continue;
        }
        let toks: Vec<&str> = line.split_whitespace().collect();
        if let [name, ver] = toks[..] {
            found.push((name.to_string(), ver.to_string()));
        }
    }
    collect(asked, &found, &missing)
}

/// Parse `dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\n' names…`. Only a
/// status starting with `ii` counts as installed (`rc` = removed, config files left).
/// stderr lines `dpkg-query: no packages found matching NAME` mark names as missing.
/// A `:arch` suffix on the package name is ignored when matching.
pub fn parse_dpkg_query(stdout: &str, stderr: &str, asked: &[&str]) -> Vec<PkgState> {
    let mut found = Vec::new();
    for line in stdout.lines() {
        let toks: Vec<&str> = line.split_whitespace().collect();
        if let [name, ver, status] = toks[..]
            && status.starts_with("ii")
        {
            let name = name.split(':').next().unwrap_or(name);
            found.push((name.to_string(), ver.to_string()));
        }
    }
    let missing: Vec<String> =
        stderr.lines().filter_map(|l| between(l, "dpkg-query: no packages found matching ", "")).collect();
    collect(asked, &found, &missing)
}

/// Parse `pacman -Q names…`: stdout `name version`, stderr
/// `error: package 'NAME' was not found`.
pub fn parse_pacman_q(stdout: &str, stderr: &str, asked: &[&str]) -> Vec<PkgState> {
    let mut found = Vec::new();
    for line in stdout.lines() {
        let toks: Vec<&str> = line.split_whitespace().collect();
        if let [name, ver] = toks[..] {
            found.push((name.to_string(), ver.to_string()));
        }
    }
    let missing: Vec<String> = stderr.lines().filter_map(|l| between(l, "error: package ", " was not found")).collect();
    collect(asked, &found, &missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(pairs: &[(&str, Option<&str>)]) -> Vec<PkgState> {
        pairs.iter().map(|(n, v)| PkgState { name: n.to_string(), version: v.map(Into::into) }).collect()
    }

    #[test]
    fn rpm() {
        // Installed set from https://github.com/amd/xdna-driver/issues/1250.
        let out = "xrt-base 2.23.0-1\nxrt-npu 2.23.0-1\nxrt_plugin-amdxdna 2.23-1\n\
                   package xrt-plugin-amdxdna is not installed\n\
                   kernel-devel 7.0.0-0.rc7.55.fc45\nkernel-devel 6.19.10-200.fc43\n";
        let asked = ["xrt-base", "xrt_plugin-amdxdna", "xrt-plugin-amdxdna", "kernel-devel", "dkms"];
        let cases: &[(&str, &[&str], Vec<PkgState>)] = &[
            (
                out,
                &asked,
                st(&[
                    ("xrt-base", Some("2.23.0-1")),
                    ("xrt_plugin-amdxdna", Some("2.23-1")),
                    ("xrt-plugin-amdxdna", None),
                    ("kernel-devel", Some("7.0.0-0.rc7.55.fc45, 6.19.10-200.fc43")),
                    ("dkms", None),
                ]),
            ),
            ("", &["a"], st(&[("a", None)])),
            ("\u{0}\u{fffd}\npackage  is not installed\n", &[], vec![]),
            ("a 1 extra\n", &["a"], st(&[("a", None)])),
        ];
        for (stdout, asked, want) in cases {
            assert_eq!(&parse_rpm_q(stdout, asked), want, "stdout {stdout:?}");
        }
    }

    #[test]
    fn dpkg() {
        let out = "libxrt-npu2 2.21.75-0ubuntu1 ii \namdxdna-dkms 7.0.0-rc1+git20260310.6b13cb8f4-0ubuntu1 rc \n\
                   libfoo:amd64 1.0 ii \nlibfoo:i386 1.0 ii \nbroken 2.0 iF \n";
        let err = "dpkg-query: no packages found matching fastflowlm\n";
        let asked = ["libxrt-npu2", "amdxdna-dkms", "fastflowlm", "libfoo", "broken"];
        let cases: &[(&str, &str, &[&str], Vec<PkgState>)] = &[
            (
                out,
                err,
                &asked,
                st(&[
                    ("libxrt-npu2", Some("2.21.75-0ubuntu1")),
                    ("amdxdna-dkms", None),
                    ("fastflowlm", None),
                    ("libfoo", Some("1.0")),
                    ("broken", None),
                ]),
            ),
            ("", "", &["x"], st(&[("x", None)])),
            ("x 1 ii\n", "dpkg-query: no packages found matching x", &["x"], st(&[("x", None)])),
            ("\u{0} \u{fffd} ii", "\u{1}", &["\u{0}"], st(&[("\u{0}", Some("\u{fffd}"))])),
        ];
        for (stdout, stderr, asked, want) in cases {
            assert_eq!(&parse_dpkg_query(stdout, stderr, asked), want, "stdout {stdout:?}");
        }
    }

    #[test]
    fn pacman() {
        let cases: &[(&str, &str, &[&str], Vec<PkgState>)] = &[
            (
                "xrt 2.21.75-1\nxrt-plugin-amdxdna 2.21.75-2\n",
                "error: package 'fastflowlm' was not found\n",
                &["xrt", "fastflowlm", "xrt-plugin-amdxdna"],
                st(&[("xrt", Some("2.21.75-1")), ("fastflowlm", None), ("xrt-plugin-amdxdna", Some("2.21.75-2"))]),
            ),
            ("", "error: package '' was not found", &["a"], st(&[("a", None)])),
            ("garbage line with words\n", "", &["garbage"], st(&[("garbage", None)])),
        ];
        for (stdout, stderr, asked, want) in cases {
            assert_eq!(&parse_pacman_q(stdout, stderr, asked), want, "stdout {stdout:?}");
        }
    }
}
