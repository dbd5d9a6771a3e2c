//! `/etc/passwd` and `/etc/group` parsing.
//!
//! Used for the `render` group check: `/dev/accel/accel0` is `root:render 0660` by default,
//! and a user outside `render` gets FLM's `No NPU device found`
//! (<https://github.com/lemonade-sdk/lemonade/issues/1771>, <https://github.com/ROCm/FastFlowLM/issues/400>). Formats
//! per passwd(5)/group(5); NIS compat `+`/`-` lines and
//! malformed lines are skipped.

use serde::{Deserialize, Serialize};

/// One `/etc/passwd` line.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PasswdEntry {
    /// Login name.
    pub name: String,
    /// Numeric user id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory.
    pub home: String,
    /// Login shell (may be empty).
    pub shell: String,
}

/// One `/etc/group` line.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GroupEntry {
    /// Group name.
    pub name: String,
    /// Numeric group id.
    pub gid: u32,
    /// Supplementary members (users whose primary group this is are not listed here).
    pub members: Vec<String>,
}

fn usable(line: &str) -> bool {
    !(line.is_empty() || line.starts_with(['#', '+', '-']))
}

/// Parse `/etc/passwd` (`name:pw:uid:gid:gecos:home:shell`).
pub fn parse_passwd(s: &str) -> Vec<PasswdEntry> {
    s.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| usable(l))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let [name, _, uid, gid, _, home, shell] = f[..] else {
                return None;
            };
            (!name.is_empty()).then_some(())?;
            Some(PasswdEntry {
                name: name.to_string(),
                uid: uid.parse().ok()?,
                gid: gid.parse().ok()?,
                home: home.to_string(),
                shell: shell.to_string(),
            })
        })
        .collect()
}

/// Parse `/etc/group` (`name:pw:gid:member,member`).
pub fn parse_group(s: &str) -> Vec<GroupEntry> {
    s.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| usable(l))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let [name, _, gid, members] = f[..] else {
                return None;
            };
            (!name.is_empty()).then_some(())?;
            Some(GroupEntry {
                name: name.to_string(),
                gid: gid.parse().ok()?,
                members: members.split(',').map(str::trim).filter(|m| !m.is_empty()).map(str::to_string).collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd() {
        let text = "root:x:0:0:Super User:/root:/bin/bash
lemonade:x:968:968:Lemonade service:/opt/var/lib/lemonade:/sbin/nologin
alice:x:1000:1000::/home/alice:
+nisuser::::::
-baduser:x:1:1::/:/bin/sh
# comment
broken:x:notanumber:1::/:/bin/sh
short:x:1:1
:x:1:1::/:/bin/sh
";
        let got = parse_passwd(text);
        let names: Vec<&str> = got.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["root", "lemonade", "alice"]);
        assert_eq!(
            got[1],
            PasswdEntry {
                name: "lemonade".into(),
                uid: 968,
                gid: 968,
                home: "/opt/var/lib/lemonade".into(),
                shell: "/sbin/nologin".into(),
            }
        );
        assert_eq!(got[2].shell, "");
        for g in ["", "\n\n", "\u{0}\u{fffd}:::::", "a:b:c:d:e:f:g:h", "x:x:4294967296:0::/:"] {
            assert!(parse_passwd(g).is_empty(), "{g:?}");
        }
    }

    #[test]
    fn group() {
        let text = "render:x:105:alice,lemonade\r\nvideo:x:39:\nwheel:x:10: alice , bob ,\n+:::\nbad:x:y:\nshort:x:1\n";
        let cases: &[(&str, u32, &[&str])] =
            &[("render", 105, &["alice", "lemonade"]), ("video", 39, &[]), ("wheel", 10, &["alice", "bob"])];
        let got = parse_group(text);
        assert_eq!(got.len(), cases.len());
        for ((name, gid, members), g) in cases.iter().zip(&got) {
            assert_eq!(g.name, *name);
            assert_eq!(g.gid, *gid);
            assert_eq!(g.members, *members);
        }
        for g in ["", "\u{0}\u{fffd}", ":x:1:a", "-render:x:105:"] {
            assert!(parse_group(g).is_empty(), "{g:?}");
        }
    }
}
