//! The target user (whose access to the NPU matters) and the device nodes they need.
//!
//! `/dev/accel/accel0` is char major 261, by default `crw-rw---- root render` (Ubuntu,
//! lemonade#1771); Fedora 44 showed 0666; the xdna-driver package adds a 0666 udev rule
//! (<https://github.com/MicroPerceptron/virtio-accel/issues/81>;
//! <https://github.com/amd/xdna-driver/blob/856409cafc23cee55976ebcaa0a073ab4ec6dfe2/CMake/config/postinst.in>).

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::parse::passwd::{GroupEntry, PasswdEntry, parse_group, parse_passwd};
use crate::root::{Root, RootMode, Stat};

/// The user doctor judges access for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct UserFacts {
    /// User name.
    pub name: String,
    /// How the user was chosen (`--user`, `SUDO_USER`, fixture, the only desktop user…).
    pub source: String,
    /// uid, when the user exists in etc/passwd.
    pub uid: Option<u32>,
    /// Primary gid.
    pub gid: Option<u32>,
    /// (group name, gid) of every group the user is in, primary included.
    pub groups: Vec<(String, u32)>,
    /// Every group in etc/group: (name, gid).
    pub all_groups: Vec<(String, u32)>,
    /// The user exists in etc/passwd.
    pub exists: bool,
}

/// One device node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeInfo {
    /// Host path.
    pub path: String,
    /// stat data.
    pub stat: Option<StatFacts>,
}

/// Serializable stat data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatFacts {
    /// File kind.
    pub kind: String,
    /// Mode bits as octal text.
    pub mode: String,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
}

impl From<Stat> for StatFacts {
    fn from(s: Stat) -> Self {
        StatFacts { kind: s.kind, mode: format!("{:04o}", s.mode), uid: s.uid, gid: s.gid }
    }
}

/// Device nodes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct NodeFacts {
    /// `/dev/accel/accel*`.
    pub accel: Vec<NodeInfo>,
    /// `/dev/dri/renderD*`.
    pub render: Vec<NodeInfo>,
}

/// The root's user and group databases (`etc/passwd`, `etc/group`): the one reader the probes
/// and the steps share. Missing files read as empty.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    /// etc/passwd entries.
    pub passwd: Vec<PasswdEntry>,
    /// etc/group entries.
    pub groups: Vec<GroupEntry>,
}

impl Accounts {
    /// Reads both files through the root.
    pub fn read(root: &Root) -> Result<Self> {
        Ok(Accounts {
            passwd: parse_passwd(&root.read_optional("etc/passwd")?.unwrap_or_default()),
            groups: parse_group(&root.read_optional("etc/group")?.unwrap_or_default()),
        })
    }

    /// A user by name.
    pub fn user(&self, name: &str) -> Option<&PasswdEntry> {
        self.passwd.iter().find(|p| p.name == name)
    }

    /// uid and primary gid of a user, or an error naming the file.
    pub fn ids(&self, name: &str) -> Result<(u32, u32)> {
        self.user(name)
            .map(|p| (p.uid, p.gid))
            .ok_or_else(|| anyhow::anyhow!("user {name} does not exist in {}", Root::display("etc/passwd")))
    }
}

/// Resolves the target user: `--user`, then `SUDO_USER` (live root), then the fixture's
/// user, then the only regular user (uid 1000-59999) in etc/passwd, then the current user.
pub fn probe_users(root: &Root, requested: Option<&str>) -> Result<UserFacts> {
    let Accounts { passwd, groups } = Accounts::read(root)?;
    let humans: Vec<_> = passwd.iter().filter(|p| (1000..60000).contains(&p.uid)).collect();
    let sudo_user = std::env::var("SUDO_USER").ok().filter(|u| !u.is_empty() && u != "root");
    let current = nix::unistd::User::from_uid(nix::unistd::getuid()).ok().flatten().map(|u| u.name);
    let (name, source) = if let Some(u) = requested {
        (u.to_string(), "--user".to_string())
    } else if let (RootMode::Live, Some(u)) = (root.mode(), sudo_user) {
        (u, "SUDO_USER".to_string())
    } else if let Some(u) = root.fixture().and_then(|f| f.user.clone()) {
        (u, "fixture".to_string())
    } else if humans.len() == 1 && root.mode() != RootMode::Live {
        (humans[0].name.clone(), "the only regular user in /etc/passwd".to_string())
    } else if let (RootMode::Live, Some(u)) = (root.mode(), current) {
        (u, "current user".to_string())
    } else if humans.len() == 1 {
        (humans[0].name.clone(), "the only regular user in /etc/passwd".to_string())
    } else {
        ("root".to_string(), "default".to_string())
    };
    let entry = passwd.iter().find(|p| p.name == name);
    let mut facts = UserFacts {
        name: name.clone(),
        source,
        uid: entry.map(|e| e.uid),
        gid: entry.map(|e| e.gid),
        exists: entry.is_some(),
        all_groups: groups.iter().map(|g| (g.name.clone(), g.gid)).collect(),
        groups: Vec::new(),
    };
    for g in &groups {
        if g.members.iter().any(|m| m == &name) || Some(g.gid) == facts.gid {
            facts.groups.push((g.name.clone(), g.gid));
        }
    }
    Ok(facts)
}

/// stat of every accel and render node under the root.
pub fn probe_nodes(root: &Root) -> Result<NodeFacts> {
    let mut facts = NodeFacts::default();
    let mut names: Vec<String> = root.list_dir("dev/accel")?;
    // Fixture nodes may be declared only in metadata.
    if let Some(f) = root.fixture() {
        for key in f.nodes.keys() {
            if let Some(n) = key.strip_prefix("dev/accel/")
                && !names.iter().any(|x| x == n)
            {
                names.push(n.to_string());
            }
        }
    }
    names.sort();
    for n in names.iter().filter(|n| n.starts_with("accel")) {
        let rel = format!("dev/accel/{n}");
        facts.accel.push(NodeInfo { path: Root::display(&rel), stat: root.stat(&rel)?.map(Into::into) });
    }
    for n in root.list_dir("dev/dri")?.iter().filter(|n| n.starts_with("renderD")) {
        let rel = format!("dev/dri/{n}");
        facts.render.push(NodeInfo { path: Root::display(&rel), stat: root.stat(&rel)?.map(Into::into) });
    }
    Ok(facts)
}
